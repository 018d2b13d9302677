"""The Hidden space page's figures: held-out images as points of a 2-D map of one layer's
activations, coloured by class, and the classes' separation epoch by epoch. Plain Plotly,
no Streamlit.

Each class is one scatter trace (its legend entry hides or shows it), with the class's
name written large at its centre; images the network gets wrong are drawn as crosses.
Every point carries its image's index (``customdata[0]``), so a click can show the image.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.figures.style import GRID_LINES, OKABE_ITO, class_names_or_numbers, fonts

# Okabe-Ito without its black, then two more that stay apart from it: ten classes.
CLASS_COLOURS = [*OKABE_ITO[:7], "#882255", "#999933", "#332288"]
F32 = np.float32  # coordinates go to the browser base64-encoded: float32 halves the bytes


def class_colour(index: int) -> str:
    return CLASS_COLOURS[index % len(CLASS_COLOURS)]


def hidden_space_figure(coordinates, labels, predictions, class_names=None, *, title: str | None = None,
                        axis_titles=("direction 1", "direction 2"), limits=None, selected: int | None = None,
                        projector: bool = False, height: int = 560) -> go.Figure:
    """One point per image at ``coordinates`` (n, 2), coloured by its true class ``labels``
    (n,); the images whose ``predictions`` (n,) are wrong as crosses of their true class's
    colour, in a trace of their own. ``limits``: fixed axis ranges ((x0, x1), (y0, y1)) (a
    replay keeps them for every epoch); ``selected``: an image index to ring.

    Why whole traces: per-point symbols and sizes make Plotly validate 1,000-entry lists;
    one trace per class plus one for the mistakes does not.
    """
    coordinates = np.asarray(coordinates, dtype=np.float64)
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    n_classes = int(max(labels.max(initial=0), predictions.max(initial=0))) + 1
    names = class_names_or_numbers(n_classes, class_names)
    font = fonts(projector)
    size = 9 if projector else 7
    wrong = predictions != labels
    traces, annotations = [], []
    for c in range(n_classes):
        rows = np.flatnonzero(labels == c)
        if not len(rows):
            continue
        traces.append(_points(coordinates, rows[~wrong[rows]], labels, predictions, names, dict(
            color=class_colour(c), size=size, opacity=0.75, line=dict(width=0.4, color="#ffffff")), names[c]))
        centre = coordinates[rows].mean(axis=0)
        annotations.append(dict(x=float(centre[0]), y=float(centre[1]), text=f"<b>{names[c]}</b>", showarrow=False,
                                font=dict(size=font["size"] + 9, color=class_colour(c)),
                                bgcolor="rgba(255,255,255,0.75)", borderpad=1))
    mistakes = np.flatnonzero(wrong)
    traces.append(_points(coordinates, mistakes, labels, predictions, names, dict(
        color=[class_colour(int(c)) for c in labels[mistakes]], size=size + 5, symbol="x-thin-open",
        line=dict(width=2.5 if projector else 2)), f"read wrong ({len(mistakes)})"))
    if selected is not None and 0 <= selected < len(coordinates):
        traces.append(go.Scatter(x=[float(coordinates[selected, 0])], y=[float(coordinates[selected, 1])],
                                 mode="markers", showlegend=False, hoverinfo="skip", name="selected",
                                 marker=dict(size=22, symbol="circle-open", color="#000000", line=dict(width=3))))
    fig = go.Figure(traces)
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left") if title else None, height=height, font=font,
        plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=50 if title else 10, b=10), annotations=annotations,
        legend=dict(title=dict(text="true class"), itemsizing="constant"),
        hovermode="closest", clickmode="event+select", dragmode="zoom",
    )
    fig.update_xaxes(title_text=axis_titles[0], showgrid=True, gridcolor=GRID_LINES, zeroline=False,
                     range=list(limits[0]) if limits else None)
    fig.update_yaxes(title_text=axis_titles[1], showgrid=True, gridcolor=GRID_LINES, zeroline=False,
                     range=list(limits[1]) if limits else None)
    return fig


def _points(coordinates, rows, labels, predictions, names, marker: dict, name: str) -> go.Scatter:
    """The points ``rows``; hover: the true class, the answer, the image's index."""
    custom = np.column_stack([rows, predictions[rows], labels[rows]]).astype(np.int32)
    numbered = all(n == str(i) for i, n in enumerate(names))  # else the classes' names go in as text
    said = ("true %{customdata[2]}, read as %{customdata[1]}" if numbered else "%{text}")
    return go.Scatter(
        x=coordinates[rows, 0].astype(F32), y=coordinates[rows, 1].astype(F32), mode="markers", name=name,
        customdata=custom, marker=marker,
        text=None if numbered else [f"true {names[int(t)]}, read as {names[int(p)]}" for _, p, t in custom],
        hovertemplate=f"{said}<br>image %{{customdata[0]}}<br>(click to see it)<extra></extra>")


def separation_figure(epochs, separation, current: int | None = None, *, n_classes: int = 10,
                      projector: bool = False, height: int = 260) -> go.Figure:
    """Nearest-centroid accuracy of the map at each epoch (0..1 as %), the current epoch
    marked, chance (1 / n_classes) as a dotted line."""
    epochs, separation = np.asarray(epochs), np.asarray(separation, dtype=np.float64)
    font = fonts(projector)
    fig = go.Figure(go.Scatter(x=epochs, y=100 * separation, mode="lines+markers", name="separation",
                               line=dict(color=OKABE_ITO[0], width=3 if projector else 2),
                               hovertemplate="epoch %{x}: %{y:.1f}%<extra></extra>"))
    if current is not None:
        fig.add_trace(go.Scatter(x=[epochs[current]], y=[100 * separation[current]], mode="markers",
                                 marker=dict(size=14, color=OKABE_ITO[5]), showlegend=False,
                                 hovertemplate="shown: epoch %{x}, %{y:.1f}%<extra></extra>"))
    fig.add_hline(y=100 / n_classes, line=dict(dash="dot", color="#666666"),
                  annotation_text="chance", annotation_position="bottom right")
    fig.update_layout(height=height, font=font, plot_bgcolor="#ffffff", showlegend=False,
                      margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(title="epoch", showgrid=True, gridcolor=GRID_LINES),
                      yaxis=dict(title="classes apart (nearest-centre accuracy, %)", range=[0, 100],
                                 showgrid=True, gridcolor=GRID_LINES))
    return fig


def image_index_from_selection(selection) -> int | None:
    """The image a click picked (``st.plotly_chart``'s selection event), or None."""
    try:
        points = selection["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points or []:
        custom = point.get("customdata") if isinstance(point, dict) else None
        if isinstance(custom, dict):  # the browser sends a typed-array row as {"0": ..., "1": ...}
            custom = [custom.get("0", custom.get(0))]
        if custom:
            try:
                return int(custom[0])
            except (TypeError, ValueError, IndexError, KeyError):
                continue
    return None
