"""Handwritten images as figures: one digit (or letter) large, a few side by side with a
caption in their corner, a gallery with captions above each image. Plain functions, no
Streamlit. Images are ``(784,)`` rows (or ``(k, 784)``), uint8 0-255 or float 0-1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ui.figures.style import (
    FONT,
    INK_ON_BLACK,
    INK_ON_PAPER,
    TILE_BACKGROUND,
    fonts,
    hide_axes,
    image_axes,
    layout_grid,
)
from ui.figures.tiles import IMAGE_SIDE, tile_grid

CAPTION_COLOR = "#1d2333"


def as_unit_images(images) -> np.ndarray:
    """``(k, 784)`` float32 in [0, 1] from uint8 (0-255) or float (0-1) rows or 28 x 28 images."""
    images = np.asarray(images)
    if images.ndim == 1 or images.shape[-2:] == (IMAGE_SIDE, IMAGE_SIDE) and images.ndim == 2:
        images = images.reshape(1, -1)
    images = images.reshape(len(images), -1)
    if images.shape[1] != IMAGE_SIDE * IMAGE_SIDE:
        raise ValueError(f"expected images of 784 pixels, got shape {images.shape}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    return images.astype(np.float32) / np.float32(scale)


def digit_figure(image, *, ink_on_black: bool = False, title: str | None = None,
                 height: int = 280) -> go.Figure:
    """One 28 x 28 image; hover gives each pixel's value (0 = paper, 1 = ink).

    image: ``(784,)`` or ``(28, 28)``, uint8 0-255 or float 0-1. ink_on_black: white ink
    on black, like the Draw page's canvas (default: ink dark on white paper).
    """
    pixels = as_unit_images(image)[0].reshape(IMAGE_SIDE, IMAGE_SIDE)
    fig = go.Figure(go.Heatmap(
        z=pixels, zmin=0, zmax=1, showscale=False,
        colorscale=INK_ON_BLACK if ink_on_black else INK_ON_PAPER,
        hovertemplate="pixel (row %{y}, col %{x})<br>value %{z:.2f}<extra></extra>",
    ))
    image_axes(fig, IMAGE_SIDE, IMAGE_SIDE)
    hide_axes(fig)
    fig.update_layout(title=dict(text=title, x=0, xanchor="left") if title else None, height=height,
                      margin=dict(l=4, r=4, t=40 if title else 4, b=4),
                      plot_bgcolor="#000000" if ink_on_black else "#ffffff", dragmode=False)
    return fig


def image_grid_figure(
    images,
    captions: Sequence[str] | None = None,
    columns: int | None = None,
    *,
    title: str | None = None,
    height: int | None = None,
) -> go.Figure:
    """A few images side by side, e.g. the images that excite a unit most.

    images: ``(k, 784)`` uint8 (0-255) or float (0-1); captions: one per image, drawn in
    the tile's corner and shown on hover.
    """
    images = np.asarray(images)
    if images.ndim == 1:
        images = images[None, :]
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    k = len(images)
    grid, layout = tile_grid((images.astype(np.float32) / scale).T, None, columns or min(k, 9) or 1)
    captions = list(captions) if captions is not None else [f"#{i}" for i in range(k)]
    fig = go.Figure(go.Heatmap(
        z=grid, zmin=0, zmax=1, colorscale=INK_ON_PAPER, showscale=False, hoverongaps=False,
        hovertemplate="pixel value %{z:.2f}<extra></extra>",
    ))
    layout_grid(fig, grid.shape, title, fonts(False), height)
    fig.update_layout(plot_bgcolor=TILE_BACKGROUND)  # light gaps between the white-paper images
    for slot, text in enumerate(captions[:k]):
        r, c = layout.slot_origin(slot)
        fig.add_annotation(x=c + 0.5, y=r + 0.5, text=str(text), showarrow=False, xanchor="left",
                           yanchor="top", font=dict(size=11), bgcolor="rgba(255,255,255,0.8)")
    return fig


def gallery_figure(images, captions: Sequence[str] | None = None, columns: int = 10, *,
                   row_labels: Sequence[str] | None = None, title: str | None = None,
                   caption_colors: Sequence[str] | None = None, tile_px: int = 62,
                   caption_size: int = 11, height: int | None = None) -> go.Figure:
    """Images side by side, ``columns`` per row, each with an optional caption above it.

    images: ``(k, 784)`` uint8 (0-255) or float (0-1); a row of NaN leaves its slot empty
        (e.g. a class with fewer samples than the others).
    captions: one short text per image (also shown on hover).
    row_labels: a label left of each row (e.g. the class of a per-class grid).
    tile_px: about how many screen pixels each 28-pixel tile gets (sets the height).
    """
    pictures = as_unit_images(images) if len(np.asarray(images)) else np.zeros((0, 784), np.float32)
    k = len(pictures)
    columns = max(1, min(int(columns), max(k, 1)))
    rows = max(1, -(-k // columns))
    caption_px = 9 if captions is not None else 0  # grid rows kept above each tile for its caption
    gap = 2
    pitch_x, pitch_y = IMAGE_SIDE + gap, IMAGE_SIDE + gap + caption_px
    grid = np.full((rows * pitch_y, columns * pitch_x - gap), np.nan, dtype=np.float32)
    hover = np.full(grid.shape, "", dtype=object)
    texts = [str(c) for c in list(captions)[:k]] if captions is not None else [""] * k
    for i in range(k):
        r, c = divmod(i, columns)
        top, left = r * pitch_y + caption_px, c * pitch_x
        grid[top: top + IMAGE_SIDE, left: left + IMAGE_SIDE] = pictures[i].reshape(IMAGE_SIDE, IMAGE_SIDE)
        if i < len(texts):
            hover[top: top + IMAGE_SIDE, left: left + IMAGE_SIDE] = texts[i]
    fig = go.Figure(go.Heatmap(
        z=grid, zmin=0, zmax=1, colorscale=INK_ON_PAPER, showscale=False, hoverongaps=False,
        text=hover, hovertemplate="%{text}<extra></extra>" if captions is not None
        else "pixel %{z:.2f}<extra></extra>",
    ))
    if captions is not None:
        colors = list(caption_colors) if caption_colors is not None else [CAPTION_COLOR] * k
        for i, caption in enumerate(texts):
            r, c = divmod(i, columns)
            fig.add_annotation(x=c * pitch_x + IMAGE_SIDE / 2 - 0.5, y=r * pitch_y + caption_px - 1.5,
                               text=caption, showarrow=False, yanchor="bottom",
                               font=dict(size=caption_size, color=colors[i % len(colors)]))
    image_axes(fig, grid.shape[0], grid.shape[1])
    hide_axes(fig)
    if row_labels is not None:
        fig.update_yaxes(showticklabels=True, tickmode="array",
                         tickvals=[r * pitch_y + caption_px + IMAGE_SIDE / 2 for r in range(rows)],
                         ticktext=[str(label) for label in list(row_labels)[:rows]],
                         tickfont=dict(size=15))
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left") if title else None,
        height=height or int(rows * pitch_y * tile_px / IMAGE_SIDE) + (44 if title else 12),
        margin=dict(l=36 if row_labels is not None else 4, r=4, t=40 if title else 6, b=4), font=FONT,
        plot_bgcolor="#ffffff", dragmode=False, meta={"gallery": {"columns": columns, "rows": rows, "n": k}},
    )
    return fig
