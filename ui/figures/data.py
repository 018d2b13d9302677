"""Data figures (the Data page): sample images per class, images per class, the average
image of each class. Plain functions, no Streamlit; the numbers come from ``lab/data.py``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.figures.images import as_unit_images, gallery_figure
from ui.figures.style import (
    CORRECT,
    FONT,
    GRID_LINES,
    OKABE_ITO,
    axis_noun,
    class_names_or_numbers,
    every_tick,
)
from ui.figures.tiles import IMAGE_SIDE


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
        tiles[present] = as_unit_images(images[index.reshape(-1)[present]])
    return gallery_figure(tiles, columns=per_class, row_labels=class_names_or_numbers(n_classes, class_names),
                          tile_px=tile_px)


def class_counts_figure(train_counts, validation_counts=None, class_names=None, *,
                        height: int = 320) -> go.Figure:
    """Images per class: training and (stacked on top) validation."""
    train = np.asarray(train_counts, dtype=np.int64)
    names = class_names_or_numbers(len(train), class_names)
    noun = axis_noun(names)
    fig = go.Figure(go.Bar(x=names, y=train, name="training", marker_color=CORRECT,
                           hovertemplate=f"{noun} %{{x}}: %{{y:,}} training images<extra></extra>"))
    if validation_counts is not None:
        fig.add_trace(go.Bar(x=names, y=np.asarray(validation_counts, dtype=np.int64),
                             name="validation", marker_color=OKABE_ITO[1],
                             hovertemplate=f"{noun} %{{x}}: %{{y:,}} validation images<extra></extra>"))
    fig.update_layout(
        barmode="stack", height=height, font=FONT, plot_bgcolor="#ffffff",
        margin=dict(l=10, r=10, t=30, b=10), xaxis=dict(**every_tick(names), title=noun),
        yaxis=dict(title="images", gridcolor=GRID_LINES),
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
    names = class_names_or_numbers(len(means), class_names)
    rows = -(-len(means) // max_columns)
    return gallery_figure(means, captions=names, columns=-(-len(means) // rows), tile_px=tile_px,
                          caption_size=14)

