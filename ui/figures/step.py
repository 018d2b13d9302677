"""The Step by step page's figures: one example's pixels and one unit's 28 x 28 maps (its
weights times the pixels, its gradient, its update, the optimiser's state), the output
layer's scores, probabilities and error for that example, and the batch loss step by step.
Plain Plotly, no Streamlit; every value drawn is given, none computed here.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures.images import digit_figure
from ui.figures.style import CORRECT, GRID_LINES, HIGHLIGHT, MUTED, class_names_or_numbers, fonts
from ui.figures.tiles import IMAGE_SIDE
from ui.figures.weights import weight_grid_figure

MARK_COLOUR = "#E69F00"  # Okabe-Ito orange: the numbered pixels of the equation


def mark_pixels(fig: go.Figure, pixels, projector: bool = False) -> go.Figure:
    """Ring ``pixels`` (flat indices into 28 x 28) and number them 1, 2, ... as in the equation."""
    pixels = np.asarray(pixels, dtype=int)
    if pixels.size:
        rows, cols = np.divmod(pixels, IMAGE_SIDE)
        fig.add_trace(go.Scatter(
            x=cols, y=rows, mode="markers+text", text=[str(i + 1) for i in range(len(pixels))],
            textposition="top right", textfont=dict(color=MARK_COLOUR, size=fonts(projector)["size"] + 2),
            marker=dict(symbol="square-open", size=14 if projector else 11, color=MARK_COLOUR, line=dict(width=3)),
            showlegend=False, hoverinfo="skip", name="marked pixels"))
    return fig


def input_figure(image, title: str, pixels=(), *, projector: bool = False, height: int = 300) -> go.Figure:
    """The example's 784 inputs as its 28 x 28 image (0 = paper, 1 = ink), ``pixels`` marked."""
    fig = digit_figure(image, title=title, height=height)
    fig.update_layout(font=fonts(projector))
    return mark_pixels(fig, pixels, projector)


def unit_map_figure(values, unit: int, title: str, value_name: str, *, zmax: float | None = None, pixels=(),
                    projector: bool = False, height: int = 300) -> go.Figure:
    """784 signed values of unit ``unit`` (one per pixel) as a 28 x 28 map, red positive,
    blue negative, on ``[-zmax, zmax]`` (default: their largest size); ``pixels`` marked."""
    values = np.asarray(values, dtype=np.float32).reshape(-1, 1)
    limit = zmax if zmax else float(np.nanmax(np.abs(values))) or 1.0
    fig = weight_grid_figure(values, unit_ids=[unit], zmax=limit, mode="heatmap", value_name=value_name,
                             title=title, projector=projector, height=height)
    return mark_pixels(fig, pixels, projector)


def output_figure(logits, probabilities, output_error, label: int, class_names=None, *,
                  projector: bool = False, height: int = 470) -> go.Figure:
    """The output layer for one example, one bar per class in three rows: the scores z
    (logits), the probabilities p = softmax(z), and dJ/dz = (p - y) / m; the true class in
    blue, the others grey, the network's answer outlined."""
    logits, probabilities = np.asarray(logits, np.float64), np.asarray(probabilities, np.float64)
    output_error = np.asarray(output_error, np.float64)
    names = class_names_or_numbers(len(logits), class_names)
    answer = int(np.argmax(probabilities))
    colours = [CORRECT if k == label else MUTED for k in range(len(names))]
    outline = [3 if k == answer else 0 for k in range(len(names))]
    rows = (("score z (logit)", logits, "z"), ("probability p = softmax(z)", probabilities, "p"),
            ("∂J/∂z = (p − y) / m", output_error, "∂J/∂z"))
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.09,
                        subplot_titles=[row[0] for row in rows])
    for index, (_, values, symbol) in enumerate(rows, start=1):
        fig.add_trace(go.Bar(x=names, y=values, marker=dict(color=colours, line=dict(color=HIGHLIGHT, width=outline)),
                             showlegend=False, hovertemplate=f"class %{{x}}: {symbol} = %{{y:.4g}}<extra></extra>"),
                      row=index, col=1)
        fig.update_yaxes(zeroline=True, zerolinecolor="#444444", showgrid=True, gridcolor=GRID_LINES,
                         row=index, col=1)
    fig.update_xaxes(type="category", title_text="class (blue: the true one; outlined: the network's answer)",
                     row=3, col=1)
    fig.update_yaxes(range=[0, 1], row=2, col=1)
    font = fonts(projector)
    fig.update_layout(height=height + (80 if projector else 0), font=font, plot_bgcolor="#ffffff",
                      margin=dict(l=10, r=10, t=30, b=10))
    fig.update_annotations(font=dict(size=font["size"] + 1))
    return fig


def step_losses_figure(step_losses, steps_per_epoch: int, loss_after: float | None = None, *,
                       projector: bool = False, height: int = 260) -> go.Figure:
    """The batch loss at every step so far (each step's own batch, before its update), the
    last step's loss after its update as a second point, epochs marked by dotted lines."""
    losses = np.asarray(step_losses, dtype=np.float64)
    steps = np.arange(1, len(losses) + 1)
    font = fonts(projector)
    fig = go.Figure(go.Scatter(x=steps, y=losses, mode="lines+markers" if len(losses) <= 60 else "lines",
                               name="before the step", line=dict(color=CORRECT, width=3 if projector else 2),
                               hovertemplate="step %{x}: batch loss %{y:.4f}<extra></extra>"))
    if loss_after is not None and len(losses) and np.isfinite(loss_after):
        fig.add_trace(go.Scatter(x=[steps[-1]], y=[loss_after], mode="markers", name="after the last step",
                                 marker=dict(color=HIGHLIGHT, size=12, symbol="diamond"),
                                 hovertemplate="step %{x}, after its update: %{y:.4f}<extra></extra>"))
    for boundary in range(steps_per_epoch, len(losses), max(steps_per_epoch, 1)):
        fig.add_vline(x=boundary + 0.5, line=dict(dash="dot", color="#999999"))
    fig.update_layout(height=height, font=font, plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
                      xaxis=dict(title="step (dotted: a new epoch)", showgrid=True, gridcolor=GRID_LINES),
                      yaxis=dict(title="batch loss J", showgrid=True, gridcolor=GRID_LINES, rangemode="tozero"))
    return fig
