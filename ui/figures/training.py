"""Loss and accuracy curves (the Train page) as Plotly figures: plain functions of arrays,
no Streamlit.

The x axis is always *epochs*: per-epoch values sit at 1, 2, ...; per-step losses at
``step / steps_per_epoch`` so they line up with the epoch points while an epoch is
still running.

Projector view (``projector=True``): larger fonts, thick lines and markers, dark
colour-blind-safe colours (Okabe-Ito blue and vermilion, validation also dashed so it
does not rest on colour alone), dark grid lines and axes on white: a projector washes out
pale tints and thin lines.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.figures.style import STEP_COLOR, TRAIN_COLOR, VALIDATION_COLOR, fonts

MAX_STEP_POINTS = 1500
# (train, validation, per-step) line colours: on a screen, and for a projector.
COLOURS = {False: (TRAIN_COLOR, VALIDATION_COLOR, STEP_COLOR),
           True: ("#0072B2", "#D55E00", "rgba(0, 114, 178, 0.35)")}
PROJECTOR_HEIGHT = 400
MARKED_EPOCHS = 40


def downsample(values, max_points: int = MAX_STEP_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(positions, values) with at most ``max_points`` points: means of equal bins.

    Positions are the 1-based index of each bin's centre in the original sequence,
    so a value recorded after step ``k`` keeps x = k.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n <= max_points:
        return np.arange(1, n + 1, dtype=float), values
    edges = np.linspace(0, n, max_points + 1).astype(int)
    sums = np.add.reduceat(values, edges[:-1])
    counts = np.diff(edges)
    positions = (edges[:-1] + edges[1:] + 1) / 2
    return positions, sums / counts


def _layout(figure: go.Figure, y_title: str, height: int, projector: bool = False) -> go.Figure:
    figure.update_layout(
        xaxis_title="epoch",
        yaxis_title=y_title,
        height=max(height, PROJECTOR_HEIGHT) if projector else height,
        margin=dict(l=10, r=10, t=40 if projector else 30, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
        hovermode="x unified",
        uirevision="keep",  # keep the user's zoom while the curve grows
    )
    if projector:
        font = fonts(True)
        axis = dict(gridcolor="#8c8c8c", linecolor="#000000", linewidth=2, showline=True, ticks="outside",
                    tickfont=dict(size=font["size"], color="#000000"), title_font=dict(size=font["size"] + 2))
        figure.update_layout(font=dict(size=font["size"], color="#000000"), plot_bgcolor="#ffffff",
                             paper_bgcolor="#ffffff", legend_font=dict(size=font["size"] + 1),
                             hoverlabel=dict(font=font))
        figure.update_xaxes(**axis)
        figure.update_yaxes(**axis)
    return figure


def _line(colour: str, projector: bool, dash: str = "solid") -> dict:
    return dict(color=colour, width=4 if projector else 2, dash=dash if projector else "solid")


def _marker(projector: bool) -> dict:
    return dict(size=10 if projector else 6)


def _mode(epochs) -> str:
    """A marker per epoch while they can be told apart; beyond MARKED_EPOCHS they merge into a band."""
    return "lines+markers" if len(epochs) <= MARKED_EPOCHS else "lines"


def _has_values(values) -> bool:
    values = np.asarray(values, dtype=float)
    return values.size > 0 and bool(np.isfinite(values).any())


def loss_figure(
    epochs,
    train_loss,
    validation_loss=None,
    step_loss=None,
    steps_per_epoch: int = 1,
    *,
    steps_per_point: int = 1,
    max_step_points: int = MAX_STEP_POINTS,
    height: int = 300,
    projector: bool = False,
) -> go.Figure:
    """Cross-entropy loss: per step (faint), per epoch on training and validation data.

    ``step_loss[i]`` is the mean loss of ``steps_per_point`` steps (a long run's history
    keeps one point per so many steps, see ``nn.training.History.add_step_loss``): it is
    drawn at the middle of its steps."""
    train_colour, validation_colour, step_colour = COLOURS[projector]
    figure = go.Figure()
    if step_loss is not None and len(step_loss):
        positions, values = downsample(step_loss, max_step_points)
        steps = (positions - 0.5) * max(steps_per_point, 1) + 0.5  # point p covers steps (p-1)k+1 ... pk
        figure.add_trace(go.Scatter(
            x=steps / max(steps_per_epoch, 1), y=values, name="train, per step",
            mode="lines", line=dict(color=step_colour, width=2 if projector else 1), hoverinfo="skip",
        ))
    epochs = np.asarray(epochs, dtype=float)
    figure.add_trace(go.Scatter(
        x=epochs, y=np.asarray(train_loss, dtype=float), name="train",
        mode=_mode(epochs), line=_line(train_colour, projector), marker=_marker(projector),
    ))
    if validation_loss is not None and _has_values(validation_loss):
        figure.add_trace(go.Scatter(
            x=epochs, y=np.asarray(validation_loss, dtype=float), name="validation",
            mode=_mode(epochs), line=_line(validation_colour, projector, "dash"), marker=_marker(projector),
        ))
    return _layout(figure, "loss (cross-entropy)", height, projector)


def accuracy_figure(epochs, train_accuracy, validation_accuracy=None, *, height: int = 300,
                    projector: bool = False) -> go.Figure:
    """Accuracy after every epoch on training and validation data, in percent."""
    train_colour, validation_colour, _ = COLOURS[projector]
    figure = go.Figure()
    epochs = np.asarray(epochs, dtype=float)
    figure.add_trace(go.Scatter(
        x=epochs, y=100 * np.asarray(train_accuracy, dtype=float), name="train",
        mode=_mode(epochs), line=_line(train_colour, projector), marker=_marker(projector),
    ))
    if validation_accuracy is not None and _has_values(validation_accuracy):
        figure.add_trace(go.Scatter(
            x=epochs, y=100 * np.asarray(validation_accuracy, dtype=float), name="validation",
            mode=_mode(epochs), line=_line(validation_colour, projector, "dash"), marker=_marker(projector),
        ))
    figure.update_yaxes(ticksuffix="%")
    return _layout(figure, "accuracy", height, projector)
