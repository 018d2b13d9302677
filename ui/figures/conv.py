"""Convolution figures (the Weights, Gradients and Activations pages for a CNN): filters,
feature maps, per-position weights over the pooled maps, one filter large. Plain
functions, no Streamlit.

Every figure here tiles small pictures (k x k filters, H x W feature maps) into one
heatmap with a one-cell gap (NaN) between tiles, like the weight grid, and records the
tiling in ``fig.layout.meta["tiles"]`` so :func:`tiles_of` can read the exact values back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from nn.analysis import symmetric_zmax
from ui.figures.style import (
    SEQUENTIAL,
    TILE_BACKGROUND,
    diverging,
    fonts,
    hide_axes,
    image_axes,
    layout_grid,
)
from ui.figures.tiles import default_columns, filter_tiles, tile_maps

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
    figure is drawn at, for its height. (Its length is the signature of 17 keywords that
    its three callers set; the labels are helpers below.)
    """
    tiles = np.asarray(tiles)
    n, h, w = tiles.shape
    columns = max(1, min(int(columns) if columns else default_columns(n), max(n, 1)))
    font = fonts(projector)
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
    layout_grid(fig, grid.shape, title, font, height)
    fig.update_layout(plot_bgcolor=background)
    pitch_y = h + (band or 1)
    _label_tiles(fig, labels, n, columns, band, (h, w), font)
    if axis_labels is not None:
        _label_axes(fig, axis_labels, band, (h, w), font, title)
    fig.update_layout(meta={"tiles": {**meta, "n": n, "shape": [h, w], "columns": columns, "band": band,
                                      "row_pitch": pitch_y,
                                      "zmin": float(zmin), "zmax": float(zmax)}})
    return fig


def _label_tiles(fig, labels, n: int, columns: int, band: int, shape, font) -> None:
    """One label per tile: centred in the band above a small tile, in the top-left corner of
    a big one."""
    h, w = shape
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


def _label_axes(fig, axis_labels, band: int, shape, font, title) -> None:
    """Names per tile row (on the y axis) and per tile column (above the grid)."""
    h, w = shape
    pitch_y = h + (band or 1)
    row_names, column_names = axis_labels
    fig.update_yaxes(showticklabels=True, ticks="", tickfont=dict(size=font["size"] - 2),
                     tickvals=[band + r * pitch_y + (h - 1) / 2 for r in range(len(row_names))],
                     ticktext=list(row_names))
    fig.update_xaxes(showticklabels=True, ticks="", side="top", tickfont=dict(size=font["size"] - 2),
                     tickvals=[c * (w + 1) + (w - 1) / 2 for c in range(len(column_names))],
                     ticktext=list(column_names))
    fig.update_layout(margin=dict(l=60, t=(80 if title else 30)))


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
    custom, hover = _filter_hover(tiled, ids, bias, n_in, per_channel, value_name, biases is not None)
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
        zmin=-zmax, zmax=zmax, colorscale=diverging(projector), colorbar_title=value_name, labels=labels,
        axis_labels=axis_labels, title=title, projector=projector, height=height, width=width,
        background=TILE_BACKGROUND,
        meta={"kind": "filters", "view": "channels" if per_channel else "mean",
              "filters": ids[tiled.filters].tolist(), "channels": tiled.channels.tolist()})


def _filter_hover(tiled, ids, bias, n_in: int, per_channel: bool, value_name: str, with_bias: bool):
    """(customdata ``(n, k, k, 5)``, hover template) of the filter tiles: filter, input map,
    row, col and the filter's bias."""
    n, k = len(tiled.tiles), tiled.tiles.shape[1]
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
    if with_bias:
        hover += "<br>bias of the filter = %{customdata[4]:.4g}"
    return custom, hover


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
    signed = float(np.nanmin(maps, initial=0.0)) < 0
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
        zmin=-zmax if signed else 0.0, zmax=zmax,
        colorscale=diverging(projector) if signed else SEQUENTIAL, colorbar_title=value_name,
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
        colorscale=diverging(projector), colorbar_title=value_name,
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
    font = fonts(projector)
    fig = go.Figure(go.Heatmap(
        z=tile.astype(np.float32), zmin=-zmax, zmax=zmax, colorscale=diverging(projector),
        text=np.vectorize(lambda v: f"{v:.2f}")(tile), texttemplate="%{text}" if k <= 7 else None,
        textfont=dict(size=font["size"] - (1 if k <= 5 else 3)),
        colorbar=dict(title=dict(text=value_name), thickness=12, tickfont=font), xgap=1, ygap=1,
        hovertemplate=f"row %{{y}}, col %{{x}}<br>{value_name} = %{{z:.4g}}<extra></extra>",
    ))
    image_axes(fig, k, k)
    hide_axes(fig)
    fig.update_layout(title=dict(text=title, x=0, xanchor="left") if title else None, height=height,
                      margin=dict(l=4, r=4, t=40 if title else 4, b=4), font=font, plot_bgcolor="#ffffff")
    return fig

