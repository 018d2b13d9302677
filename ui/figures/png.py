"""Big grids of values as palette PNGs (through Pillow): the values quantised to a few
colour levels of a colour scale, the gaps transparent, sized to a payload budget.

A weight grid of 512 units is 400,000 float32 values: a ``go.Heatmap`` of them would
send megabytes to the browser, one PNG of at most 255 colours sends a fraction of it
(``weight_grid_figure`` in ``ui/figures/weights.py`` picks the encoding).
"""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from ui.figures.style import GAP_COLOR

IMAGE_LEVELS = (255, 191, 127, 95, 63, 47, 31, 23, 15)  # colours tried for a PNG, finest first
URI_PREFIX = "data:image/png;base64,"


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i : i + 2], 16) for i in (0, 2, 4))


def sample_colors(colorscale, positions) -> np.ndarray:
    """RGB (n, 3) uint8 of a ``[[pos, "#rrggbb"], ...]`` colour scale at ``positions`` in [0, 1].

    Linear interpolation in RGB, as Plotly does, so the PNG grid and a heatmap of the
    same values show the same colours.
    """
    stops = np.array([float(p) for p, _ in colorscale])
    rgb = np.array([hex_to_rgb(c) for _, c in colorscale], dtype=np.float64)
    positions = np.clip(np.asarray(positions, dtype=np.float64), 0, 1)
    out = np.stack([np.interp(positions, stops, rgb[:, k]) for k in range(3)], axis=-1)
    return np.rint(out).astype(np.uint8)


def palette_png(indices: np.ndarray, palette: np.ndarray, transparent: int | None = None) -> bytes:
    """A palette PNG of ``indices`` (H, W) uint8 with ``palette`` (k, 3) uint8.

    ``transparent``: a palette index drawn fully transparent (the tile gaps).
    """
    indices = np.ascontiguousarray(indices, dtype=np.uint8)
    height, width = indices.shape
    image = Image.frombytes("P", (width, height), indices.tobytes())
    image.putpalette(np.asarray(palette, dtype=np.uint8).tobytes())
    buffer = io.BytesIO()
    options = {} if transparent is None else {"transparency": int(transparent)}
    image.save(buffer, format="PNG", compress_level=9, **options)
    return buffer.getvalue()


def read_png(uri_or_bytes) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(palette indices (H, W) uint8, palette (k, 3) uint8, transparent index or None) of a
    palette PNG, given as bytes or as a ``data:image/png;base64,...`` URI."""
    data = uri_or_bytes
    if isinstance(data, str):
        if not data.startswith(URI_PREFIX):
            raise ValueError("not a PNG data URI")
        data = base64.b64decode(data[len(URI_PREFIX):])
    with Image.open(io.BytesIO(data)) as image:
        if image.mode != "P":
            raise ValueError(f"not a palette PNG (mode {image.mode})")
        indices = np.asarray(image, dtype=np.uint8)
        palette = np.frombuffer(bytes(image.getpalette() or []), dtype=np.uint8).reshape(-1, 3)
        transparent = image.info.get("transparency")
    return indices, palette, transparent if isinstance(transparent, int) else None


def quantize(grid: np.ndarray, zmax: float, levels: int) -> np.ndarray:
    """Palette indices (uint8) for ``grid``: ``-zmax -> 0``, ``0 -> levels // 2``,
    ``zmax -> levels - 1`` (values beyond are clipped); NaN -> ``levels`` (the gap)."""
    nan = np.isnan(grid)
    scaled = (np.nan_to_num(grid, nan=0.0) / zmax + 1) * ((levels - 1) / 2)
    indices = np.rint(np.clip(scaled, 0, levels - 1)).astype(np.uint8)
    indices[nan] = levels
    return indices


def dequantize(indices: np.ndarray, zmax: float, levels: int) -> np.ndarray:
    """The value each palette index stands for (NaN for the gap index)."""
    values = (indices.astype(np.float64) / ((levels - 1) / 2) - 1) * zmax
    values[indices >= levels] = np.nan
    return values


def grid_png_uri(grid: np.ndarray, zmax: float, levels: int, colorscale) -> str:
    """``grid`` (H, W, NaN in the gaps) as a PNG data URI: ``levels`` colours of
    ``colorscale`` over ``[-zmax, zmax]``, the gaps transparent."""
    palette = sample_colors(colorscale, np.linspace(0, 1, levels))
    palette = np.vstack([palette, hex_to_rgb(GAP_COLOR)])  # index `levels`: the gap
    png = palette_png(quantize(grid, zmax, levels), palette, transparent=levels)
    return URI_PREFIX + base64.b64encode(png).decode("ascii")


def grid_from_png_uri(uri: str, zmax: float, levels: int) -> np.ndarray:
    """The values a :func:`grid_png_uri` image stands for: each quantised to the nearest
    of its ``levels`` (error at most ``zmax / (levels - 1)``), NaN in the gaps."""
    indices, _, _ = read_png(uri)
    return dequantize(indices, zmax, levels)


def fit_image(fig: go.Figure, trace: int, grid: np.ndarray, zmax: float, colorscale, budget: int) -> int:
    """Put ``grid`` into image trace ``trace`` as a PNG with the most colour levels (of
    :data:`IMAGE_LEVELS`) whose whole figure stays within ``budget`` bytes of JSON, measured
    on the real ``to_json()`` (Plotly writes each "/" of base64 as 6 characters, so
    estimates run short). Returns the levels used; the coarsest if none fits."""
    uris: dict[int, str] = {}

    def fits(levels: int) -> bool:
        uris[levels] = grid_png_uri(grid, zmax, levels, colorscale)
        fig.data[trace].source = uris[levels]
        return len(fig.to_json()) + 64 <= budget

    # The size grows with the levels: binary search for the finest that fits.
    if fits(IMAGE_LEVELS[0]):
        return IMAGE_LEVELS[0]
    best, low, high = IMAGE_LEVELS[-1], 1, len(IMAGE_LEVELS) - 1  # indices into IMAGE_LEVELS
    while low <= high:
        middle = (low + high) // 2
        if fits(IMAGE_LEVELS[middle]):
            best, high = IMAGE_LEVELS[middle], middle - 1
        else:
            low = middle + 1
    if best not in uris:
        uris[best] = grid_png_uri(grid, zmax, best, colorscale)
    fig.data[trace].source = uris[best]
    return best
