"""Figures for looking inside the network: the Weights, Gradients and Activations pages.

Plain functions: arrays in, ``plotly.graph_objects.Figure`` out (no Streamlit here), so
each is tested directly. The NumPy analysis they draw (unit orderings, templates,
saliency, contributions, gradient health, histograms) lives in ``nn/analysis.py``.

Colour logic shared by every weight / gradient map: a diverging, colour-blind-safe
scale (ColorBrewer RdBu, blue = negative, white = 0, red = positive) over a range
symmetric around 0, ``[-zmax, zmax]``; by default ``zmax`` is the 99.5th percentile
of ``|values|`` (see ``nn.analysis.symmetric_zmax``) so a few outliers saturate rather
than washing everything else out. Pass ``zmax=`` to share one range between figures
(e.g. ``ui.figures.tiles.replay_zmax(history.snapshots)`` for an epoch replay).

The weight grid (:func:`weight_grid_figure`) draws every unit's 28 x 28 incoming weights
as tiles of one picture with 1-pixel gaps, in one of two encodings:

- ``"heatmap"`` (small grids): a single ``go.Heatmap`` of the exact float32 values, NaN
  in the gaps, hover showing unit, pixel (row, col) and value.
- ``"image"`` (big grids): the tiles as one palette PNG (``go.Image`` with a data URI),
  colours quantised to at most 255 levels and fewer if needed to stay within the
  payload budget; hover names the unit under the pointer (and its norm) through a
  transparent one-cell-per-unit heatmap on top. Per-pixel values for a chosen unit
  come from :func:`unit_detail_figure`.

``mode="auto"`` picks the heatmap when its estimated JSON size fits the budget
(:func:`payload_budget`: 150 KiB up to 128 units, 400 KiB above), else the image.
Both share grid coordinates (x = column, y = row, row 0 at the top), and the tiling is
stored in ``fig.layout.meta["grid"]``: :func:`grid_layout_of` turns it back into a
``GridLayout`` whose ``unit_at(x, y)`` maps a click to the unit.
"""

from __future__ import annotations

import base64
import math
import struct
import textwrap
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nn.analysis import (
    EXPLODING_GRADIENT,
    HEALTHY_UPDATE_RATIO,
    VANISHING_GRADIENT,
    layer_histograms,
    layer_labels,
    symmetric_zmax,
)
from ui.figures.tiles import IMAGE_SIDE, GridLayout, default_columns, filter_tiles, tile_grid, tile_maps

KIB = 1024

# ColorBrewer RdBu (colour-blind safe), reversed: negative blue, zero white, positive red.
DIVERGING = [
    [0.0, "#053061"], [0.1, "#2166ac"], [0.2, "#4393c3"], [0.3, "#92c5de"], [0.4, "#d1e5f0"],
    [0.5, "#f7f7f7"], [0.6, "#fddbc7"], [0.7, "#f4a582"], [0.8, "#d6604d"], [0.9, "#b2182b"],
    [1.0, "#67001f"],
]
# For projectors, which wash out pale tints: colours saturate sooner on both sides.
DIVERGING_PROJECTOR = [
    [0.0, "#053061"], [0.2, "#2166ac"], [0.38, "#4393c3"], [0.5, "#ffffff"], [0.62, "#d6604d"],
    [0.8, "#b2182b"], [1.0, "#67001f"],
]
GREYS = [[0.0, "#ffffff"], [1.0, "#000000"]]  # MNIST ink: 0 = paper, 1 = ink
SEQUENTIAL = "Viridis"
# Okabe-Ito: a qualitative palette that stays distinct under colour-vision deficiencies.
LAYER_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
HIGHLIGHT = "#D55E00"
MUTED = "#8DA0B6"
GAP_COLOR = "#8c8c8c"  # tile gaps and empty slots
VANISHING_FILL = "rgba(86, 180, 233, 0.18)"
EXPLODING_FILL = "rgba(213, 94, 0, 0.15)"

IMAGE_LEVELS = (255, 191, 127, 95, 63, 47, 31, 23, 15)  # colours tried for a PNG, finest first


def payload_budget(n_units: int) -> int:
    """Bytes a weight grid may send to the browser: 150 KiB up to 128 units, else 400 KiB."""
    return 150 * KIB if n_units <= 128 else 400 * KIB


def _fonts(projector: bool) -> dict:
    return dict(size=18 if projector else 13)


def _diverging(projector: bool):
    return DIVERGING_PROJECTOR if projector else DIVERGING


def _class_names(n: int, class_names=None) -> list[str]:
    return [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(n)]


def _class_noun(names: Sequence[str]) -> str:
    """"digit" for 0-9 (and unnamed classes), "letter" when all are letters, else "character"."""
    if all(n.isdigit() for n in names):
        return "digit"
    return "letter" if all(len(n) == 1 and n.isalpha() for n in names) else "character"


def _hide_axes(fig: go.Figure, row=None, col=None) -> None:
    kw = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", showline=False)
    fig.update_xaxes(**kw, row=row, col=col)
    fig.update_yaxes(**kw, row=row, col=col)


# ---------------------------------------------------------------------------
# Palette PNG encoding (no Pillow needed)
# ---------------------------------------------------------------------------


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i : i + 2], 16) for i in (0, 2, 4))


def sample_colors(colorscale, positions) -> np.ndarray:
    """RGB (n, 3) uint8 of a ``[[pos, "#rrggbb"], ...]`` colour scale at ``positions`` in [0, 1].

    Linear interpolation in RGB, as Plotly does, so the PNG grid and a heatmap of the
    same values show the same colours.
    """
    stops = np.array([float(p) for p, _ in colorscale])
    rgb = np.array([_hex_to_rgb(c) for _, c in colorscale], dtype=np.float64)
    positions = np.clip(np.asarray(positions, dtype=np.float64), 0, 1)
    out = np.stack([np.interp(positions, stops, rgb[:, k]) for k in range(3)], axis=-1)
    return np.rint(out).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def palette_png(indices: np.ndarray, palette: np.ndarray, transparent: int | None = None) -> bytes:
    """An 8-bit palette PNG of ``indices`` (H, W) uint8 with ``palette`` (k, 3) uint8.

    ``transparent``: a palette index drawn fully transparent (the tile gaps).
    """
    height, width = indices.shape
    raw = np.zeros((height, width + 1), dtype=np.uint8)  # filter byte 0 per row
    raw[:, 1:] = indices
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", header), _png_chunk(b"PLTE", palette.astype(np.uint8).tobytes())]
    if transparent is not None:
        alpha = np.full(transparent + 1, 255, dtype=np.uint8)
        alpha[transparent] = 0
        chunks.append(_png_chunk(b"tRNS", alpha.tobytes()))
    chunks.append(_png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 9)))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def quantize(grid: np.ndarray, zmax: float, levels: int) -> np.ndarray:
    """Palette indices (uint8) for ``grid``: ``-zmax -> 0``, ``0 -> levels // 2``,
    ``zmax -> levels - 1`` (values beyond are clipped); NaN -> ``levels`` (the gap)."""
    nan = np.isnan(grid)
    scaled = (np.nan_to_num(grid, nan=0.0) / zmax + 1) * ((levels - 1) / 2)
    indices = np.rint(np.clip(scaled, 0, levels - 1)).astype(np.uint8)
    indices[nan] = levels
    return indices


def dequantize(indices: np.ndarray, zmax: float, levels: int) -> np.ndarray:
    """The value each palette index stands for (NaN for the gap index)."""
    values = (indices.astype(np.float64) / ((levels - 1) / 2) - 1) * zmax
    values[indices >= levels] = np.nan
    return values


def _grid_png_uri(grid: np.ndarray, zmax: float, levels: int, colorscale) -> str:
    palette = sample_colors(colorscale, np.linspace(0, 1, levels))
    palette = np.vstack([palette, _hex_to_rgb(GAP_COLOR)])  # index `levels`: the gap
    png = palette_png(quantize(grid, zmax, levels), palette, transparent=levels)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---------------------------------------------------------------------------
# Weights page
# ---------------------------------------------------------------------------


def _grid_height(shape: tuple[int, int], width: int = 900, top: int = 60) -> int:
    height, grid_width = shape
    return int(min(1000, max(220, width * height / grid_width + top + 20)))


def _heatmap_bytes(cells: int, n_units: int) -> int:
    """Estimated JSON size of the heatmap encoding: float32 z + small-int customdata, base64."""
    custom = 3 if n_units <= 255 else 6
    # base64 (4/3), plus Plotly escaping each "/" (1 in 64 characters) as 6 characters.
    return int((4 + custom) * cells * 4 / 3 * (1 + 5 / 64)) + 10 * KIB


def weight_grid_figure(
    values,
    order=None,
    columns: int | None = None,
    *,
    unit_ids=None,
    zmax: float | None = None,
    percentile: float = 99.5,
    title: str | None = None,
    value_name: str = "w",
    unit_name: str = "unit",
    selected: int | None = None,
    tile_labels: Sequence[str] | None = None,
    mode: str = "auto",
    max_bytes: int | None = None,
    projector: bool = False,
    height: int | None = None,
) -> go.Figure:
    """Every unit's 28 x 28 incoming weights, tiled into one figure.

    values: ``(784, n_units)``, e.g. ``network.weights[0]``, a snapshot's
        ``weights[0]``, or the first-layer gradient ``history.last_grad_weights[0]``.
    order: columns to show, in slot order (``nn.analysis.unit_order``); default all by index.
    columns: tiles per row (default ``ui.figures.tiles.default_columns``: ~1.6 x wider than tall).
    unit_ids: the id shown for each column of ``values`` (default its index), for a
        subset of units such as the top contributors.
    zmax: colour range ``[-zmax, zmax]``; default the ``percentile`` of ``|values|``.
    value_name: what a value is called in hover and colour bar ("w", "dJ/dw").
    selected: a unit id to outline.
    tile_labels: text drawn in each tile's corner, per slot (e.g. class names).
    mode: "heatmap", "image" or "auto" (see the module docstring).
    max_bytes: payload budget for "auto" and for the image's colour levels
        (default :func:`payload_budget`).
    projector: larger fonts, a higher-contrast scale, a thicker outline.

    The figure's ``layout.meta["grid"]`` holds the tiling, ``zmax``, the mode and (image
    mode) the colour levels; :func:`grid_layout_of` / :func:`grid_values_of` read it back.
    """
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[0] != IMAGE_SIDE * IMAGE_SIDE:
        raise ValueError(f"expected values of shape (784, n_units), got {values.shape}")
    n_columns = values.shape[1]
    ids = np.arange(n_columns) if unit_ids is None else np.asarray(unit_ids, dtype=np.int64)
    if ids.shape != (n_columns,):
        raise ValueError(f"unit_ids must have {n_columns} entries, got shape {ids.shape}")
    grid, slots = tile_grid(values, order, columns)
    layout = GridLayout(ids[slots.order], slots.columns)
    shown = values[:, slots.order]
    if zmax is None:
        zmax = symmetric_zmax(shown, percentile)
    zmax = float(zmax)
    budget = int(max_bytes or payload_budget(layout.n_tiles))
    if mode == "auto":
        mode = "heatmap" if _heatmap_bytes(grid.size, int(ids.max(initial=0)) + 1) <= budget else "image"
    if mode not in ("heatmap", "image"):
        raise ValueError(f"mode must be 'auto', 'heatmap' or 'image', got {mode!r}")
    colorscale = _diverging(projector)
    font = _fonts(projector)
    colorbar = dict(title=dict(text=value_name), thickness=14 if not projector else 22,
                    tickfont=font, len=0.9)
    meta_grid = {**layout.to_dict(), "zmax": zmax, "mode": mode, "value_name": value_name}

    fig = go.Figure()
    if mode == "heatmap":
        height_px, width_px = grid.shape
        cell_dtype = np.uint8 if layout.order.max(initial=0) <= 255 else np.uint16
        rows = np.arange(height_px)
        cols = np.arange(width_px)
        slot = (rows // layout.pitch)[:, None] * layout.columns + (cols // layout.pitch)[None, :]
        unit_of_slot = np.zeros(layout.rows * layout.columns, dtype=np.int64)
        unit_of_slot[: layout.n_tiles] = layout.order
        custom = np.empty((height_px, width_px, 3), dtype=cell_dtype)
        custom[:, :, 0] = unit_of_slot[slot]
        custom[:, :, 1] = (rows % layout.pitch)[:, None]
        custom[:, :, 2] = (cols % layout.pitch)[None, :]
        fig.add_trace(go.Heatmap(
            z=grid.astype(np.float32), x0=0, dx=1, y0=0, dy=1, customdata=custom,
            zmin=-zmax, zmax=zmax, colorscale=colorscale, colorbar=colorbar, hoverongaps=False,
            hovertemplate=(f"{unit_name} %{{customdata[0]}}<br>pixel (row %{{customdata[1]}}, "
                           f"col %{{customdata[2]}})<br>{value_name} = %{{z:.4g}}<extra></extra>"),
        ))
    else:
        fig.add_trace(go.Image(source="", x0=0, dx=1, y0=0, dy=1, hoverinfo="skip"))
        # One transparent cell per tile: hover names the unit (and its norm), clicks land on it.
        per_slot = np.full(layout.rows * layout.columns, np.nan, dtype=np.float32)
        per_slot[: layout.n_tiles] = np.linalg.norm(shown.astype(np.float64), axis=0)
        slot_ids = np.zeros(layout.rows * layout.columns, dtype=np.int64)
        slot_ids[: layout.n_tiles] = layout.order
        id_dtype = np.uint16 if slot_ids.max(initial=0) < 65536 else np.uint32
        half = layout.pitch / 2 - 0.5
        fig.add_trace(go.Heatmap(
            z=per_slot.reshape(layout.rows, layout.columns),
            customdata=slot_ids.reshape(layout.rows, layout.columns).astype(id_dtype),
            x0=half, dx=layout.pitch, y0=half, dy=layout.pitch, opacity=0, showscale=False,
            hoverongaps=False, colorscale=[[0, "#000000"], [1, "#000000"]],
            hovertemplate=(f"{unit_name} %{{customdata}}<br>‖{value_name}‖ = %{{z:.3g}}"
                           "<br>(pick it to see every pixel's value)<extra></extra>"),
        ))
        fig.add_trace(go.Scatter(  # carries the colour bar (an image has none)
            x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
            marker=dict(color=[0.0], cmin=-zmax, cmax=zmax, colorscale=colorscale,
                        showscale=True, colorbar=colorbar),
        ))
    _layout_grid(fig, grid.shape, title, font, height)
    if tile_labels is not None:
        for slot, label in enumerate(list(tile_labels)[: layout.n_tiles]):
            r, c = layout.slot_origin(slot)
            fig.add_annotation(x=c + 0.5, y=r + 0.5, text=str(label), showarrow=False,
                               xanchor="left", yanchor="top", font=dict(size=font["size"] + 1),
                               bgcolor="rgba(255,255,255,0.75)", borderpad=1)
    if selected is not None:
        slot = layout.slot_of_unit(int(selected))
        if slot is not None:
            r, c = layout.slot_origin(slot)
            fig.add_shape(type="rect", x0=c - 0.5, x1=c + layout.tile - 0.5, y0=r - 0.5,
                          y1=r + layout.tile - 0.5, line=dict(color="#000000", width=4 if projector else 2.5))
    fig.update_layout(meta={"grid": meta_grid})
    if mode == "image":
        meta_grid["levels"] = _fit_image(fig, 0, grid, zmax, colorscale, budget)
        fig.update_layout(meta={"grid": meta_grid})
    return fig


def _fit_image(fig: go.Figure, trace: int, grid: np.ndarray, zmax: float, colorscale, budget: int) -> int:
    """Put ``grid`` into image trace ``trace`` as a PNG with the most colour levels (of
    :data:`IMAGE_LEVELS`) whose whole figure stays within ``budget`` bytes of JSON, measured
    on the real ``to_json()`` (Plotly writes each "/" of base64 as 6 characters, so
    estimates run short). Returns the levels used; the coarsest if none fits."""
    uris: dict[int, str] = {}

    def fits(levels: int) -> bool:
        uris[levels] = _grid_png_uri(grid, zmax, levels, colorscale)
        fig.data[trace].source = uris[levels]
        return len(fig.to_json()) + 64 <= budget

    # The size grows with the levels: binary search for the finest that fits.
    if fits(IMAGE_LEVELS[0]):
        return IMAGE_LEVELS[0]
    best, low, high = IMAGE_LEVELS[-1], 1, len(IMAGE_LEVELS) - 1  # indices into IMAGE_LEVELS
    while low <= high:
        middle = (low + high) // 2
        if fits(IMAGE_LEVELS[middle]):
            best, high = IMAGE_LEVELS[middle], middle - 1
        else:
            low = middle + 1
    if best not in uris:
        uris[best] = _grid_png_uri(grid, zmax, best, colorscale)
    fig.data[trace].source = uris[best]
    return best


def _layout_grid(fig: go.Figure, shape, title, font, height) -> None:
    height_px, width_px = shape
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=font["size"] + 3)) if title else None,
        height=height or _grid_height(shape, top=60 if title else 20),
        margin=dict(l=4, r=4, t=50 if title else 8, b=4),
        plot_bgcolor=GAP_COLOR,
        font=font,
        hoverlabel=dict(font=font),
        dragmode=False,
    )
    fig.update_xaxes(range=[-0.5, width_px - 0.5], constrain="domain")
    fig.update_yaxes(range=[height_px - 0.5, -0.5], scaleanchor="x", scaleratio=1, constrain="domain")
    _hide_axes(fig)


def grid_layout_of(fig: go.Figure) -> GridLayout:
    """The tiling of a :func:`weight_grid_figure`: ``grid_layout_of(fig).unit_at(x, y)``."""
    meta = fig.layout.meta
    if not isinstance(meta, Mapping) or "grid" not in meta:
        raise ValueError("not a weight grid figure (no layout.meta['grid'])")
    return GridLayout.from_dict(meta["grid"])


def grid_values_of(fig: go.Figure) -> np.ndarray:
    """The values a :func:`weight_grid_figure` shows, as the tiled ``(H, W)`` float array.

    Heatmap mode: the exact float32 values. Image mode: decoded from the PNG, so each
    value is quantised to the nearest of the figure's colour levels (error at most
    ``zmax / (levels - 1)``) and clipped to ``[-zmax, zmax]``. NaN in the gaps.
    """
    grid = fig.layout.meta["grid"]
    if grid["mode"] == "heatmap":
        return np.asarray(fig.data[0].z, dtype=np.float64)
    png = base64.b64decode(fig.data[0].source.split(",", 1)[1])
    position, idat = 8, b""
    width = height = 0
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        data = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", data[:8])
        elif kind == b"IDAT":
            idat += data
        position += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, width + 1)
    return dequantize(raw[:, 1:], grid["zmax"], grid["levels"])


CLICK_TRACE_NAME = "click targets"


def add_click_targets(fig: go.Figure, *, norms=None, unit_name: str = "unit",
                      value_name: str = "w") -> go.Figure:
    """Make every tile of a :func:`weight_grid_figure` clickable (Streamlit ``on_select``).

    Plotly selects only point-like traces: a click on a heatmap or an image selects
    nothing. This adds one invisible marker at the centre of each tile; with
    ``hovermode="closest"`` the marker nearest to the pointer, i.e. the tile under it,
    gets the hover and the click, and the selected point's ``x, y`` map back to the unit
    with ``grid_layout_of(fig).unit_at(x, y)`` (its ``customdata`` is the unit too).
    norms: per slot (the figure's order), shown on hover. The axes are fixed so a
    drag cannot pan the grid away. Returns ``fig``, changed in place.
    """
    layout = grid_layout_of(fig)
    slots = np.arange(layout.n_tiles)
    tile_rows, tile_cols = np.divmod(slots, layout.columns)
    centre = layout.tile // 2  # a whole pixel keeps the coordinates small integers
    custom = layout.order.astype(np.float64)[:, None]
    hover = f"{unit_name} %{{customdata[0]}}"
    if norms is not None:
        custom = np.column_stack([custom, np.asarray(norms, dtype=np.float64).reshape(-1)])
        hover += f"<br>‖{value_name}‖ = %{{customdata[1]:.3g}}"
    fig.add_trace(go.Scatter(
        x=(tile_cols * layout.pitch + centre).astype(np.int32),
        y=(tile_rows * layout.pitch + centre).astype(np.int32),
        customdata=custom.astype(np.float32), mode="markers", name=CLICK_TRACE_NAME,
        showlegend=False, marker=dict(size=12, opacity=0, color="#000000"),
        selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
        hovertemplate=hover + "<br>click to see it large<extra></extra>",
    ))
    # Beyond the markers' own radius, "closest" hover reaches this far (pixels): a whole
    # tile of a wide grid (~80 px), while neighbouring centres still split the grid fairly.
    fig.update_layout(hovermode="closest", hoverdistance=60, clickmode="event+select")
    fig.update_xaxes(fixedrange=True)
    fig.update_yaxes(fixedrange=True)
    return fig


def click_targets_bytes(n_units: int) -> int:
    """A generous estimate of the JSON :func:`add_click_targets` adds for ``n_units`` tiles
    (to reserve it from the grid's payload budget)."""
    return int(n_units * 16 * 4 / 3 * 1.1) + 2 * KIB


def unit_detail_figure(
    unit_weights,
    bias: float,
    outgoing,
    output_names: Sequence[str] | None = None,
    *,
    unit: int | None = None,
    zmax: float | None = None,
    value_name: str = "w",
    outgoing_title: str = "outgoing weights",
    projector: bool = False,
    height: int = 380,
) -> go.Figure:
    """One unit, large: its 28 x 28 incoming weights (every pixel's value on hover) and a
    bar chart of its outgoing weights (to the classes, e.g. the 10 digits, or to the next layer's units).

    unit_weights: ``(784,)`` = ``W1[:, unit]``; bias: ``b1[unit]``; outgoing: ``(n_out,)``
    = ``W2[unit, :]``; output_names: bar labels (default "0".."n_out-1").
    zmax: colour range of the map (default ``max |w|`` of this unit; pass the grid's to match).
    """
    unit_weights = np.asarray(unit_weights, dtype=np.float64).reshape(-1)
    outgoing = np.asarray(outgoing, dtype=np.float64).reshape(-1)
    names = _class_names(len(outgoing), output_names)
    zmax = float(zmax) if zmax is not None else symmetric_zmax(unit_weights, 100)
    out_max = symmetric_zmax(outgoing, 100)
    label = f"unit {unit}" if unit is not None else "unit"
    font = _fonts(projector)
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.17,
        subplot_titles=(f"{label}: incoming weights (bias {bias:+.3g}, "
                        f"‖w‖ = {np.linalg.norm(unit_weights):.3g})", f"{label}: {outgoing_title}"),
    )
    colorscale = _diverging(projector)
    fig.add_trace(go.Heatmap(
        z=unit_weights.reshape(IMAGE_SIDE, IMAGE_SIDE).astype(np.float32), zmin=-zmax, zmax=zmax,
        colorscale=colorscale,
        colorbar=dict(title=dict(text=value_name), x=0.46, xanchor="left", thickness=12, tickfont=font),
        hovertemplate=f"pixel (row %{{y}}, col %{{x}})<br>{value_name} = %{{z:.4g}}<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Bar(
        x=names, y=outgoing, showlegend=False,
        marker=dict(color=outgoing, colorscale=colorscale, cmin=-out_max, cmax=out_max,
                    line=dict(color="#444444", width=0.5)),
        hovertemplate=f"{label} → %{{x}}<br>weight = %{{y:.4g}}<extra></extra>",
    ), row=1, col=2)
    fig.update_xaxes(range=[-0.5, IMAGE_SIDE - 0.5], constrain="domain", row=1, col=1)
    fig.update_yaxes(range=[IMAGE_SIDE - 0.5, -0.5], scaleanchor="x", scaleratio=1,
                     constrain="domain", row=1, col=1)
    _hide_axes(fig, row=1, col=1)
    fig.update_xaxes(type="category", title_text="to", row=1, col=2)
    fig.update_yaxes(zeroline=True, zerolinecolor="#444444", showgrid=True, gridcolor="#eeeeee",
                     row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=50, b=10), font=font,
                      plot_bgcolor="#ffffff")
    fig.update_annotations(font=dict(size=font["size"] + 1))
    return fig


def outgoing_weights_figure(
    outgoing,
    output_names: Sequence[str] | None = None,
    *,
    unit: int | None = None,
    title: str = "outgoing weights",
    projector: bool = False,
    height: int = 340,
) -> go.Figure:
    """The right half of :func:`unit_detail_figure` on its own: one unit's outgoing weights
    as bars (to the classes or to the next layer's units), coloured on a symmetric range.

    For pages that put the unit's picture and its bars in separate columns, which stack
    on narrow windows.
    """
    outgoing = np.asarray(outgoing, dtype=np.float64).reshape(-1)
    names = _class_names(len(outgoing), output_names)
    out_max = symmetric_zmax(outgoing, 100)
    label = f"unit {unit}" if unit is not None else "unit"
    fig = go.Figure(go.Bar(
        x=names, y=outgoing, showlegend=False,
        marker=dict(color=outgoing, colorscale=_diverging(projector), cmin=-out_max, cmax=out_max,
                    line=dict(color="#444444", width=0.5)),
        hovertemplate=f"{label} → %{{x}}<br>weight = %{{y:.4g}}<extra></extra>",
    ))
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left"), height=height, font=_fonts(projector),
        plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(type="category", title="to"),
        yaxis=dict(title="weight", zeroline=True, zerolinecolor="#444444", showgrid=True,
                   gridcolor="#eeeeee"),
    )
    return fig


def matrix_heatmap_figure(
    weights,
    *,
    zmax: float | None = None,
    percentile: float = 99.5,
    title: str | None = None,
    input_name: str = "input unit",
    output_name: str = "unit",
    output_names: Sequence[str] | None = None,
    max_bytes: int = 300 * KIB,
    projector: bool = False,
    height: int | None = None,
) -> go.Figure:
    """A deeper layer's weight matrix ``(n_in, n_out)``: rows = inputs, columns = units.

    Symmetric diverging range like the grid. Matrices whose exact float32 heatmap would
    exceed ``max_bytes`` are drawn as a PNG image (hover then gives the row and column,
    not the value).
    """
    weights = np.asarray(weights)
    if weights.ndim != 2:
        raise ValueError(f"expected a 2-D weight matrix, got shape {weights.shape}")
    n_in, n_out = weights.shape
    zmax = float(zmax) if zmax is not None else symmetric_zmax(weights, percentile)
    colorscale = _diverging(projector)
    font = _fonts(projector)
    colorbar = dict(title=dict(text="w"), thickness=14, tickfont=font)
    fig = go.Figure()
    if weights.size * 4 * 4 / 3 + 4 * KIB <= max_bytes:
        x = _class_names(n_out, output_names) if output_names is not None else None
        fig.add_trace(go.Heatmap(
            z=weights.astype(np.float32), x=x, zmin=-zmax, zmax=zmax, colorscale=colorscale,
            colorbar=colorbar,
            hovertemplate=(f"{input_name} %{{y}} → {output_name} %{{x}}<br>w = %{{z:.4g}}"
                           "<extra></extra>"),
        ))
    else:
        fig.add_trace(go.Image(
            source="", x0=0, dx=1, y0=0, dy=1,
            hovertemplate=f"{input_name} %{{y}} → {output_name} %{{x}}<extra></extra>",
        ))
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
            marker=dict(color=[0.0], cmin=-zmax, cmax=zmax, colorscale=colorscale,
                        showscale=True, colorbar=colorbar),
        ))
        fig.update_xaxes(range=[-0.5, n_out - 0.5])
        fig.update_yaxes(range=[n_in - 0.5, -0.5])
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left") if title else None,
        height=height or int(min(700, max(260, 14 * n_in if n_in < 40 else 500))),
        margin=dict(l=10, r=10, t=50 if title else 10, b=10), font=font, plot_bgcolor="#ffffff",
        xaxis_title=output_name, yaxis_title=input_name,
    )
    if fig.data[0].type == "heatmap":
        fig.update_yaxes(autorange="reversed")
        if output_names is not None:  # names like "0".."9" would otherwise read as numbers
            fig.update_xaxes(type="category")
    else:
        levels = _fit_image(fig, 0, weights.astype(np.float64), zmax, colorscale, max_bytes)
        fig.update_layout(meta={"matrix": {"zmax": zmax, "levels": levels}})
    return fig


def templates_figure(
    templates,
    class_names: Sequence[str] | None = None,
    approximate: bool = True,
    *,
    note: str | None = None,
    zmax: float | None = None,
    columns: int | None = None,
    projector: bool = False,
    title_prefix: str | None = None,
) -> go.Figure:
    """Each class's 28 x 28 template (``nn.analysis.linear_templates``), labelled with
    ``class_names`` (default "0".."n-1").

    templates: ``(n_classes, 784)``. When ``approximate`` the title says
    "linear approximation" and ``note`` (one sentence) goes underneath.
    title_prefix: what precedes "linear approximation" / "output weights" in the title
    (default "What each digit responds to: ", "letter" for letters...; a shorter one keeps
    the title whole on a narrow window).
    """
    templates = np.asarray(templates)
    n = templates.shape[0]
    names = _class_names(n, class_names)
    noun = _class_noun(names)
    if title_prefix is None:
        title_prefix = f"What each {noun} responds to: "
    title = title_prefix + (
        "linear approximation (W1 @ … @ WL)" if approximate else "output weights (exact)")
    fig = weight_grid_figure(
        templates.T, columns=columns or (n if n <= 5 else math.ceil(n / 2)), zmax=zmax,
        percentile=100, title=title, value_name="weight", unit_name=noun,
        tile_labels=names, mode="heatmap", projector=projector,
    )
    if note or approximate:
        subtitle = "<br>".join(textwrap.wrap(note, 110)) if note else \
            "approximation: exact only for a linear network (hidden-layer nonlinearity and biases ignored)"
        extra = 16 * subtitle.count("<br>")
        fig.update_layout(title_subtitle_text=subtitle, margin_t=75 + extra,
                          height=fig.layout.height + 25 + extra)
    fig.layout.meta["grid"]["approximate"] = bool(approximate)
    return fig


def image_grid_figure(
    images,
    captions: Sequence[str] | None = None,
    columns: int | None = None,
    *,
    title: str | None = None,
    height: int | None = None,
) -> go.Figure:
    """A few digit images side by side, e.g. the images that excite a unit most.

    images: ``(k, 784)`` uint8 (0-255) or float (0-1); captions: one per image, drawn in
    the tile's corner and shown on hover.
    """
    images = np.asarray(images)
    if images.ndim == 1:
        images = images[None, :]
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    k = len(images)
    grid, layout = tile_grid((images.astype(np.float32) / scale).T, None, columns or min(k, 9) or 1)
    captions = list(captions) if captions is not None else [f"#{i}" for i in range(k)]
    fig = go.Figure(go.Heatmap(
        z=grid, zmin=0, zmax=1, colorscale=GREYS, showscale=False, hoverongaps=False,
        hovertemplate="pixel value %{z:.2f}<extra></extra>",
    ))
    _layout_grid(fig, grid.shape, title, _fonts(False), height)
    fig.update_layout(plot_bgcolor="#d9d9d9")  # light gaps between the white-paper images
    for slot, text in enumerate(captions[:k]):
        r, c = layout.slot_origin(slot)
        fig.add_annotation(x=c + 0.5, y=r + 0.5, text=str(text), showarrow=False, xanchor="left",
                           yanchor="top", font=dict(size=11), bgcolor="rgba(255,255,255,0.8)")
    return fig


# ---------------------------------------------------------------------------
# Gradients page
# ---------------------------------------------------------------------------


def _positive_for_log(values: np.ndarray, floor: float) -> np.ndarray:
    """Non-positive values drawn at the axis floor (a log axis cannot show 0); NaN stays."""
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    out[(values <= 0) | np.isneginf(values)] = floor
    out[np.isposinf(values)] = np.nan
    return out


def _log_range(values, must_include=()) -> tuple[float, float]:
    """(low, high) data values of a log axis covering ``values`` and ``must_include``."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v) & (v > 0)]
    points = np.concatenate([v, np.asarray(must_include, dtype=np.float64)])
    if points.size == 0:
        return 1e-3, 1.0
    low, high = float(points.min()), float(points.max())
    return 10 ** (math.floor(math.log10(low)) - 0.3), 10 ** (math.ceil(math.log10(high)) + 0.3)


def norms_over_steps_figure(
    steps,
    layer_grad_norm,
    layer_weight_norm,
    layer_update_ratio,
    layer_names: Sequence[str] | None = None,
    *,
    vanishing: float = VANISHING_GRADIENT,
    exploding: float = EXPLODING_GRADIENT,
    update_guide: float = HEALTHY_UPDATE_RATIO,
    stacked: bool = False,
    panels: Sequence[int] = (0, 1, 2),
    projector: bool = False,
    height: int | None = None,
) -> go.Figure:
    """Per-layer gradient norms, weight norms and update/weight ratios over training steps.

    steps: ``(n,)``; the three others ``(n, L)`` (``nn.analysis.stats_arrays(history)``).
    All three panels use a log y axis. The gradient panel shades the vanishing zone
    (below ``vanishing``) and the exploding zone (above ``exploding``), each with a
    one-line label; the ratio panel has a dotted guide at ``update_guide`` (~1e-3, a
    rule of thumb for a healthy step). Zeros are drawn at the axis floor (hover shows 0).
    stacked: panels one above the other (narrow windows) instead of side by side.
    panels: which of them to draw (0 gradient, 1 weight, 2 update ratio), e.g. ``(0,)``
        for one panel per figure, so that a page's columns can stack on narrow windows.
    """
    steps = np.asarray(steps, dtype=np.float64)
    panels_values = [np.asarray(a, dtype=np.float64).reshape(len(steps), -1)
                     for a in (layer_grad_norm, layer_weight_norm, layer_update_ratio)]
    n_layers = panels_values[0].shape[1]
    names = list(layer_names) if layer_names is not None else layer_labels(n_layers)
    titles = ("gradient norm ‖dJ/dW‖", "weight norm ‖W‖", "update / weight ‖ΔW‖ / ‖W‖")
    shown = [int(p) for p in panels]
    if not shown or any(p not in (0, 1, 2) for p in shown):
        raise ValueError(f"panels must list some of 0, 1, 2, got {panels!r}")
    rows, cols = (len(shown), 1) if stacked else (1, len(shown))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[titles[p] for p in shown],
                        horizontal_spacing=0.07, vertical_spacing=0.1)
    font = _fonts(projector)
    for position, p in enumerate(shown):
        values = panels_values[p]
        row, col = (position + 1, 1) if stacked else (1, position + 1)
        includes = (vanishing / 10, exploding * 10) if p == 0 else ((update_guide,) if p == 2 else ())
        low, high = _log_range(values, includes)
        for layer in range(n_layers):
            fig.add_trace(go.Scatter(
                x=steps, y=_positive_for_log(values[:, layer], low), customdata=values[:, layer],
                mode="lines", name=names[layer], legendgroup=names[layer], showlegend=(position == 0),
                line=dict(color=LAYER_COLORS[layer % len(LAYER_COLORS)], width=3 if projector else 2),
                hovertemplate=f"{names[layer]}<br>step %{{x}}<br>%{{customdata:.3g}}<extra></extra>",
            ), row=row, col=col)
        fig.update_yaxes(type="log", range=[math.log10(low), math.log10(high)], exponentformat="power",
                         row=row, col=col)
        fig.update_xaxes(title_text="step", row=row, col=col)
        if p == 0:
            fig.add_hrect(y0=low, y1=vanishing, fillcolor=VANISHING_FILL, line_width=0, layer="below",
                          row=row, col=col)
            fig.add_hrect(y0=exploding, y1=high, fillcolor=EXPLODING_FILL, line_width=0, layer="below",
                          row=row, col=col)
            for level, text, anchor in ((vanishing, f"vanishing < {_num(vanishing)}: layer stops learning",
                                         "top"),
                                        (exploding, f"exploding > {_num(exploding)}: steps overshoot",
                                         "bottom")):
                fig.add_hline(y=level, line=dict(color="#555555", width=1, dash="dash"), row=row, col=col)
                fig.add_annotation(x=0.01, xref=_axis_ref("x", row, col, cols) + " domain",
                                   y=math.log10(level), yref=_axis_ref("y", row, col, cols),
                                   text=text, showarrow=False, xanchor="left", yanchor=anchor,
                                   font=dict(size=font["size"] - 2, color="#333333"))
        if p == 2:
            fig.add_hline(y=update_guide, line=dict(color="#555555", width=1, dash="dot"),
                          row=row, col=col)
            fig.add_annotation(x=0.01, xref=_axis_ref("x", row, col, cols) + " domain",
                               y=math.log10(update_guide), yref=_axis_ref("y", row, col, cols),
                               text=f"≈ {_num(update_guide)}: a typical healthy step", showarrow=False,
                               xanchor="left", yanchor="bottom",
                               font=dict(size=font["size"] - 2, color="#333333"))
    fig.update_layout(
        height=height or (300 * len(shown) if stacked else 380), font=font, plot_bgcolor="#ffffff",
        margin=dict(l=10, r=10, t=80, b=10), hovermode="closest", uirevision="keep",
        legend=dict(orientation="h", yanchor="bottom", y=1.12 if not stacked else 1.04, xanchor="left", x=0),
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eeeeee")
    fig.update_yaxes(showgrid=True, gridcolor="#eeeeee")
    return fig


def _num(x: float) -> str:
    """1e-06 -> "1e-6", 100 -> "100", 0.001 -> "1e-3": short labels for thresholds."""
    exponent = math.log10(x) if x > 0 else 0.0
    if x > 0 and exponent == round(exponent) and abs(exponent) >= 3:
        return f"1e{int(round(exponent))}"
    return f"{x:g}"


def _axis_ref(letter: str, row: int, col: int, n_cols: int) -> str:
    index = (row - 1) * n_cols + col
    return letter if index == 1 else f"{letter}{index}"


def gradient_histograms_figure(
    grads,
    layer_names: Sequence[str] | None = None,
    *,
    bins: int = 61,
    log_counts: bool = True,
    title: str = "gradient values dJ/dW at the latest recorded step",
    projector: bool = False,
    height: int = 300,
) -> go.Figure:
    """One histogram per layer of its gradient values (e.g. ``history.last_grad_weights``).

    grads: a list of arrays (binned here with ``nn.analysis.layer_histograms``, each layer
        on its own symmetric range) or of precomputed ``(counts, edges)`` pairs. Only the
        bin counts are sent to the browser, never the raw values.
    """
    items = list(grads)
    if items and not isinstance(items[0], tuple):
        items = layer_histograms(items, bins)
    n = len(items)
    names = list(layer_names) if layer_names is not None else layer_labels(n)
    cols = min(max(n, 1), 4)
    rows = max(1, math.ceil(n / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names[:n], horizontal_spacing=0.06)
    for i, (counts, edges) in enumerate(items):
        counts, edges = np.asarray(counts), np.asarray(edges, dtype=np.float64)
        centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        fig.add_trace(go.Bar(
            x=centres, y=counts, width=widths, showlegend=False,
            marker=dict(color=LAYER_COLORS[i % len(LAYER_COLORS)], line_width=0),
            customdata=np.stack([edges[:-1], edges[1:]], axis=-1),
            hovertemplate="%{customdata[0]:.2g} … %{customdata[1]:.2g}: %{y} values<extra></extra>",
        ), row=i // cols + 1, col=i % cols + 1)
    if log_counts:
        fig.update_yaxes(type="log")
    fig.update_xaxes(exponentformat="e", showexponent="all", nticks=5)
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), height=height * rows,
                      bargap=0, font=_fonts(projector), plot_bgcolor="#ffffff",
                      margin=dict(l=10, r=10, t=60, b=10))
    return fig


def dead_relu_figure(
    steps,
    dead_fraction,
    layer_names: Sequence[str] | None = None,
    *,
    projector: bool = False,
    height: int = 300,
) -> go.Figure:
    """Fraction of each hidden layer's units that output 0 for a whole batch, over steps.

    steps: ``(n,)``; dead_fraction: ``(n, n_hidden_layers)`` in [0, 1].
    """
    steps = np.asarray(steps, dtype=np.float64)
    dead = np.asarray(dead_fraction, dtype=np.float64).reshape(len(steps), -1)
    names = list(layer_names) if layer_names is not None else \
        [f"hidden layer {i}" for i in range(1, dead.shape[1] + 1)]
    fig = go.Figure()
    for i in range(dead.shape[1]):
        fig.add_trace(go.Scatter(
            x=steps, y=100 * dead[:, i], mode="lines", name=names[i],
            line=dict(color=LAYER_COLORS[i % len(LAYER_COLORS)], width=3 if projector else 2),
            hovertemplate=f"{names[i]}<br>step %{{x}}<br>%{{y:.1f}}% dead<extra></extra>",
        ))
    fig.update_layout(
        title=dict(text="dead ReLUs: units that output 0 for every image of the batch", x=0,
                   xanchor="left"),
        xaxis_title="step", yaxis=dict(title="% of the layer's units", range=[0, 100], ticksuffix="%"),
        height=height, font=_fonts(projector), plot_bgcolor="#ffffff", showlegend=True,
        margin=dict(l=10, r=10, t=50, b=10), uirevision="keep",
    )
    fig.update_yaxes(showgrid=True, gridcolor="#eeeeee")
    return fig


def saliency_figure(
    image,
    gradient,
    *,
    label: str | int | None = None,
    zmax: float | None = None,
    projector: bool = False,
    height: int = 360,
) -> go.Figure:
    """The input image beside its input gradient dJ/dX (``nn.analysis.saliency``).

    image, gradient: ``(784,)`` (image uint8 0-255 or float 0-1). Red pixels raise the
    loss for ``label`` when brightened (they argue against it); blue ones lower it.
    """
    image = np.asarray(image).reshape(-1)
    pixels = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)
    gradient = np.asarray(gradient, dtype=np.float64).reshape(-1)
    zmax = float(zmax) if zmax is not None else symmetric_zmax(gradient, 100)
    name = f" for “{label}”" if label is not None else ""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("input image", f"saliency dJ/dx{name}"))
    fig.add_trace(go.Heatmap(
        z=pixels.reshape(IMAGE_SIDE, IMAGE_SIDE), zmin=0, zmax=1, colorscale=GREYS, showscale=False,
        hovertemplate="pixel (row %{y}, col %{x})<br>value %{z:.2f}<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Heatmap(
        z=gradient.reshape(IMAGE_SIDE, IMAGE_SIDE).astype(np.float32), zmin=-zmax, zmax=zmax,
        colorscale=_diverging(projector), colorbar=dict(title=dict(text="dJ/dx"), thickness=12),
        hovertemplate=("pixel (row %{y}, col %{x})<br>dJ/dx = %{z:.3g}<br>"
                       "red: brighter → higher loss · blue: brighter → lower loss<extra></extra>"),
    ), row=1, col=2)
    for col in (1, 2):
        fig.update_xaxes(range=[-0.5, IMAGE_SIDE - 0.5], constrain="domain", row=1, col=col)
        fig.update_yaxes(range=[IMAGE_SIDE - 0.5, -0.5], scaleanchor="x" if col == 1 else "x2",
                         scaleratio=1, constrain="domain", row=1, col=col)
    _hide_axes(fig)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), font=_fonts(projector))
    return fig


def gradcheck_figure(
    relative_errors: Mapping[str, float],
    *,
    good: float = 1e-6,
    bad: float = 1e-4,
    height: int = 320,
) -> go.Figure:
    """Backprop vs finite differences: relative error per array (``GradientCheck.relative_errors``).

    Log-scale bars with guide lines: below ``good`` backprop is right; above ``bad`` it
    has a bug; in between, suspicious (or float32 rounding). Errors of exactly 0 are
    drawn at the axis floor (hover says 0).
    """
    names = list(relative_errors)
    errors = np.array([float(relative_errors[n]) for n in names], dtype=np.float64)
    low, high = _log_range(errors, (good / 10, bad * 10))
    colors = [LAYER_COLORS[0] if e <= good else (LAYER_COLORS[1] if e <= bad else HIGHLIGHT)
              for e in errors]
    verdicts = ["right" if e <= good else ("suspicious" if e <= bad else "a bug") for e in errors]
    fig = go.Figure(go.Bar(
        x=names, y=_positive_for_log(errors, low * 1.5), marker_color=colors,
        customdata=np.stack([errors, np.array(verdicts, dtype=object)], axis=-1),
        hovertemplate="%{x}: relative error %{customdata[0]:.2e}<br>%{customdata[1]}<extra></extra>",
    ))
    for level, text, dash in ((good, f"{_num(good)}: below is right", "dash"),
                              (bad, f"{_num(bad)}: above is a bug", "dot")):
        fig.add_hline(y=level, line=dict(color="#555555", width=1, dash=dash))
        # On a log axis an annotation's y is in log10 units (add_hline's own label is not).
        fig.add_annotation(x=0, xref="x domain", y=math.log10(level), yref="y", text=text,
                           showarrow=False, xanchor="left", yanchor="bottom",
                           font=dict(size=11, color="#333333"))
    fig.update_yaxes(type="log", range=[math.log10(low), math.log10(high)], exponentformat="power",
                     title="relative error", showgrid=True, gridcolor="#eeeeee")
    fig.update_layout(title=dict(text="gradient check: backprop vs finite differences", x=0,
                                 xanchor="left"),
                      height=height, plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=50, b=10),
                      xaxis=dict(type="category"))
    return fig


# ---------------------------------------------------------------------------
# Activations page
# ---------------------------------------------------------------------------


def image_figure(image, *, title: str | None = None, height: int = 300) -> go.Figure:
    """One digit, 28 x 28 in greys (ink dark on white); hover gives each pixel's value.

    image: ``(784,)`` or ``(28, 28)``; uint8 0-255 or float 0-1.
    """
    image = np.asarray(image)
    pixels = image.astype(np.float32).reshape(IMAGE_SIDE, IMAGE_SIDE)
    if image.dtype == np.uint8:
        pixels /= 255.0
    fig = go.Figure(go.Heatmap(
        z=pixels, zmin=0, zmax=1, colorscale=GREYS, showscale=False,
        hovertemplate="pixel (row %{y}, col %{x})<br>value %{z:.2f}<extra></extra>",
    ))
    fig.update_xaxes(range=[-0.5, IMAGE_SIDE - 0.5], constrain="domain")
    fig.update_yaxes(range=[IMAGE_SIDE - 0.5, -0.5], scaleanchor="x", scaleratio=1, constrain="domain")
    _hide_axes(fig)
    fig.update_layout(title=dict(text=title, x=0, xanchor="left") if title else None, height=height,
                      margin=dict(l=4, r=4, t=40 if title else 4, b=4), plot_bgcolor="#ffffff")
    return fig


WIDE_LAYER = 64


def layer_activations_figure(
    activations,
    pre_activations,
    *,
    biases=None,
    activation: str = "relu",
    layer_name: str = "hidden layer 1",
    as_grid: bool | None = None,
    columns: int | None = None,
    projector: bool = False,
    height: int = 280,
) -> go.Figure:
    """A hidden layer's response to one image: one bar (or grid cell) per unit.

    activations ``a`` and pre_activations ``z``: ``(n,)`` (``nn.analysis.trace_image``);
    biases: ``(n,)`` the layer's ``b``. Hover follows one unit's maths:
    ``inputs · weights = z - b``, ``+ bias b = z``, ``activation(z) = a``.
    as_grid: draw a heatmap grid instead of bars (default: when ``n > 64``).
    """
    a = np.asarray(activations, dtype=np.float64).reshape(-1)
    z = np.asarray(pre_activations, dtype=np.float64).reshape(-1)
    n = len(a)
    b = np.zeros(n) if biases is None else np.asarray(biases, dtype=np.float64).reshape(-1)
    as_grid = n > WIDE_LAYER if as_grid is None else as_grid
    def maths(first: int) -> str:  # hover lines; customdata[first:first+4] = (z - b, b, z, a)
        c = [f"%{{customdata[{first + i}]:.4g}}" for i in range(4)]
        return (f"{c[0]} (inputs · weights)<br>+ {c[1]} (bias)<br>= z {c[2]}"
                f"<br>{activation}(z) = {c[3]}")

    font = _fonts(projector)
    title = f"{layer_name}: {int(np.count_nonzero(a > 0))} of {n} units active"
    if not as_grid:
        custom = np.stack([z - b, b, z, a], axis=-1)
        colors = np.where(a > 0, LAYER_COLORS[0], MUTED)
        fig = go.Figure(go.Bar(
            x=np.arange(n), y=a, customdata=custom, marker=dict(color=colors, line_width=0),
            hovertemplate="unit %{x}<br>" + maths(0) + "<extra></extra>",
        ))
        fig.update_layout(xaxis_title="unit", yaxis_title=f"activation a = {activation}(z)", bargap=0.1,
                          plot_bgcolor="#ffffff")
        fig.update_yaxes(showgrid=True, gridcolor="#eeeeee", zeroline=True, zerolinecolor="#444444")
    else:
        cols = columns or int(math.ceil(math.sqrt(n * 2)))
        rows = int(math.ceil(n / cols))
        pad = rows * cols - n

        def shaped(v, fill=np.nan):
            return np.concatenate([v, np.full(pad, fill)]).reshape(rows, cols)

        custom = np.stack([shaped(np.arange(n, dtype=np.float64)), shaped(z - b), shaped(b),
                           shaped(z), shaped(a)], axis=-1).astype(np.float32)
        diverging = a.min(initial=0) < 0
        top = symmetric_zmax(a, 100)
        fig = go.Figure(go.Heatmap(
            z=shaped(a).astype(np.float32), customdata=custom, hoverongaps=False,
            colorscale=_diverging(projector) if diverging else SEQUENTIAL,
            zmin=-top if diverging else 0, zmax=top, colorbar=dict(title=dict(text="a"), thickness=12),
            hovertemplate="unit %{customdata[0]}<br>" + maths(1) + "<extra></extra>",
            xgap=1, ygap=1,
        ))
        fig.update_xaxes(constrain="domain", showticklabels=False, showgrid=False, zeroline=False)
        fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain",
                         showticklabels=False, showgrid=False, zeroline=False)
        fig.update_layout(plot_bgcolor="#ffffff")
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), height=height, font=font,
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def probabilities_figure(
    probabilities,
    class_names: Sequence[str] | None = None,
    *,
    label: int | None = None,
    projector: bool = False,
    height: int = 280,
) -> go.Figure:
    """The output layer's probabilities, the most likely class highlighted.

    probabilities: ``(n_classes,)``. label: the true class, outlined when given.
    """
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    names = _class_names(len(p), class_names)
    top = int(p.argmax())
    colors = [HIGHLIGHT if i == top else MUTED for i in range(len(p))]
    outline = [3 if (label is not None and i == int(label)) else 0 for i in range(len(p))]
    fig = go.Figure(go.Bar(
        x=names, y=p, marker=dict(color=colors, line=dict(color="#000000", width=outline)),
        text=[f"{v:.0%}" if v >= 0.005 else "" for v in p], textposition="outside",
        hovertemplate="%{x}: %{y:.2%}<extra></extra>",
    ))
    verdict = f"predicted {names[top]} ({p[top]:.0%})"
    if label is not None:
        verdict += " ✓" if int(label) == top else f" ✗ (true: {names[int(label)]}, outlined)"
    fig.update_layout(
        title=dict(text=verdict, x=0, xanchor="left"), height=height, font=_fonts(projector),
        xaxis=dict(type="category", title=_class_noun(names), tickmode="array", tickvals=names,
                   ticktext=names, tickfont=dict(size=None if len(names) <= 26 else 10)),
        yaxis=dict(range=[0, 1.12], tickformat=".0%", title="probability"),
        plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


def contributions_figure(
    units,
    contributions,
    bias: float,
    logit: float,
    *,
    class_name: str = "",
    top: int = 10,
    unit_name: str = "unit",
    projector: bool = False,
    height: int = 340,
) -> go.Figure:
    """How the last hidden layer builds one logit, as a waterfall.

    units, contributions: ``(n,)`` from ``nn.analysis.unit_contributions`` (each
    contribution = activation x outgoing weight), or filters and their summed
    contributions (``nn.analysis.filter_contributions``, ``unit_name="filter"``). Shows the ``top`` largest by size,
    then "other units" (the rest summed), then the bias; the total bar is the logit
    ``z`` (``sum(contributions) + bias``; ``logit`` is checked against it in hover).
    """
    units = np.asarray(units).reshape(-1)
    values = np.asarray(contributions, dtype=np.float64).reshape(-1)
    pick = np.argsort(-np.abs(values), kind="stable")[: max(0, int(top))]
    pick = pick[np.argsort(-values[pick], kind="stable")]
    rest = np.setdiff1d(np.arange(len(values)), pick)
    labels = [f"{unit_name} {int(units[i])}" for i in pick]
    measures = ["relative"] * len(pick)
    ys = list(values[pick])
    if len(rest):
        labels.append(f"{len(rest)} other {unit_name}s")
        measures.append("relative")
        ys.append(float(values[rest].sum()))
    labels += ["bias", f"logit z[{class_name}]"]
    measures += ["relative", "total"]
    ys += [float(bias), float(logit)]
    fig = go.Figure(go.Waterfall(
        x=labels, y=ys, measure=measures, orientation="v",
        increasing=dict(marker=dict(color=LAYER_COLORS[2])),
        decreasing=dict(marker=dict(color=HIGHLIGHT)),
        totals=dict(marker=dict(color=LAYER_COLORS[0])),
        connector=dict(line=dict(color="#999999", width=1)),
        hovertemplate="%{x}: %{y:+.4g}<extra></extra>",
    ))
    fig.update_layout(
        title=dict(text=f"what builds the score for “{class_name}”: activation × outgoing weight",
                   x=0, xanchor="left"),
        height=height, font=_fonts(projector), plot_bgcolor="#ffffff", showlegend=False,
        margin=dict(l=10, r=10, t=50, b=10), xaxis=dict(type="category"),
        yaxis=dict(title="contribution to the logit", zeroline=True, zerolinecolor="#444444"),
    )
    return fig


# ---------------------------------------------------------------------------
# Convolutional networks: filters, feature maps, per-position weights
# ---------------------------------------------------------------------------
#
# Every figure here tiles small pictures (k x k filters, H x W feature maps) into one
# heatmap with a one-cell gap (NaN) between tiles, like the weight grid, and records the
# tiling in ``fig.layout.meta["tiles"]`` so :func:`tiles_of` can read the exact values back.

TILE_BACKGROUND = "#d9d9d9"  # gaps and label bands of small tiles: near-white values stand out
SMALL_TILE = 8  # tiles up to this many cells high get their label above them, not on them


def _tiled_height(shape, width: int, title: bool) -> int:
    """Figure height for a tiled grid of ``shape`` cells drawn ``width`` px wide (about 100 px
    of which go to the colour bar), square cells."""
    rows, cols = shape
    return int(min(1000, max(160, (width - 100) * rows / cols + (60 if title else 20))))


def _tiled_figure(
    tiles,
    *,
    custom,
    hovertemplate: str,
    columns: int | None,
    zmin: float,
    zmax: float,
    colorscale,
    colorbar_title: str,
    labels: Sequence[str] | None,
    title: str | None,
    projector: bool,
    height: int | None,
    width: int,
    background: str,
    meta: dict,
    axis_labels: tuple[Sequence[str], Sequence[str]] | None = None,
) -> go.Figure:
    """One heatmap of ``tiles`` ``(n, h, w)`` laid out by ``ui.figures.tiles.tile_maps``.

    custom: ``(n, h, w, d)`` hover data per cell. labels: one per tile, drawn in a one-cell
    band above each small tile (k x k filters, whose every cell matters) or in the top-left
    corner of a big one (feature maps). axis_labels: (per tile row, per tile column) names
    on the axes instead (a filter per row, an input map per column). width: the width the
    figure is drawn at, for its height.
    """
    tiles = np.asarray(tiles)
    n, h, w = tiles.shape
    columns = max(1, min(int(columns) if columns else default_columns(n), max(n, 1)))
    font = _fonts(projector)
    band = 0
    if labels is not None and h <= SMALL_TILE:
        # Labels sit in a band of gap rows above each row of tiles, tall enough for the text
        # at the width the figure is drawn.
        cell = (width - 100) / (columns * (w + 1) - 1)
        band = max(1, math.ceil((font["size"] + 2) / cell))
    grid, columns = tile_maps(tiles, columns, row_gap=band or 1)
    custom_grid = np.stack([tile_maps(custom[..., d], columns, row_gap=band or 1)[0]
                            for d in range(custom.shape[-1])], axis=-1)
    if band:  # the band above the first row of tiles
        grid = np.vstack([np.full((band, grid.shape[1]), np.nan), grid])
        custom_grid = np.concatenate([np.full((band, *custom_grid.shape[1:]), np.nan), custom_grid])
    height = height or _tiled_height(grid.shape, width, bool(title))
    fig = go.Figure(go.Heatmap(
        z=grid.astype(np.float32), customdata=custom_grid.astype(np.float32), x0=0, dx=1, y0=0, dy=1,
        zmin=zmin, zmax=zmax, colorscale=colorscale, hoverongaps=False,
        colorbar=dict(title=dict(text=colorbar_title), thickness=22 if projector else 14, tickfont=font,
                      len=0.9),
        hovertemplate=hovertemplate,
    ))
    _layout_grid(fig, grid.shape, title, font, height)
    fig.update_layout(plot_bgcolor=background)
    pitch_y, pitch_x = h + (band or 1), w + 1
    for slot, text in enumerate(list(labels or [])[:n]):
        row, col = divmod(slot, columns)
        top, left = band + row * pitch_y, col * pitch_x
        if band:
            fig.add_annotation(x=left + (w - 1) / 2, y=top - (band + 1) / 2, text=str(text), showarrow=False,
                               xanchor="center", yanchor="middle",
                               font=dict(size=font["size"] - 1, color="#262730"))
        else:
            fig.add_annotation(x=left - 0.5, y=top - 0.5, text=str(text), showarrow=False,
                               xanchor="left", yanchor="top", font=dict(size=font["size"] - 2),
                               bgcolor="rgba(255,255,255,0.75)", borderpad=1)
    if axis_labels is not None:
        row_names, column_names = axis_labels
        fig.update_yaxes(showticklabels=True, ticks="", tickfont=dict(size=font["size"] - 2),
                         tickvals=[band + r * pitch_y + (h - 1) / 2 for r in range(len(row_names))],
                         ticktext=list(row_names))
        fig.update_xaxes(showticklabels=True, ticks="", side="top", tickfont=dict(size=font["size"] - 2),
                         tickvals=[c * (w + 1) + (w - 1) / 2 for c in range(len(column_names))],
                         ticktext=list(column_names))
        fig.update_layout(margin=dict(l=60, t=(80 if title else 30)))
    fig.update_layout(meta={"tiles": {**meta, "n": n, "shape": [h, w], "columns": columns, "band": band,
                                      "row_pitch": pitch_y,
                                      "zmin": float(zmin), "zmax": float(zmax)}})
    return fig


def tiles_of(fig: go.Figure) -> np.ndarray:
    """The ``(n, h, w)`` values a tiled figure (filters, feature maps) shows, read back
    from its heatmap: the exact float32 values that were drawn."""
    meta = fig.layout.meta["tiles"]
    z = np.asarray(fig.data[0].z, dtype=np.float64)[meta["band"]:]
    (h, w), columns, pitch = meta["shape"], meta["columns"], meta["row_pitch"]
    out = np.empty((meta["n"], h, w))
    for slot in range(meta["n"]):
        row, col = divmod(slot, columns)
        out[slot] = z[row * pitch : row * pitch + h, col * (w + 1) : col * (w + 1) + w]
    return out


def filter_grid_figure(
    kernel,
    biases=None,
    *,
    view: str = "mean",
    columns: int | None = None,
    zmax: float | None = None,
    percentile: float = 100,
    title: str | None = None,
    value_name: str = "w",
    filter_ids=None,
    projector: bool = False,
    height: int | None = None,
    width: int = 900,
) -> go.Figure:
    """A conv layer's filters as k x k heatmaps, one tile per filter, on one symmetric
    diverging scale ``[-zmax, zmax]`` centred on 0 (red: the filter responds to ink there,
    blue: to its absence).

    kernel: ``(k, k, C_in, F)``, e.g. ``network.weights[0]`` of a ``ConvNetwork``, a
        snapshot's, or its gradient. biases: ``(F,)``, shown on hover.
    view: "mean" (one tile per filter, the mean over its C_in input channels; the
        filter itself when C_in = 1) or "channels" (one row of C_in tiles per filter:
        what it looks for in each input map). See ``ui.figures.tiles.filter_tiles``.
    zmax: the colour range (default: the ``percentile`` of ``|values|``, 100 = the
        largest); pass one for every frame of an epoch replay.
    filter_ids: the number shown for each filter (default 0, 1, ...), e.g. for a slice
        ``kernel[..., [f]]`` of one filter.
    columns: tiles per row of the "mean" view (default: about four times wider than tall);
        the "channels" view has one column per input map (or, given fewer, wraps them).
    width: the width the figure is drawn at (its height follows).
    """
    kernel = np.asarray(kernel)
    tiled = filter_tiles(kernel, view)
    ids = np.arange(kernel.shape[-1]) if filter_ids is None else np.asarray(filter_ids).reshape(-1)
    k, _, n_in, n_filters = kernel.shape
    per_channel = view == "channels" and n_in > 1
    zmax = float(zmax) if zmax is not None else symmetric_zmax(tiled.tiles, percentile)
    bias = np.full(n_filters, np.nan) if biases is None else np.asarray(biases, dtype=np.float64).reshape(-1)
    n = len(tiled.tiles)
    rows, cols = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    custom = np.empty((n, k, k, 5))
    custom[..., 0] = ids[tiled.filters][:, None, None]
    custom[..., 1] = tiled.channels[:, None, None]
    custom[..., 2], custom[..., 3] = rows, cols
    custom[..., 4] = bias[tiled.filters][:, None, None]
    where = "input map %{customdata[1]}, " if per_channel else ""
    what = "" if n_in == 1 or per_channel else f" (mean over {n_in} input maps)"
    hover = (f"filter %{{customdata[0]}}<br>{where}row %{{customdata[2]}}, col %{{customdata[3]}}"
             f"<br>{value_name}{what} = %{{z:.4g}}")
    if biases is not None:
        hover += "<br>bias of the filter = %{customdata[4]:.4g}"
    if per_channel and columns and columns < n_in:  # wrapped rows: each tile says which map
        labels, axis_labels = [f"map {c}" for c in tiled.channels], None
    elif per_channel:  # a row per filter, a column per input map: named on the axes
        labels = None
        axis_labels = ([f"filter {ids[f]}" for f in range(n_filters)], [f"map {c}" for c in range(n_in)])
        columns = n_in
    else:
        labels, axis_labels = [str(ids[f]) for f in tiled.filters], None
        columns = columns or default_columns(n, aspect=4)
    return _tiled_figure(
        tiled.tiles, custom=custom, hovertemplate=hover + "<extra></extra>", columns=columns,
        zmin=-zmax, zmax=zmax, colorscale=_diverging(projector), colorbar_title=value_name, labels=labels,
        axis_labels=axis_labels, title=title, projector=projector, height=height, width=width,
        background=TILE_BACKGROUND,
        meta={"kind": "filters", "view": "channels" if per_channel else "mean",
              "filters": ids[tiled.filters].tolist(), "channels": tiled.channels.tolist()})


def feature_maps_figure(
    maps,
    pre_activations=None,
    *,
    columns: int | None = None,
    zmax: float | None = None,
    title: str | None = None,
    value_name: str = "a",
    projector: bool = False,
    height: int | None = None,
    width: int = 900,
) -> go.Figure:
    """One image's feature maps: a tile per filter, ``(H, W)`` each, on one colour range
    for the whole layer (so a bright map really responds more than a dim one).

    maps: ``(H, W, F)`` (``nn.analysis.trace_image(...).feature_maps[l]`` or
        ``.pooled_maps[l]``). pre_activations: the maps' ``z`` ``(H, W, F)``, on hover.
    Non-negative maps (ReLU) get the sequential scale from 0; maps with negative values
    (tanh, leaky ReLU) the diverging one, symmetric around 0.
    zmax: the top of the range (default: the largest ``|value|``); pass the un-pooled
        maps' to draw the pooled maps on the same scale.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"expected feature maps of shape (H, W, F), got {maps.shape}")
    height_px, width_px, n_filters = maps.shape
    tiles = maps.transpose(2, 0, 1)
    zmax = float(zmax) if zmax is not None else symmetric_zmax(tiles, 100)
    diverging = float(np.nanmin(maps, initial=0.0)) < 0
    rows, cols = np.meshgrid(np.arange(height_px), np.arange(width_px), indexing="ij")
    with_z = pre_activations is not None and maps.size <= 20_000  # keep big layers light
    custom = np.empty((n_filters, height_px, width_px, 4 if with_z else 3))
    custom[..., 0] = np.arange(n_filters)[:, None, None]
    custom[..., 1], custom[..., 2] = rows, cols
    hover = f"filter %{{customdata[0]}}<br>row %{{customdata[1]}}, col %{{customdata[2]}}<br>{value_name} = %{{z:.4g}}"
    if with_z:
        custom[..., 3] = np.asarray(pre_activations).transpose(2, 0, 1)
        hover += "<br>z = %{customdata[3]:.4g}"
    return _tiled_figure(
        tiles, custom=custom, hovertemplate=hover + "<extra></extra>", columns=columns,
        zmin=-zmax if diverging else 0.0, zmax=zmax,
        colorscale=_diverging(projector) if diverging else SEQUENTIAL, colorbar_title=value_name,
        labels=[str(f) for f in range(n_filters)], title=title, projector=projector,
        height=height, width=width, background="#ffffff", meta={"kind": "maps"})


def position_weights_figure(
    values,
    *,
    columns: int | None = None,
    zmax: float | None = None,
    title: str | None = None,
    value_name: str = "w",
    projector: bool = False,
    height: int | None = None,
    width: int = 900,
) -> go.Figure:
    """Per-position values over a conv layer's pooled maps, a tile per filter, on a
    symmetric diverging scale: e.g. the first dense unit's incoming weights
    ``W[:, j].reshape(H, W, F)`` (where in each map it reads evidence) or
    ``nn.analysis.filter_contributions(...).maps`` (where the evidence came from).

    values: ``(H, W, F)``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3:
        raise ValueError(f"expected values of shape (H, W, F), got {values.shape}")
    height_px, width_px, n_filters = values.shape
    tiles = values.transpose(2, 0, 1)
    zmax = float(zmax) if zmax is not None else symmetric_zmax(tiles, 100)
    rows, cols = np.meshgrid(np.arange(height_px), np.arange(width_px), indexing="ij")
    custom = np.empty((n_filters, height_px, width_px, 3))
    custom[..., 0] = np.arange(n_filters)[:, None, None]
    custom[..., 1], custom[..., 2] = rows, cols
    hover = (f"filter %{{customdata[0]}}, map row %{{customdata[1]}}, col %{{customdata[2]}}"
             f"<br>{value_name} = %{{z:.4g}}<extra></extra>")
    return _tiled_figure(
        tiles, custom=custom, hovertemplate=hover, columns=columns, zmin=-zmax, zmax=zmax,
        colorscale=_diverging(projector), colorbar_title=value_name,
        labels=[str(f) for f in range(n_filters)], title=title, projector=projector,
        height=height, width=width, background=TILE_BACKGROUND, meta={"kind": "positions"})


def filter_detail_figure(
    tile,
    *,
    zmax: float | None = None,
    title: str | None = None,
    value_name: str = "w",
    projector: bool = False,
    height: int = 340,
) -> go.Figure:
    """One k x k filter, large, every weight written in its cell (``tile``: ``(k, k)``)."""
    tile = np.asarray(tile, dtype=np.float64)
    k = tile.shape[0]
    zmax = float(zmax) if zmax is not None else symmetric_zmax(tile, 100)
    font = _fonts(projector)
    fig = go.Figure(go.Heatmap(
        z=tile.astype(np.float32), zmin=-zmax, zmax=zmax, colorscale=_diverging(projector),
        text=np.vectorize(lambda v: f"{v:.2f}")(tile), texttemplate="%{text}" if k <= 7 else None,
        textfont=dict(size=font["size"] - (1 if k <= 5 else 3)),
        colorbar=dict(title=dict(text=value_name), thickness=12, tickfont=font), xgap=1, ygap=1,
        hovertemplate=f"row %{{y}}, col %{{x}}<br>{value_name} = %{{z:.4g}}<extra></extra>",
    ))
    fig.update_xaxes(range=[-0.5, k - 0.5], constrain="domain")
    fig.update_yaxes(range=[k - 0.5, -0.5], scaleanchor="x", scaleratio=1, constrain="domain")
    _hide_axes(fig)
    fig.update_layout(title=dict(text=title, x=0, xanchor="left") if title else None, height=height,
                      margin=dict(l=4, r=4, t=40 if title else 4, b=4), font=font, plot_bgcolor="#ffffff")
    return fig
