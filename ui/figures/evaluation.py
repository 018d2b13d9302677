"""Evaluation figures (the Evaluate page): the confusion matrix, clickable cell by cell.
Plain functions, no Streamlit; the counts come from ``lab/evaluation.py``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.figures.style import FONT, axis_noun, class_names_or_numbers, every_tick

CLICK_TRACE_NAME = "cells"


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
    names = class_names_or_numbers(k, class_names)
    noun = axis_noun(names)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=np.float64),
                       where=totals > 0)
    shown = shares if normalised else counts.astype(np.float64)
    diagonal = np.eye(k, dtype=bool)
    right = np.where(diagonal, shown, np.nan)
    wrong = np.where(diagonal, np.nan, shown)
    wrong_max = float(np.nanmax(wrong)) if k > 1 and np.nanmax(wrong) > 0 else 1.0
    right_max = float(np.nanmax(right)) if np.nanmax(right) > 0 else 1.0
    text = _cell_text(counts, shares, normalised)
    fig = go.Figure()
    for z, colorscale, zmax, name in (
            (right, [[0, "#deebf7"], [1, "#08519c"]], right_max, "right"),
            (wrong, [[0, "#fff5eb"], [0.0001, "#fee6ce"], [1, "#d94801"]], wrong_max, "mistakes")):
        fig.add_trace(go.Heatmap(
            z=z, x=names, y=names, text=np.where(np.isnan(z), "", text), texttemplate="%{text}",
            colorscale=colorscale, zmin=0, zmax=zmax, showscale=False, hoverongaps=False,
            hoverinfo="skip", name=name, xgap=1, ygap=1,
        ))
    fig.add_trace(_cell_markers(counts, shares, names))
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
    fig.update_xaxes(title=f"predicted {noun}", side="top", fixedrange=True, **every_tick(names))
    fig.update_yaxes(title=f"true {noun}", autorange="reversed", fixedrange=True, **every_tick(names),
                     scaleanchor="x", scaleratio=1, constrain="domain")
    return fig


def _cell_text(counts: np.ndarray, shares: np.ndarray, normalised: bool) -> np.ndarray:
    """What each cell says: its count, or its share of the row in percent; empty for 0."""
    k = counts.shape[0]
    text = np.empty((k, k), dtype=object)
    for t in range(k):
        for p in range(k):
            if normalised:
                text[t, p] = f"{100 * shares[t, p]:.1f}" if counts[t, p] else ""
            else:
                text[t, p] = str(int(counts[t, p])) if counts[t, p] else ""
    return text


def _cell_markers(counts: np.ndarray, shares: np.ndarray, names) -> go.Scatter:
    """The hover and the clicks belong to one invisible marker per cell."""
    k = counts.shape[0]
    cells_t, cells_p = np.divmod(np.arange(k * k), k)
    return go.Scatter(
        x=[names[p] for p in cells_p], y=[names[t] for t in cells_t],
        customdata=np.column_stack([counts.reshape(-1), 100 * shares.reshape(-1)]),
        mode="markers", name=CLICK_TRACE_NAME, showlegend=False,
        marker=dict(size=30 if k <= 12 else max(8, 300 // k), opacity=0, color="#000000"),
        selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
        hovertemplate=("true %{y}, predicted %{x}: %{customdata[0]} images"
                       "<br>(%{customdata[1]:.1f}% of the %{y}s) · click to see them<extra></extra>"),
    )


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
    index = {name: k for k, name in enumerate(class_names_or_numbers(n_classes, class_names))}
    for point in points or []:
        try:
            true, predicted = index[str(point["y"])], index[str(point["x"])]
        except (KeyError, TypeError):
            continue
        if 0 <= true < n_classes and 0 <= predicted < n_classes:
            return true, predicted
    return None

