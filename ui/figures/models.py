"""Model figures (the Models page): several runs' curves overlaid, and a network's first
layer at a given width (a dense network's unit grid, a CNN's first filters). Plain
functions, no Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from nn.analysis import n_conv_layers
from ui.figures.conv import filter_grid_figure
from ui.figures.style import FONT, GRID_LINES, OKABE_ITO
from ui.figures.tiles import default_columns
from ui.figures.weights import weight_grid_figure


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
        color = curve.get("color") or colors.setdefault(run, OKABE_ITO[len(colors) % len(OKABE_ITO)])
        values = np.asarray(curve["values"], dtype=np.float64)
        fig.add_trace(go.Scatter(
            x=np.asarray(curve["epoch"], dtype=np.float64), y=100 * values if percent else values,
            name=curve["name"], mode="lines+markers" if len(values) < 40 else "lines",
            line=dict(color=color, dash=curve.get("dash", "solid")), marker=dict(size=5),
        ))
    fig.update_layout(
        height=height, font=FONT, plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=30, b=10),
        xaxis=dict(title="epoch", gridcolor=GRID_LINES),
        yaxis=dict(title=y_title, gridcolor=GRID_LINES, ticksuffix="%" if percent else ""),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
        hovermode="x unified",
    )
    return fig



def first_layer_figure(network, width_px: int) -> go.Figure:
    """A network's first layer, about as tall as ``width_px`` of width needs: every dense
    unit's 784 weights as a 28 x 28 tile, or (a CNN) its first conv layer's k x k filters."""
    if n_conv_layers(network):
        kernel = network.weights[0]
        columns = min(default_columns(kernel.shape[-1]), 8)  # about square: the columns are narrow
        return filter_grid_figure(kernel, network.biases[0], columns=columns, width=width_px)
    n_units = network.weights[0].shape[1]
    columns = default_columns(n_units)
    rows = -(-n_units // columns)
    height = int(max(width_px - 90, 120) * rows / columns) + 30  # 90 px: the colour bar
    return weight_grid_figure(network.weights[0], height=max(height, 160))
