"""Gradient figures (the Gradients page): per-layer norms over training with the
vanishing and exploding zones, histograms of the latest gradients, dead ReLUs, saliency
maps, the gradient check's relative errors. Plain functions, no Streamlit; the NumPy
they draw is in ``nn/analysis.py`` and ``lab/inspection.py``.
"""

from __future__ import annotations

import math
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
from ui.figures.style import (
    EXPLODING_FILL,
    GRID_LINES,
    HIGHLIGHT,
    INK_ON_PAPER,
    OKABE_ITO,
    VANISHING_FILL,
    diverging,
    fonts,
    hide_axes,
    image_axes,
)
from ui.figures.tiles import IMAGE_SIDE


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
    (Its length is the signature and this docstring; the zones and guides are helpers below.)
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
    font = fonts(projector)
    for position, p in enumerate(shown):
        values = panels_values[p]
        row, col = (position + 1, 1) if stacked else (1, position + 1)
        includes = (vanishing / 10, exploding * 10) if p == 0 else ((update_guide,) if p == 2 else ())
        low, high = _log_range(values, includes)
        for layer in range(n_layers):
            fig.add_trace(go.Scatter(
                x=steps, y=_positive_for_log(values[:, layer], low), customdata=values[:, layer],
                mode="lines", name=names[layer], legendgroup=names[layer], showlegend=(position == 0),
                line=dict(color=OKABE_ITO[layer % len(OKABE_ITO)], width=3 if projector else 2),
                hovertemplate=f"{names[layer]}<br>step %{{x}}<br>%{{customdata:.3g}}<extra></extra>",
            ), row=row, col=col)
        fig.update_yaxes(type="log", range=[math.log10(low), math.log10(high)], exponentformat="power",
                         row=row, col=col)
        fig.update_xaxes(title_text="step", row=row, col=col)
        if p == 0:
            _mark_gradient_zones(fig, (row, col, cols), low, high, vanishing, exploding, font)
        if p == 2:
            _mark_update_guide(fig, (row, col, cols), update_guide, font)
    fig.update_layout(
        height=height or (300 * len(shown) if stacked else 380), font=font, plot_bgcolor="#ffffff",
        margin=dict(l=10, r=10, t=80, b=10), hovermode="closest", uirevision="keep",
        legend=dict(orientation="h", yanchor="bottom", y=1.12 if not stacked else 1.04, xanchor="left", x=0),
    )
    fig.update_xaxes(showgrid=True, gridcolor=GRID_LINES)
    fig.update_yaxes(showgrid=True, gridcolor=GRID_LINES)
    return fig


def _mark_gradient_zones(fig, where, low, high, vanishing, exploding, font) -> None:
    """Shade the vanishing (below ``vanishing``) and exploding (above ``exploding``) zones of
    the gradient panel at ``where`` = (row, col, n_cols), a dashed line and a label each."""
    row, col, cols = where
    fig.add_hrect(y0=low, y1=vanishing, fillcolor=VANISHING_FILL, line_width=0, layer="below",
                  row=row, col=col)
    fig.add_hrect(y0=exploding, y1=high, fillcolor=EXPLODING_FILL, line_width=0, layer="below",
                  row=row, col=col)
    for level, text, anchor in ((vanishing, f"vanishing < {_num(vanishing)}: layer stops learning", "top"),
                                (exploding, f"exploding > {_num(exploding)}: steps overshoot", "bottom")):
        fig.add_hline(y=level, line=dict(color="#555555", width=1, dash="dash"), row=row, col=col)
        _guide_label(fig, where, level, text, anchor, font)


def _mark_update_guide(fig, where, update_guide, font) -> None:
    """A dotted line at a typical healthy update / weight ratio, labelled."""
    row, col, _ = where
    fig.add_hline(y=update_guide, line=dict(color="#555555", width=1, dash="dot"), row=row, col=col)
    _guide_label(fig, where, update_guide, f"≈ {_num(update_guide)}: a typical healthy step", "bottom", font)


def _guide_label(fig, where, level, text, anchor, font) -> None:
    """A label at the left end of a guide line on a log axis (its y is log10 of the level)."""
    row, col, cols = where
    fig.add_annotation(x=0.01, xref=_axis_ref("x", row, col, cols) + " domain",
                       y=math.log10(level), yref=_axis_ref("y", row, col, cols),
                       text=text, showarrow=False, xanchor="left", yanchor=anchor,
                       font=dict(size=font["size"] - 2, color="#333333"))


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
            marker=dict(color=OKABE_ITO[i % len(OKABE_ITO)], line_width=0),
            customdata=np.stack([edges[:-1], edges[1:]], axis=-1),
            hovertemplate="%{customdata[0]:.2g} … %{customdata[1]:.2g}: %{y} values<extra></extra>",
        ), row=i // cols + 1, col=i % cols + 1)
    if log_counts:
        fig.update_yaxes(type="log")
    fig.update_xaxes(exponentformat="e", showexponent="all", nticks=5)
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), height=height * rows,
                      bargap=0, font=fonts(projector), plot_bgcolor="#ffffff",
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
            line=dict(color=OKABE_ITO[i % len(OKABE_ITO)], width=3 if projector else 2),
            hovertemplate=f"{names[i]}<br>step %{{x}}<br>%{{y:.1f}}% dead<extra></extra>",
        ))
    fig.update_layout(
        title=dict(text="dead ReLUs: units that output 0 for every image of the batch", x=0,
                   xanchor="left"),
        xaxis_title="step", yaxis=dict(title="% of the layer's units", range=[0, 100], ticksuffix="%"),
        height=height, font=fonts(projector), plot_bgcolor="#ffffff", showlegend=True,
        margin=dict(l=10, r=10, t=50, b=10), uirevision="keep",
    )
    fig.update_yaxes(showgrid=True, gridcolor=GRID_LINES)
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
        z=pixels.reshape(IMAGE_SIDE, IMAGE_SIDE), zmin=0, zmax=1, colorscale=INK_ON_PAPER, showscale=False,
        hovertemplate="pixel (row %{y}, col %{x})<br>value %{z:.2f}<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Heatmap(
        z=gradient.reshape(IMAGE_SIDE, IMAGE_SIDE).astype(np.float32), zmin=-zmax, zmax=zmax,
        colorscale=diverging(projector), colorbar=dict(title=dict(text="dJ/dx"), thickness=12),
        hovertemplate=("pixel (row %{y}, col %{x})<br>dJ/dx = %{z:.3g}<br>"
                       "red: brighter → higher loss · blue: brighter → lower loss<extra></extra>"),
    ), row=1, col=2)
    for col in (1, 2):
        image_axes(fig, IMAGE_SIDE, IMAGE_SIDE, row=1, col=col, anchor="x" if col == 1 else "x2")
    hide_axes(fig)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), font=fonts(projector))
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
    colors = [OKABE_ITO[0] if e <= good else (OKABE_ITO[1] if e <= bad else HIGHLIGHT)
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
                     title="relative error", showgrid=True, gridcolor=GRID_LINES)
    fig.update_layout(title=dict(text="gradient check: backprop vs finite differences", x=0,
                                 xanchor="left"),
                      height=height, plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=50, b=10),
                      xaxis=dict(type="category"))
    return fig
