"""The look every figure shares: colour scales and palettes, fonts (larger in projector
view), class names on axes, hidden axes. Plain Plotly, no Streamlit.

Colour logic of every weight / gradient map: a diverging, colour-blind-safe scale
(ColorBrewer RdBu, blue = negative, white = 0, red = positive) over a range symmetric
around 0, ``[-zmax, zmax]``; by default ``zmax`` is the 99.5th percentile of ``|values|``
(``nn.analysis.symmetric_zmax``) so a few outliers saturate rather than washing
everything else out. Digits are drawn ink dark on white paper (:data:`INK_ON_PAPER`),
except the Draw page's "what the network sees", which copies the canvas' look
(:data:`INK_ON_BLACK`).
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from datasets import class_noun

KIB = 1024

# ColorBrewer RdBu (colour-blind safe), reversed: negative blue, zero white, positive red.
DIVERGING = [
    [0.0, "#053061"], [0.1, "#2166ac"], [0.2, "#4393c3"], [0.3, "#92c5de"], [0.4, "#d1e5f0"],
    [0.5, "#f7f7f7"], [0.6, "#fddbc7"], [0.7, "#f4a582"], [0.8, "#d6604d"], [0.9, "#b2182b"],
    [1.0, "#67001f"],
]
# For projectors, which wash out pale tints: colours saturate sooner on both sides.
DIVERGING_PROJECTOR = [
    [0.0, "#053061"], [0.2, "#2166ac"], [0.38, "#4393c3"], [0.5, "#ffffff"], [0.62, "#d6604d"],
    [0.8, "#b2182b"], [1.0, "#67001f"],
]
INK_ON_PAPER = [[0.0, "#ffffff"], [1.0, "#000000"]]  # MNIST ink: 0 = paper, 1 = ink
INK_ON_BLACK = [[0.0, "#000000"], [1.0, "#ffffff"]]  # the Draw page's canvas
SEQUENTIAL = "Viridis"
# Okabe-Ito: a qualitative palette that stays distinct under colour-vision deficiencies
# (one colour per layer, per run).
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
HIGHLIGHT = "#D55E00"  # Okabe-Ito vermilion: the top guess, wrong answers
CORRECT = "#0072B2"  # Okabe-Ito blue
MUTED = "#8DA0B6"
GAP_COLOR = "#8c8c8c"  # weight-grid tile gaps and empty slots
TILE_BACKGROUND = "#d9d9d9"  # gaps and label bands of small tiles: near-white values stand out
GRID_LINES = "#eeeeee"
VANISHING_FILL = "rgba(86, 180, 233, 0.18)"
EXPLODING_FILL = "rgba(213, 94, 0, 0.15)"
# Loss and accuracy curves of the Train page (Plotly's own blue and orange).
TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#ff7f0e"
STEP_COLOR = "rgba(31, 119, 180, 0.25)"

FONT_SIZE, PROJECTOR_FONT_SIZE = 13, 18
FONT = dict(size=FONT_SIZE)


def fonts(projector: bool) -> dict:
    """The figure font: larger in projector view."""
    return dict(size=PROJECTOR_FONT_SIZE if projector else FONT_SIZE)


def diverging(projector: bool):
    """The diverging colour scale, with stronger tints in projector view."""
    return DIVERGING_PROJECTOR if projector else DIVERGING


def class_names_or_numbers(n: int, class_names=None) -> list[str]:
    """``class_names`` as strings, or "0".."n-1" when there are none."""
    return [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(n)]


def axis_noun(names: Sequence[str]) -> str:
    """"digit" for 0-9 (and unnamed classes), "letter" or "character" otherwise."""
    return "digit" if all(n.isdigit() for n in names) else class_noun(names)


def every_tick(names: Sequence[str]) -> dict:
    """A category axis that labels every class (Plotly would skip every other one of 26
    letters), in a smaller font when there are many."""
    return dict(type="category", tickmode="array", tickvals=list(names), ticktext=list(names),
                tickfont=dict(size=13 if len(names) <= 26 else 10))


def hide_axes(fig: go.Figure, row=None, col=None) -> None:
    kw = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", showline=False)
    fig.update_xaxes(**kw, row=row, col=col)
    fig.update_yaxes(**kw, row=row, col=col)


def image_axes(fig: go.Figure, height: int, width: int, row=None, col=None, anchor: str = "x") -> None:
    """Axes for a ``height x width`` picture drawn cell by cell: row 0 at the top, square
    cells, no ticks."""
    fig.update_xaxes(range=[-0.5, width - 0.5], constrain="domain", row=row, col=col)
    fig.update_yaxes(range=[height - 0.5, -0.5], scaleanchor=anchor, scaleratio=1, constrain="domain",
                     row=row, col=col)


def grid_height(shape: tuple[int, int], width: int = 900, top: int = 60) -> int:
    """Height of a tiled grid of ``shape`` (rows, columns) cells drawn ``width`` px wide."""
    height, grid_width = shape
    return int(min(1000, max(220, width * height / grid_width + top + 20)))


def layout_grid(fig: go.Figure, shape, title, font, height: int | None = None) -> None:
    """Title, margins and square-cell axes of a tiled grid of ``shape`` (rows, columns) cells
    (``height`` default: :func:`grid_height`)."""
    height_px, width_px = shape
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=font["size"] + 3)) if title else None,
        height=height or grid_height(shape, top=60 if title else 20),
        margin=dict(l=4, r=4, t=50 if title else 8, b=4),
        plot_bgcolor=GAP_COLOR,
        font=font,
        hoverlabel=dict(font=font),
        dragmode=False,
    )
    image_axes(fig, height_px, width_px)
    hide_axes(fig)
