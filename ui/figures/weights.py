"""Weight figures (the Weights page; the Gradients page's first-layer maps): every unit's
28 x 28 incoming weights as one clickable grid, one unit large, its outgoing weights,
deeper weight matrices, class templates. Plain functions, no Streamlit.

The weight grid (:func:`weight_grid_figure`) draws every unit's 28 x 28 incoming weights
as tiles of one picture with 1-pixel gaps, in one of two encodings:

- ``"heatmap"`` (small grids): a single ``go.Heatmap`` of the exact float32 values, NaN
  in the gaps, hover showing unit, pixel (row, col) and value.
- ``"image"`` (big grids): the tiles as one palette PNG (``go.Image`` with a data URI,
  ``ui/figures/png.py``), colours quantised to at most 255 levels and fewer if needed to
  stay within the payload budget; hover names the unit under the pointer (and its norm)
  through a transparent one-cell-per-unit heatmap on top.

``mode="auto"`` picks the heatmap when its estimated JSON size fits the budget
(:func:`payload_budget`: 150 KiB up to 128 units, 400 KiB above), else the image.
Both share grid coordinates (x = column, y = row, row 0 at the top), and the tiling is
stored in ``fig.layout.meta["grid"]``: :func:`grid_layout_of` turns it back into a
``GridLayout`` whose ``unit_at(x, y)`` maps a click to the unit
(:func:`unit_from_selection` does it for a Streamlit selection event).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nn.analysis import symmetric_zmax
from ui.figures.png import fit_image, grid_from_png_uri
from ui.figures.style import (
    GRID_LINES,
    KIB,
    axis_noun,
    class_names_or_numbers,
    diverging,
    fonts,
    hide_axes,
    image_axes,
    layout_grid,
)
from ui.figures.tiles import IMAGE_SIDE, GridLayout, tile_grid

CLICK_TRACE_NAME = "click targets"


def payload_budget(n_units: int) -> int:
    """Bytes a weight grid may send to the browser: 150 KiB up to 128 units, else 400 KiB."""
    return 150 * KIB if n_units <= 128 else 400 * KIB


def click_targets_bytes(n_units: int) -> int:
    """A generous estimate of the JSON :func:`add_click_targets` adds for ``n_units`` tiles
    (to reserve it from the grid's payload budget)."""
    return int(n_units * 16 * 4 / 3 * 1.1) + 2 * KIB


def grid_budget(n_units: int) -> int:
    """Payload budget of a clickable grid itself: :func:`payload_budget` minus the click targets."""
    return payload_budget(n_units) - click_targets_bytes(n_units)


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
    (Its length is the signature and this docstring; each encoding is a helper below.)
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
    zmax = float(symmetric_zmax(shown, percentile) if zmax is None else zmax)
    budget = int(max_bytes or payload_budget(layout.n_tiles))
    if mode == "auto":
        mode = "heatmap" if _heatmap_bytes(grid.size, int(ids.max(initial=0)) + 1) <= budget else "image"
    if mode not in ("heatmap", "image"):
        raise ValueError(f"mode must be 'auto', 'heatmap' or 'image', got {mode!r}")
    colorscale, font = diverging(projector), fonts(projector)
    colorbar = dict(title=dict(text=value_name), thickness=14 if not projector else 22,
                    tickfont=font, len=0.9)
    hover = dict(unit_name=unit_name, value_name=value_name)
    fig = go.Figure()
    if mode == "heatmap":
        _add_grid_heatmap(fig, grid, layout, zmax, colorscale, colorbar, **hover)
    else:
        _add_grid_image(fig, layout, shown, zmax, colorscale, colorbar, **hover)
    layout_grid(fig, grid.shape, title, font, height)
    _label_tiles(fig, layout, tile_labels, font)
    _outline_unit(fig, layout, selected, projector)
    meta_grid = {**layout.to_dict(), "zmax": zmax, "mode": mode, "value_name": value_name}
    fig.update_layout(meta={"grid": meta_grid})
    if mode == "image":
        meta_grid["levels"] = fit_image(fig, 0, grid, zmax, colorscale, budget)
        fig.update_layout(meta={"grid": meta_grid})
    return fig


def _add_grid_heatmap(fig, grid, layout: GridLayout, zmax, colorscale, colorbar, *,
                      unit_name: str, value_name: str) -> None:
    """The exact values as one heatmap; hover: unit, pixel (row, col) and value."""
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


def _add_grid_image(fig, layout: GridLayout, shown, zmax, colorscale, colorbar, *,
                    unit_name: str, value_name: str) -> None:
    """An empty image trace (the PNG comes last, sized to the budget), one transparent cell
    per tile on top (hover names the unit and its norm; clicks land on it) and an empty
    scatter that carries the colour bar (an image has none)."""
    fig.add_trace(go.Image(source="", x0=0, dx=1, y0=0, dy=1, hoverinfo="skip"))
    per_slot = np.full(layout.rows * layout.columns, np.nan, dtype=np.float32)
    per_slot[: layout.n_tiles] = np.sqrt(np.nansum(np.square(shown.astype(np.float64)), axis=0))  # NaN: not shown
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
    fig.add_trace(colorbar_carrier(zmax, colorscale, colorbar))


def colorbar_carrier(zmax: float, colorscale, colorbar: dict) -> go.Scatter:
    """An invisible trace that shows the colour bar of ``[-zmax, zmax]`` (images have none)."""
    return go.Scatter(
        x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
        marker=dict(color=[0.0], cmin=-zmax, cmax=zmax, colorscale=colorscale,
                    showscale=True, colorbar=colorbar),
    )


def _label_tiles(fig, layout: GridLayout, tile_labels, font) -> None:
    for slot, label in enumerate(list(tile_labels or [])[: layout.n_tiles]):
        r, c = layout.slot_origin(slot)
        fig.add_annotation(x=c + 0.5, y=r + 0.5, text=str(label), showarrow=False,
                           xanchor="left", yanchor="top", font=dict(size=font["size"] + 1),
                           bgcolor="rgba(255,255,255,0.75)", borderpad=1)


def _outline_unit(fig, layout: GridLayout, selected, projector: bool) -> None:
    slot = None if selected is None else layout.slot_of_unit(int(selected))
    if slot is not None:
        r, c = layout.slot_origin(slot)
        fig.add_shape(type="rect", x0=c - 0.5, x1=c + layout.tile - 0.5, y0=r - 0.5,
                      y1=r + layout.tile - 0.5, line=dict(color="#000000", width=4 if projector else 2.5))


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
    return grid_from_png_uri(fig.data[0].source, grid["zmax"], grid["levels"])


def unit_from_selection(selection, fig: go.Figure) -> int | None:
    """The unit a click on a clickable grid picked: ``selection`` is ``st.plotly_chart``'s
    event (``{"selection": {"points": [{"x", "y", ...}]}}``), ``fig`` the grid it was made on."""
    try:
        points = selection["selection"]["points"]
    except (KeyError, TypeError):
        return None
    layout = grid_layout_of(fig)
    for point in points or []:
        try:
            unit = layout.unit_at(point["x"], point["y"])
        except (KeyError, TypeError, ValueError):
            continue
        if unit is not None:
            return unit
    return None


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
    names = class_names_or_numbers(len(outgoing), output_names)
    zmax = float(zmax) if zmax is not None else symmetric_zmax(unit_weights, 100)
    out_max = symmetric_zmax(outgoing, 100)
    label = f"unit {unit}" if unit is not None else "unit"
    font = fonts(projector)
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.17,
        subplot_titles=(f"{label}: incoming weights (bias {bias:+.3g}, "
                        f"‖w‖ = {np.linalg.norm(unit_weights):.3g})", f"{label}: {outgoing_title}"),
    )
    colorscale = diverging(projector)
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
    image_axes(fig, IMAGE_SIDE, IMAGE_SIDE, row=1, col=1)
    hide_axes(fig, row=1, col=1)
    fig.update_xaxes(type="category", title_text="to", row=1, col=2)
    fig.update_yaxes(zeroline=True, zerolinecolor="#444444", showgrid=True, gridcolor=GRID_LINES,
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
    names = class_names_or_numbers(len(outgoing), output_names)
    out_max = symmetric_zmax(outgoing, 100)
    label = f"unit {unit}" if unit is not None else "unit"
    fig = go.Figure(go.Bar(
        x=names, y=outgoing, showlegend=False,
        marker=dict(color=outgoing, colorscale=diverging(projector), cmin=-out_max, cmax=out_max,
                    line=dict(color="#444444", width=0.5)),
        hovertemplate=f"{label} → %{{x}}<br>weight = %{{y:.4g}}<extra></extra>",
    ))
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left"), height=height, font=fonts(projector),
        plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(type="category", title="to"),
        yaxis=dict(title="weight", zeroline=True, zerolinecolor="#444444", showgrid=True,
                   gridcolor=GRID_LINES),
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
    colorscale = diverging(projector)
    font = fonts(projector)
    colorbar = dict(title=dict(text="w"), thickness=14, tickfont=font)
    fig = go.Figure()
    if weights.size * 4 * 4 / 3 + 4 * KIB <= max_bytes:
        x = class_names_or_numbers(n_out, output_names) if output_names is not None else None
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
        fig.add_trace(colorbar_carrier(zmax, colorscale, colorbar))
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
        levels = fit_image(fig, 0, weights.astype(np.float64), zmax, colorscale, max_bytes)
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
    names = class_names_or_numbers(n, class_names)
    noun = axis_noun(names)
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
