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
    (n,); a cross where ``predictions`` (n,) differs. ``limits``: fixed axis ranges
    ((x0, x1), (y0, y1)) (a replay keeps them for every epoch); ``selected``: an image
    index to ring."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    n_classes = int(max(labels.max(initial=0), predictions.max(initial=0))) + 1
    names = class_names_or_numbers(n_classes, class_names)
    font = fonts(projector)
    size = 9 if projector else 7
    fig = go.Figure()
    for c in range(n_classes):
        rows = np.flatnonzero(labels == c)
        if not len(rows):
            continue
        wrong = predictions[rows] != c
        custom = np.column_stack([rows, predictions[rows]]).astype(np.int32)
        symbols = np.where(wrong, "x-thin-open", "circle")
        fig.add_trace(go.Scatter(
            x=coordinates[rows, 0].astype(F32), y=coordinates[rows, 1].astype(F32), mode="markers",
            name=names[c], legendgroup=names[c], customdata=custom,
            marker=dict(color=class_colour(c), size=np.where(wrong, size + 4, size), symbol=symbols,
                        line=dict(width=np.where(wrong, 2.5, 0.4).tolist(), color=class_colour(c)),
                        opacity=0.8),
            hovertemplate=(f"true {names[c]}, read as %{{customdata[1]}}<br>image %{{customdata[0]}}"
                           "<br>(click to see it)<extra></extra>"),
        ))
        centre = coordinates[rows].mean(axis=0)
        fig.add_annotation(x=float(centre[0]), y=float(centre[1]), text=f"<b>{names[c]}</b>", showarrow=False,
                           font=dict(size=font["size"] + 9, color=class_colour(c)),
                           bgcolor="rgba(255,255,255,0.75)", borderpad=1)
    _fix_class_names_in_hover(fig, names)
    if selected is not None and 0 <= selected < len(coordinates):
        fig.add_trace(go.Scatter(x=[float(coordinates[selected, 0])], y=[float(coordinates[selected, 1])],
                                 mode="markers", showlegend=False, hoverinfo="skip", name="selected",
                                 marker=dict(size=22, symbol="circle-open", color="#000000", line=dict(width=3))))
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left") if title else None, height=height, font=font,
        plot_bgcolor="#ffffff", margin=dict(l=10, r=10, t=50 if title else 10, b=10),
        legend=dict(title=dict(text="true class"), itemsizing="constant"),
        hovermode="closest", clickmode="event+select", dragmode="zoom",
    )
    fig.update_xaxes(title_text=axis_titles[0], showgrid=True, gridcolor=GRID_LINES, zeroline=False,
                     range=list(limits[0]) if limits else None)
    fig.update_yaxes(title_text=axis_titles[1], showgrid=True, gridcolor=GRID_LINES, zeroline=False,
                     range=list(limits[1]) if limits else None)
    return fig


def _fix_class_names_in_hover(fig: go.Figure, names) -> None:
    """Hover says "read as 7", not "read as 7" by index: with class names other than the
    indices (letters), put each prediction's name into the hover text instead."""
    if all(name == str(i) for i, name in enumerate(names)):
        return
    for trace in fig.data:
        custom = np.asarray(trace.customdata)
        trace.text = [names[int(p)] for p in custom[:, 1]]
        trace.hovertemplate = trace.hovertemplate.replace("%{customdata[1]}", "%{text}")


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
        if custom:
            try:
                return int(custom[0])
            except (TypeError, ValueError, IndexError):
                continue
    return None
