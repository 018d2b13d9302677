"""What the network makes of one image (the Activations and Draw pages): each hidden
layer's activations with the maths of every unit on hover, the output probabilities, and
how one class's score is built (a waterfall of contributions). Plain functions, no
Streamlit; the NumPy is ``nn.analysis.trace_image`` / ``unit_contributions``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from nn.analysis import symmetric_zmax
from ui.figures.style import (
    FONT,
    GRID_LINES,
    HIGHLIGHT,
    MUTED,
    OKABE_ITO,
    SEQUENTIAL,
    axis_noun,
    class_names_or_numbers,
    diverging,
    every_tick,
    fonts,
)

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
    font = fonts(projector)
    title = f"{layer_name}: {int(np.count_nonzero(a > 0))} of {n} units active"
    maths = dict(a=a, z=z, b=b, activation=activation)
    fig = _activation_grid(**maths, columns=columns, projector=projector) if as_grid else _activation_bars(**maths)
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), height=height, font=font,
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def _unit_maths(activation: str, first: int) -> str:
    """Hover lines of one unit's maths; ``customdata[first:first+4]`` = (z - b, b, z, a)."""
    c = [f"%{{customdata[{first + i}]:.4g}}" for i in range(4)]
    return (f"{c[0]} (inputs · weights)<br>+ {c[1]} (bias)<br>= z {c[2]}"
            f"<br>{activation}(z) = {c[3]}")


def _activation_bars(a, z, b, activation: str) -> go.Figure:
    """One bar per unit, coloured when active."""
    custom = np.stack([z - b, b, z, a], axis=-1)
    colors = np.where(a > 0, OKABE_ITO[0], MUTED)
    fig = go.Figure(go.Bar(
        x=np.arange(len(a)), y=a, customdata=custom, marker=dict(color=colors, line_width=0),
        hovertemplate="unit %{x}<br>" + _unit_maths(activation, 0) + "<extra></extra>",
    ))
    fig.update_layout(xaxis_title="unit", yaxis_title=f"activation a = {activation}(z)", bargap=0.1,
                      plot_bgcolor="#ffffff")
    fig.update_yaxes(showgrid=True, gridcolor=GRID_LINES, zeroline=True, zerolinecolor="#444444")
    return fig


def _activation_grid(a, z, b, activation: str, columns: int | None, projector: bool) -> go.Figure:
    """One cell per unit of a wide layer, about twice as wide as tall."""
    n = len(a)
    cols = columns or int(math.ceil(math.sqrt(n * 2)))
    rows = int(math.ceil(n / cols))
    pad = rows * cols - n

    def shaped(v, fill=np.nan):
        return np.concatenate([v, np.full(pad, fill)]).reshape(rows, cols)

    custom = np.stack([shaped(np.arange(n, dtype=np.float64)), shaped(z - b), shaped(b),
                       shaped(z), shaped(a)], axis=-1).astype(np.float32)
    signed = a.min(initial=0) < 0
    top = symmetric_zmax(a, 100)
    fig = go.Figure(go.Heatmap(
        z=shaped(a).astype(np.float32), customdata=custom, hoverongaps=False,
        colorscale=diverging(projector) if signed else SEQUENTIAL,
        zmin=-top if signed else 0, zmax=top, colorbar=dict(title=dict(text="a"), thickness=12),
        hovertemplate="unit %{customdata[0]}<br>" + _unit_maths(activation, 1) + "<extra></extra>",
        xgap=1, ygap=1,
    ))
    fig.update_xaxes(constrain="domain", showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain",
                     showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(plot_bgcolor="#ffffff")
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
    names = class_names_or_numbers(len(p), class_names)
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
        title=dict(text=verdict, x=0, xanchor="left"), height=height, font=fonts(projector),
        xaxis=dict(type="category", title=axis_noun(names), tickmode="array", tickvals=names,
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
        increasing=dict(marker=dict(color=OKABE_ITO[2])),
        decreasing=dict(marker=dict(color=HIGHLIGHT)),
        totals=dict(marker=dict(color=OKABE_ITO[0])),
        connector=dict(line=dict(color="#999999", width=1)),
        hovertemplate="%{x}: %{y:+.4g}<extra></extra>",
    ))
    fig.update_layout(
        title=dict(text=f"what builds the score for “{class_name}”: activation × outgoing weight",
                   x=0, xanchor="left"),
        height=height, font=fonts(projector), plot_bgcolor="#ffffff", showlegend=False,
        margin=dict(l=10, r=10, t=50, b=10), xaxis=dict(type="category"),
        yaxis=dict(title="contribution to the logit", zeroline=True, zerolinecolor="#444444"),
    )
    return fig



def probability_figure(probabilities, class_names=None, *, height: int = 300) -> go.Figure:
    """The network's probabilities, one bar per class (``class_names``, default "0".."9"),
    the top guess highlighted and labelled."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    names = class_names_or_numbers(len(p), class_names)
    noun = axis_noun(names)
    top = int(p.argmax())
    fig = go.Figure(go.Bar(
        x=names, y=p, marker=dict(color=[HIGHLIGHT if i == top else MUTED for i in range(len(p))]),
        text=[f"{v:.0%}" if v >= 0.005 else "" for v in p] if len(p) <= 26 else None,
        textposition="outside", hovertemplate=f"{noun} %{{x}}: %{{y:.2%}}<extra></extra>",
        name="probability",
    ))
    fig.update_layout(
        height=height, font=FONT, plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(**every_tick(names), title=noun),
        yaxis=dict(range=[0, 1.15], tickformat=".0%", title="probability", gridcolor=GRID_LINES),
    )
    return fig

