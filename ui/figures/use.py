"""Figures for the Draw, Evaluate, Data and Models pages: arrays in, Plotly figures out.

Plain functions, no Streamlit, so each is tested directly (tests/test_use_figures.py).
The numbers they draw (confusion counts, class counts, mean images...) come from
``lab/evaluation.py, lab/data.py, lab/model_files.py``.

Digits are drawn the way the other pages draw them: ink dark on white paper
(:data:`INK_ON_PAPER`), except the Draw page's "what the network sees", which copies the
canvas' own look, white ink on black (:data:`INK_ON_BLACK`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from datasets import class_noun

IMAGE_SIDE = 28
INK_ON_PAPER = [[0.0, "#ffffff"], [1.0, "#000000"]]  # 0 = paper, 1 = ink
INK_ON_BLACK = [[0.0, "#000000"], [1.0, "#ffffff"]]
HIGHLIGHT = "#D55E00"  # Okabe-Ito vermilion: the top guess, wrong answers
MUTED = "#8DA0B6"
CORRECT = "#0072B2"  # Okabe-Ito blue
GAP_COLOR = "#c8ccd4"
# Okabe-Ito: distinct under colour-vision deficiencies (one colour per run).
RUN_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
CLICK_TRACE_NAME = "cells"
FONT = dict(size=13)


def _names(n: int, class_names=None) -> list[str]:
    return [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(n)]


def _every_tick(names: Sequence[str]) -> dict:
    """A category axis that labels every class (Plotly would skip every other one of 26
    letters), in a smaller font when there are many."""
    return dict(type="category", tickmode="array", tickvals=list(names), ticktext=list(names),
                tickfont=dict(size=13 if len(names) <= 26 else 10))


def _noun(names: Sequence[str]) -> str:
    """"digit" for 0-9 (and unnamed classes), "letter" or "character" otherwise."""
    return "digit" if all(n.isdigit() for n in names) else class_noun(names)


def _as_unit_images(images) -> np.ndarray:
    """``(k, 784)`` float32 in [0, 1] from uint8 (0-255) or float (0-1) rows or 28 x 28 images."""
    images = np.asarray(images)
    if images.ndim == 1 or images.shape[-2:] == (IMAGE_SIDE, IMAGE_SIDE) and images.ndim == 2:
        images = images.reshape(1, -1)
    images = images.reshape(len(images), -1)
    if images.shape[1] != IMAGE_SIDE * IMAGE_SIDE:
        raise ValueError(f"expected images of 784 pixels, got shape {images.shape}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    return images.astype(np.float32) / np.float32(scale)


def _hide_axes(fig: go.Figure) -> None:
    kw = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", showline=False)
    fig.update_xaxes(**kw)
    fig.update_yaxes(**kw)


# ---------------------------------------------------------------------------------
# Draw page
# ---------------------------------------------------------------------------------


def probability_figure(probabilities, class_names=None, *, height: int = 300) -> go.Figure:
    """The network's probabilities, one bar per class (``class_names``, default "0".."9"),
    the top guess highlighted and labelled."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    names = _names(len(p), class_names)
    noun = _noun(names)
    top = int(p.argmax())
    fig = go.Figure(go.Bar(
        x=names, y=p, marker=dict(color=[HIGHLIGHT if i == top else MUTED for i in range(len(p))]),
        text=[f"{v:.0%}" if v >= 0.005 else "" for v in p] if len(p) <= 26 else None,
        textposition="outside", hovertemplate=f"{noun} %{{x}}: %{{y:.2%}}<extra></extra>",
        name="probability",
    ))
    fig.update_layout(
        height=height, font=FONT, plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(**_every_tick(names), title=noun),
        yaxis=dict(range=[0, 1.15], tickformat=".0%", title="probability", gridcolor="#eeeeee"),
    )
    return fig


def digit_figure(image, *, ink_on_black: bool = False, title: str | None = None,
                 height: int = 280) -> go.Figure:
    """One 28 x 28 digit; hover gives each pixel's value (0 = paper, 1 = ink)."""
    pixels = _as_unit_images(image)[0].reshape(IMAGE_SIDE, IMAGE_SIDE)
    fig = go.Figure(go.Heatmap(
        z=pixels, zmin=0, zmax=1, showscale=False,
        colorscale=INK_ON_BLACK if ink_on_black else INK_ON_PAPER,
        hovertemplate="pixel (row %{y}, col %{x})<br>value %{z:.2f}<extra></extra>",
    ))
    fig.update_xaxes(range=[-0.5, IMAGE_SIDE - 0.5], constrain="domain")
    fig.update_yaxes(range=[IMAGE_SIDE - 0.5, -0.5], scaleanchor="x", scaleratio=1, constrain="domain")
    _hide_axes(fig)
    fig.update_layout(title=dict(text=title, x=0, xanchor="left") if title else None, height=height,
                      font=FONT, margin=dict(l=4, r=4, t=36 if title else 4, b=4),
                      plot_bgcolor="#000000" if ink_on_black else "#ffffff", dragmode=False)
    return fig


# ---------------------------------------------------------------------------------
# Evaluate page
# ---------------------------------------------------------------------------------


def confusion_matrix_figure(counts, *, normalised: bool = False, class_names=None,
                            selected: tuple[int, int] | None = None, height: int = 560) -> go.Figure:
    """Confusion matrix: row = true class, column = predicted class.

    counts: ``(k, k)`` integers, ``counts[t, p]`` = images of class ``t`` read as ``p``.
    class_names: the axis labels (default "0".."k-1"); the axis titles say "digit" for
        digits, "letter" or "character" for other names.
    normalised: show each row as percentages of that class's images (the recall on the
        diagonal) instead of counts.
    selected: ``(true, predicted)`` of a cell to outline.

    Right answers (the diagonal) are coloured blue, mistakes orange-red, each on its own
    scale: otherwise the big diagonal would leave every mistake white. Every cell carries an
    invisible marker so that a click selects it (Plotly selects only point-like traces,
    never heatmap cells); the point's ``x, y`` are the predicted and true class names.
    """
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"expected a square matrix of counts, got shape {counts.shape}")
    k = counts.shape[0]
    names = _names(k, class_names)
    noun = _noun(names)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=np.float64),
                       where=totals > 0)
    shown = shares if normalised else counts.astype(np.float64)
    diagonal = np.eye(k, dtype=bool)
    right = np.where(diagonal, shown, np.nan)
    wrong = np.where(diagonal, np.nan, shown)
    wrong_max = float(np.nanmax(wrong)) if k > 1 and np.nanmax(wrong) > 0 else 1.0
    right_max = float(np.nanmax(right)) if np.nanmax(right) > 0 else 1.0
    text = np.empty((k, k), dtype=object)
    for t in range(k):
        for p in range(k):
            if normalised:
                text[t, p] = f"{100 * shares[t, p]:.1f}" if counts[t, p] else ""
            else:
                text[t, p] = str(int(counts[t, p])) if counts[t, p] else ""
    fig = go.Figure()
    for z, colorscale, zmax, name in (
            (right, [[0, "#deebf7"], [1, "#08519c"]], right_max, "right"),
            (wrong, [[0, "#fff5eb"], [0.0001, "#fee6ce"], [1, "#d94801"]], wrong_max, "mistakes")):
        fig.add_trace(go.Heatmap(
            z=z, x=names, y=names, text=np.where(np.isnan(z), "", text), texttemplate="%{text}",
            colorscale=colorscale, zmin=0, zmax=zmax, showscale=False, hoverongaps=False,
            hoverinfo="skip", name=name, xgap=1, ygap=1,
        ))
    # The hover and the clicks belong to one invisible marker per cell.
    cells_t, cells_p = np.divmod(np.arange(k * k), k)
    fig.add_trace(go.Scatter(
        x=[names[p] for p in cells_p], y=[names[t] for t in cells_t],
        customdata=np.column_stack([counts.reshape(-1), 100 * shares.reshape(-1)]),
        mode="markers", name=CLICK_TRACE_NAME, showlegend=False,
        marker=dict(size=30 if k <= 12 else max(8, 300 // k), opacity=0, color="#000000"),
        selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
        hovertemplate=("true %{y}, predicted %{x}: %{customdata[0]} images"
                       "<br>(%{customdata[1]:.1f}% of the %{y}s) · click to see them<extra></extra>"),
    ))
    if selected is not None:
        t, p = selected
        if 0 <= t < k and 0 <= p < k:
            fig.add_shape(type="rect", x0=p - 0.5, x1=p + 0.5, y0=t - 0.5, y1=t + 0.5,
                          line=dict(color="#000000", width=3))
    fig.update_layout(
        height=height, font=FONT, plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=10, b=10),
        hovermode="closest", hoverdistance=40, clickmode="event+select", dragmode=False,
        meta={"counts": counts.astype(int).tolist(), "normalised": bool(normalised)},
    )
    fig.update_xaxes(title=f"predicted {noun}", side="top", fixedrange=True, **_every_tick(names))
    fig.update_yaxes(title=f"true {noun}", autorange="reversed", fixedrange=True, **_every_tick(names),
                     scaleanchor="x", scaleratio=1, constrain="domain")
    return fig


def cell_from_selection(event, n_classes: int = 10, class_names=None) -> tuple[int, int] | None:
    """``(true, predicted)`` of the cell a click on :func:`confusion_matrix_figure` picked.

    ``event`` is what ``st.plotly_chart(..., on_select=...)`` reports:
    ``{"selection": {"points": [{"x": "9", "y": "4", ...}]}}`` (category names: the
    figure's ``class_names``, default "0".."n_classes-1").
    """
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    index = {name: k for k, name in enumerate(_names(n_classes, class_names))}
    for point in points or []:
        try:
            true, predicted = index[str(point["y"])], index[str(point["x"])]
        except (KeyError, TypeError):
            continue
        if 0 <= true < n_classes and 0 <= predicted < n_classes:
            return true, predicted
    return None


def gallery_figure(images, captions: Sequence[str] | None = None, columns: int = 10, *,
                   row_labels: Sequence[str] | None = None, title: str | None = None,
                   caption_colors: Sequence[str] | None = None, tile_px: int = 62,
                   caption_size: int = 11, height: int | None = None) -> go.Figure:
    """Digits side by side, ``columns`` per row, each with an optional caption above it.

    images: ``(k, 784)`` uint8 (0-255) or float (0-1); a row of NaN leaves its slot empty
        (e.g. a digit with fewer samples than the others).
    captions: one short text per image (also shown on hover).
    row_labels: a label left of each row (e.g. the digit of a per-class grid).
    tile_px: about how many screen pixels each 28-pixel tile gets (sets the height).
    """
    pictures = _as_unit_images(images) if len(np.asarray(images)) else np.zeros((0, 784), np.float32)
    k = len(pictures)
    columns = max(1, min(int(columns), max(k, 1)))
    rows = max(1, -(-k // columns))
    caption_px = 9 if captions is not None else 0  # grid rows kept above each tile for its caption
    gap = 2
    pitch_x, pitch_y = IMAGE_SIDE + gap, IMAGE_SIDE + gap + caption_px
    grid = np.full((rows * pitch_y, columns * pitch_x - gap), np.nan, dtype=np.float32)
    for i in range(k):
        r, c = divmod(i, columns)
        top, left = r * pitch_y + caption_px, c * pitch_x
        grid[top: top + IMAGE_SIDE, left: left + IMAGE_SIDE] = pictures[i].reshape(IMAGE_SIDE, IMAGE_SIDE)
    hover = np.full(grid.shape, "", dtype=object)
    if captions is not None:
        for i, caption in enumerate(list(captions)[:k]):
            r, c = divmod(i, columns)
            top, left = r * pitch_y + caption_px, c * pitch_x
            hover[top: top + IMAGE_SIDE, left: left + IMAGE_SIDE] = str(caption)
    fig = go.Figure(go.Heatmap(
        z=grid, zmin=0, zmax=1, colorscale=INK_ON_PAPER, showscale=False, hoverongaps=False,
        text=hover, hovertemplate="%{text}<extra></extra>" if captions is not None
        else "pixel %{z:.2f}<extra></extra>",
    ))
    if captions is not None:
        colors = list(caption_colors) if caption_colors is not None else ["#1d2333"] * k
        for i, caption in enumerate(list(captions)[:k]):
            r, c = divmod(i, columns)
            fig.add_annotation(x=c * pitch_x + IMAGE_SIDE / 2 - 0.5, y=r * pitch_y + caption_px - 1.5,
                               text=str(caption), showarrow=False, yanchor="bottom",
                               font=dict(size=caption_size, color=colors[i % len(colors)]))
    width_px = grid.shape[1]
    fig.update_xaxes(range=[-0.5, width_px - 0.5], constrain="domain")
    fig.update_yaxes(range=[grid.shape[0] - 0.5, -0.5], scaleanchor="x", scaleratio=1, constrain="domain")
    _hide_axes(fig)
    left_margin = 4
    if row_labels is not None:
        left_margin = 36
        fig.update_yaxes(showticklabels=True, tickmode="array",
                         tickvals=[r * pitch_y + caption_px + IMAGE_SIDE / 2 for r in range(rows)],
                         ticktext=[str(label) for label in list(row_labels)[:rows]],
                         tickfont=dict(size=15))
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left") if title else None,
        height=height or int(rows * pitch_y * tile_px / IMAGE_SIDE) + (44 if title else 12),
        margin=dict(l=left_margin, r=4, t=40 if title else 6, b=4), font=FONT,
        plot_bgcolor="#ffffff", dragmode=False,
    )
    fig.update_layout(meta={"gallery": {"columns": columns, "rows": rows, "n": k}})
    return fig


# ---------------------------------------------------------------------------------
# Data page
# ---------------------------------------------------------------------------------


def samples_figure(images, sample_indices, class_names=None, *, tile_px: int = 44) -> go.Figure:
    """A grid of sample images, one row per class (labelled with ``class_names``).

    sample_indices: ``(n_classes, per_class)`` indices into ``images``; -1 = no image
    (that class has fewer samples), left empty.
    """
    images = np.asarray(images)
    index = np.asarray(sample_indices)
    n_classes, per_class = index.shape
    tiles = np.full((n_classes * per_class, IMAGE_SIDE * IMAGE_SIDE), np.nan, dtype=np.float32)
    present = index.reshape(-1) >= 0
    if present.any():
        tiles[present] = _as_unit_images(images[index.reshape(-1)[present]])
    return gallery_figure(tiles, columns=per_class, row_labels=_names(n_classes, class_names),
                          tile_px=tile_px)


def class_counts_figure(train_counts, validation_counts=None, class_names=None, *,
                        height: int = 320) -> go.Figure:
    """Images per class: training and (stacked on top) validation."""
    train = np.asarray(train_counts, dtype=np.int64)
    names = _names(len(train), class_names)
    noun = _noun(names)
    fig = go.Figure(go.Bar(x=names, y=train, name="training", marker_color=CORRECT,
                           hovertemplate=f"{noun} %{{x}}: %{{y:,}} training images<extra></extra>"))
    if validation_counts is not None:
        fig.add_trace(go.Bar(x=names, y=np.asarray(validation_counts, dtype=np.int64),
                             name="validation", marker_color="#E69F00",
                             hovertemplate=f"{noun} %{{x}}: %{{y:,}} validation images<extra></extra>"))
    fig.update_layout(
        barmode="stack", height=height, font=FONT, plot_bgcolor="#ffffff",
        margin=dict(l=10, r=10, t=30, b=10), xaxis=dict(**_every_tick(names), title=noun),
        yaxis=dict(title="images", gridcolor="#eeeeee"),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0,
                    traceorder="normal"),
    )
    return fig


def mean_images_figure(means, class_names=None, *, tile_px: int = 80,
                       max_columns: int = 13) -> go.Figure:
    """The average image of each class (``(n_classes, 784)`` in [0, 1]), captioned with
    ``class_names``: in one row, or in even rows of at most ``max_columns`` (26 letters:
    2 rows of 13)."""
    means = np.asarray(means, dtype=np.float32)
    names = _names(len(means), class_names)
    rows = -(-len(means) // max_columns)
    return gallery_figure(means, captions=names, columns=-(-len(means) // rows), tile_px=tile_px,
                          caption_size=14)


# ---------------------------------------------------------------------------------
# Models page
# ---------------------------------------------------------------------------------


def run_curves_figure(curves: Sequence[dict], *, y_title: str, percent: bool = False,
                      height: int = 320) -> go.Figure:
    """Several runs' curves overlaid, one colour per run.

    curves: ``{"name", "epoch", "values"}`` dicts, plus optional ``"dash"`` (a Plotly
    dash style, e.g. "dot" for training curves next to solid validation curves) and
    ``"color"`` (default: one Okabe-Ito colour per distinct name, in order).
    percent: values are fractions drawn as percentages.
    """
    fig = go.Figure()
    colors: dict[str, str] = {}
    for curve in curves:
        run = curve.get("group", curve["name"])
        color = curve.get("color") or colors.setdefault(run, RUN_COLORS[len(colors) % len(RUN_COLORS)])
        values = np.asarray(curve["values"], dtype=np.float64)
        fig.add_trace(go.Scatter(
            x=np.asarray(curve["epoch"], dtype=np.float64), y=100 * values if percent else values,
            name=curve["name"], mode="lines+markers" if len(values) < 40 else "lines",
            line=dict(color=color, dash=curve.get("dash", "solid")), marker=dict(size=5),
        ))
    fig.update_layout(
        height=height, font=FONT, plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=30, b=10),
        xaxis=dict(title="epoch", gridcolor="#eeeeee"),
        yaxis=dict(title=y_title, gridcolor="#eeeeee", ticksuffix="%" if percent else ""),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
        hovermode="x unified",
    )
    return fig
