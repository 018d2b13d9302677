"""The room map (the Leaderboard page): every submitted run as a point, and every run's
settings as a line across parallel axes. Plain Plotly functions of :class:`lab.room.RoomPoints`,
no Streamlit.

Participants' names never go into these figures: Plotly renders a subset of HTML in hover
text and labels, and a name is only ever shown as plain text (the page's dataframe).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from lab.room import COLOUR_BY, RoomPoints, category_order
from lab.settings import L2_VALUES, LEARNING_RATES, MAX_WIDTH
from ui.figures.style import GRID_LINES, OKABE_ITO, fonts

# Arrays go to the browser as float32 (Plotly sends them base64-encoded): half the bytes
# of float64, and seven digits are more than a dot or a line can show.
F32 = np.float32
JITTER_DECADES = 0.05  # sideways spread of runs at the same learning rate (a log-scale step is >= 0.3)
SIZE_EXAMPLES = (16, 128, 512)
_GOLDEN = (math.sqrt(5) - 1) / 2


def marker_size(width: np.ndarray, projector: bool = False) -> np.ndarray:
    """Dot diameter (px) for hidden width: the area grows with the width, 0 units -> smallest."""
    scale = 1.25 if projector else 1.0
    return scale * (6 + 16 * np.sqrt(np.clip(np.nan_to_num(width), 0, MAX_WIDTH) / MAX_WIDTH))


def spread(n: int) -> np.ndarray:
    """(n,) factors in [10**-J, 10**J]: the same for the same run index on every redraw
    (a low-discrepancy sequence, not random), so refreshing never shuffles the dots."""
    offsets = (np.arange(n) * _GOLDEN) % 1.0 - 0.5
    return 10.0 ** (2 * JITTER_DECADES * offsets)


def room_map_figure(points: RoomPoints, colour_by: str = "optimizer", *, projector: bool = False,
                    height: int | None = None) -> go.Figure:
    """Learning rate (log x) against test accuracy, one dot per run: colour = optimiser or
    activation (``colour_by``), size = hidden width. Runs whose learning rate or accuracy
    is not a number are left out."""
    font = fonts(projector)
    rate = points.numbers["learning_rate"]
    shown = np.isfinite(rate) & (rate > 0) & np.isfinite(points.accuracy)
    labels = np.array(points.labels(colour_by), dtype=object)
    x = rate * spread(points.n)
    hover = np.column_stack([rate, points.numbers["width"], points.numbers["layers"], points.numbers["epochs"],
                             100 * points.room_accuracy]).astype(F32)
    fig = go.Figure()
    palette = list(category_order(colour_by))  # a category keeps its colour whoever else is on the map
    palette += sorted(set(labels[shown]) - set(palette))
    for index, category in enumerate(palette):
        members = shown & (labels == category)
        if not members.any():
            continue
        fig.add_trace(go.Scatter(
            x=x[members].astype(F32), y=(100 * points.accuracy[members]).astype(F32), mode="markers",
            name=f"{category} ({members.sum()})",
            legendgroup="colour", legendgrouptitle_text=COLOUR_BY[colour_by],
            marker=dict(size=marker_size(points.numbers["width"][members], projector).astype(F32),
                        color=OKABE_ITO[index % len(OKABE_ITO)], opacity=0.75,
                        line=dict(width=1.5 if projector else 0.8, color="#000000" if projector else "#ffffff")),
            customdata=hover[members],
            hovertemplate=(f"<b>{category}</b><br>learning rate %{{customdata[0]:g}}<br>"
                           "test accuracy %{y:.1f}%<br>%{customdata[2]:.0f} hidden layer(s) of "
                           "%{customdata[1]:.0f} units<br>%{customdata[3]:.0f} epochs<br>"
                           "room's handwriting %{customdata[4]:.1f}%<extra></extra>"),
        ))
    for width in SIZE_EXAMPLES:  # a legend for the dot sizes (no data)
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=f"{width} units", legendgroup="size",
            legendgrouptitle_text="dot size = hidden width",
            marker=dict(size=float(marker_size(np.array([width]), projector)[0]), color="#9a9a9a"),
        ))
    ticks = [r for r in LEARNING_RATES if r in (1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0)]
    fig.update_layout(
        height=height or (580 if projector else 470), font=font, plot_bgcolor="#ffffff", hoverlabel=dict(font=font),
        margin=dict(l=10, r=10, t=20, b=10),
        xaxis=dict(title="learning rate (log scale)", type="log", tickvals=ticks,
                   ticktext=[f"{r:g}" for r in ticks], gridcolor="#bbbbbb" if projector else GRID_LINES,
                   range=[math.log10(min(LEARNING_RATES)) - 0.15, math.log10(max(LEARNING_RATES)) + 0.15]),
        yaxis=dict(title="test accuracy (MNIST test set)", ticksuffix="%",
                   gridcolor="#bbbbbb" if projector else GRID_LINES),
        legend=dict(groupclick="toggleitem", itemsizing="trace"),
    )
    if not shown.any():
        fig.add_annotation(text="No runs on the board yet", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper", font=dict(size=font["size"] + 4))
    return fig


def _categories(values, order) -> tuple[np.ndarray, list[int], list[str]]:
    """(codes (n,) float32, tick values, tick labels) of category ``values`` for a parallel
    axis: the categories present, in ``order`` (unknown ones after it)."""
    present = set(values.tolist())
    names = [o for o in order if o in present] + sorted(present - set(order))
    codes = {name: i for i, name in enumerate(names)}
    return np.array([codes[v] for v in values], dtype=F32), list(range(len(names))), names


def settings_parallel_figure(points: RoomPoints, *, projector: bool = False, height: int | None = None) -> go.Figure:
    """Every run as a line through its settings and its test accuracy (the last axis);
    line colour = test accuracy. Drag along an axis to keep only the runs in a range. Runs
    with a setting that is not a number are left out (a gap would break their line)."""
    font = fonts(projector)
    numbers = points.numbers
    rate = numbers["learning_rate"]
    l2_index = np.array([L2_VALUES.index(v) if v in L2_VALUES else np.nan for v in numbers["l2"]])
    batch = np.where(points.full_batch, 4096.0, numbers["batch_size"])  # full batch at the top
    numeric = {"rate": np.log10(np.where(rate > 0, rate, np.nan)), "width": numbers["width"],
               "layers": numbers["layers"], "conv": numbers["conv_layers"], "epochs": numbers["epochs"],
               "batch": np.log2(np.clip(batch, 1, None)), "l2": l2_index, "accuracy": 100 * points.accuracy}
    complete = np.logical_and.reduce([np.isfinite(values) for values in numeric.values()])
    kept = {name: values[complete].astype(F32) for name, values in numeric.items()}
    optimizers = _categories(np.array(points.labels("optimizer"), dtype=object)[complete], category_order("optimizer"))
    activations = _categories(np.array(points.labels("activation"), dtype=object)[complete],
                              category_order("activation"))
    batch_ticks = [1, 8, 64, 512, 4096]
    # Axes of choices span all their choices, so that an axis looks the same whoever is on the board.
    dimensions = [
        dict(label="learning<br>rate", values=kept["rate"], range=[-4, 1],
             tickvals=[-4, -3, -2, -1, 0, 1], ticktext=["0.0001", "0.001", "0.01", "0.1", "1", "10"]),
        dict(label="optimiser", values=optimizers[0], tickvals=optimizers[1], ticktext=optimizers[2],
             range=[0, max(len(optimizers[1]) - 1, 1)]),
        dict(label="activation", values=activations[0], tickvals=activations[1], ticktext=activations[2],
             range=[0, max(len(activations[1]) - 1, 1)]),
        dict(label="hidden<br>width", values=kept["width"]),
        dict(label="hidden<br>layers", values=kept["layers"], tickvals=[0, 1, 2, 3, 4], range=[0, 4]),
        dict(label="conv<br>layers", values=kept["conv"], tickvals=[0, 1, 2], range=[0, 2]),
        dict(label="epochs", values=kept["epochs"]),
        dict(label="batch<br>size", values=kept["batch"], tickvals=np.log2(batch_ticks).tolist(),
             ticktext=[*map(str, batch_ticks[:-1]), "full"], range=[0, 12]),
        dict(label="L2", values=kept["l2"], tickvals=list(range(len(L2_VALUES))),
             ticktext=[f"{v:g}" for v in L2_VALUES], range=[0, len(L2_VALUES) - 1]),
        dict(label="test<br>accuracy %", values=kept["accuracy"]),
    ]
    fig = go.Figure(go.Parcoords(
        dimensions=dimensions,
        line=dict(color=kept["accuracy"], colorscale="Viridis", showscale=True,
                  colorbar=dict(title=dict(text="test<br>accuracy", font=font), ticksuffix="%", thickness=14)),
        labelfont=dict(size=font["size"] + 1), tickfont=dict(size=font["size"] - 1),
        rangefont=dict(size=max(font["size"] - 3, 9)),
    ))
    fig.update_layout(height=height or (520 if projector else 440), font=font,
                      margin=dict(l=130 if projector else 100, r=40, t=90 if projector else 75, b=25))
    return fig
