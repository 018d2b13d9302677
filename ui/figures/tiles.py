"""Laying out many small pictures (weight maps, filters, feature maps) as tiles of one array,
and the colour ranges the figures draw them with. NumPy only: the figures in this package
turn the arrays into Plotly heatmaps or images.

A grid of tiles is one 2-D float array with NaN in the gaps, so one heatmap (or one PNG)
draws a whole layer; :class:`GridLayout` maps a clicked grid cell back to its unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nn.analysis import symmetric_zmax

IMAGE_SIDE = 28
TILE_GAP = 1




def replay_zmax(snapshots, layer: int = 0, percentile: float = 99.5, start=None) -> float:
    """One colour limit for every snapshot of layer ``layer`` (0 = first weight matrix).

    ``snapshots``: ``History.snapshots`` (objects with ``.weights``). With this fixed
    range, replaying epochs shows the weights growing instead of each frame being
    stretched to its own range. ``start``: the limit of each snapshot's change from these
    weights instead (the learned change ``W - W0``).
    """
    arrays = [s.weights[layer] if start is None else s.weights[layer] - start for s in snapshots]
    if not arrays:
        raise ValueError("no snapshots to replay")
    # Subsample big layers: a percentile over a few hundred thousand values is plenty.
    step = max(1, sum(a.size for a in arrays) // 2_000_000)
    return symmetric_zmax([a.reshape(-1)[::step] for a in arrays], percentile)


def default_columns(n_tiles: int, aspect: float = 1.6) -> int:
    """Columns for ``n_tiles`` tiles: about ``aspect`` times wider than tall.

    Among column counts within a third of the ideal, the one leaving the fewest empty
    slots wins (ties: closest to the ideal), so 128 tiles make 16 x 8, 512 make 32 x 16,
    10 make 5 x 2.
    """
    if n_tiles <= 0:
        return 1
    ideal = math.sqrt(n_tiles * aspect)
    low, high = max(1, math.floor(ideal * 0.75)), min(n_tiles, math.ceil(ideal * 4 / 3))
    candidates = range(low, max(low, high) + 1)
    return min(candidates, key=lambda c: (-(-n_tiles // c) * c - n_tiles, abs(c - ideal)))


@dataclass(frozen=True)
class GridLayout:
    """Where each tile sits in a tiled grid, and which unit a grid cell belongs to.

    Tiles are ``tile x tile`` pixels, ``gap`` pixels apart, filled row by row:
    slot ``k`` is at tile-row ``k // columns``, tile-column ``k % columns`` and shows
    unit ``order[k]``. The grid array has shape :attr:`shape` =
    ``(rows * (tile + gap) - gap, columns * (tile + gap) - gap)``; gap cells and empty
    slots (after the last tile) hold NaN.

    Grid coordinates: ``x`` = column index, ``y`` = row index (row 0 at the top),
    which is what a figure built from the grid reports on hover and click.
    """

    order: np.ndarray = field(compare=False)  # (n_tiles,) unit shown in each slot
    columns: int
    tile: int = IMAGE_SIDE
    gap: int = TILE_GAP

    @property
    def n_tiles(self) -> int:
        return len(self.order)

    @property
    def rows(self) -> int:
        return max(1, -(-self.n_tiles // self.columns))

    @property
    def pitch(self) -> int:
        return self.tile + self.gap

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows * self.pitch - self.gap, self.columns * self.pitch - self.gap)

    def slot_origin(self, slot: int) -> tuple[int, int]:
        """(row, col) of the top-left pixel of ``slot`` in the grid."""
        tile_row, tile_col = divmod(int(slot), self.columns)
        return tile_row * self.pitch, tile_col * self.pitch

    def slot_of_unit(self, unit: int) -> int | None:
        """The slot showing ``unit``, or None when it is not in the grid."""
        found = np.flatnonzero(self.order == unit)
        return int(found[0]) if found.size else None

    def locate(self, x, y) -> tuple[int, int, int] | None:
        """``(unit, pixel_row, pixel_col)`` under grid cell (x, y), or None on a gap.

        x, y may be floats (e.g. a click's coordinates); they are rounded to the cell.
        """
        col, row = int(round(float(x))), int(round(float(y)))
        height, width = self.shape
        if not (0 <= row < height and 0 <= col < width):
            return None
        tile_row, pixel_row = divmod(row, self.pitch)
        tile_col, pixel_col = divmod(col, self.pitch)
        if pixel_row >= self.tile or pixel_col >= self.tile:
            return None
        slot = tile_row * self.columns + tile_col
        if slot >= self.n_tiles:
            return None
        return int(self.order[slot]), pixel_row, pixel_col

    def unit_at(self, x, y) -> int | None:
        """The unit whose tile contains grid cell (x, y); None on gaps and empty slots."""
        found = self.locate(x, y)
        return None if found is None else found[0]

    def to_dict(self) -> dict:
        """JSON-friendly description (stored in a figure's ``layout.meta``)."""
        return {"order": [int(u) for u in self.order], "columns": self.columns,
                "tile": self.tile, "gap": self.gap}

    @classmethod
    def from_dict(cls, d: dict) -> GridLayout:
        return cls(np.asarray(d["order"], dtype=np.intp), int(d["columns"]),
                   int(d.get("tile", IMAGE_SIDE)), int(d.get("gap", TILE_GAP)))


def tile_grid(values, order=None, columns: int | None = None, *, tile: int = IMAGE_SIDE,
              gap: int = TILE_GAP, dtype=np.float32) -> tuple[np.ndarray, GridLayout]:
    """Lay out the columns of ``values`` as square tiles in one 2-D array.

    values: ``(tile * tile, n)``, one picture per column (e.g. ``W1`` (784, n_units),
        its gradient, or ``images.T``); each column is reshaped row-major to
        ``(tile, tile)``, the same way an MNIST row becomes a 28 x 28 image.
    order: which columns to show, in slot order (default: all, by index). May be a
        subset.
    columns: tiles per row (default :func:`default_columns`).

    Returns ``(grid, layout)``: ``grid`` has shape ``layout.shape``, NaN in the gaps.
    Vectorised: 512 tiles take a few milliseconds.
    """
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[0] != tile * tile:
        raise ValueError(f"expected values of shape ({tile * tile}, n), got {values.shape}")
    order = np.arange(values.shape[1]) if order is None else np.asarray(order, dtype=np.intp)
    if order.ndim != 1 or (order.size and (order.min() < 0 or order.max() >= values.shape[1])):
        raise ValueError(f"order must list column indices below {values.shape[1]}")
    columns = int(columns) if columns else default_columns(len(order))
    columns = max(1, min(columns, max(1, len(order))))
    layout = GridLayout(order, columns, tile, gap)
    rows, pitch = layout.rows, layout.pitch
    padded = np.full((rows * columns, pitch, pitch), np.nan, dtype=dtype)
    padded[: len(order), :tile, :tile] = values[:, order].T.reshape(len(order), tile, tile)
    grid = padded.reshape(rows, columns, pitch, pitch).transpose(0, 2, 1, 3)
    grid = grid.reshape(rows * pitch, columns * pitch)[: rows * pitch - gap, : columns * pitch - gap]
    return np.ascontiguousarray(grid), layout


def untile_grid(grid, layout: GridLayout) -> np.ndarray:
    """Inverse of :func:`tile_grid`: ``(tile * tile, n_tiles)``, column ``k`` = slot ``k``."""
    grid = np.asarray(grid)
    out = np.empty((layout.tile * layout.tile, layout.n_tiles), dtype=grid.dtype)
    for slot in range(layout.n_tiles):
        r, c = layout.slot_origin(slot)
        out[:, slot] = grid[r : r + layout.tile, c : c + layout.tile].reshape(-1)
    return out


FILTER_VIEWS = ("mean", "channels")


@dataclass
class FilterTiles:
    """A conv layer's kernels as k x k pictures, ready to tile.

    tiles: ``(n, k, k)``; filters: ``(n,)`` the filter each tile belongs to; channels:
    ``(n,)`` the input channel it reads (-1 for a mean over all of them).
    """

    tiles: np.ndarray
    filters: np.ndarray
    channels: np.ndarray


def filter_tiles(kernel, view: str = "mean") -> FilterTiles:
    """The pictures of a conv kernel ``(k, k, C_in, F)``.

    view "mean": one tile per filter, the mean over its ``C_in`` input channels (for the
        first layer, ``C_in = 1``: the filter itself, exactly).
    view "channels": one tile per (filter, input channel), filter by filter: tile
        ``f * C_in + c`` is ``kernel[:, :, c, f]``, what filter f looks for in input map c.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"expected a conv kernel of shape (k, k, C_in, F), got {kernel.shape}")
    if view not in FILTER_VIEWS:
        raise ValueError(f"view must be one of {FILTER_VIEWS}, got {view!r}")
    _, _, n_in, n_filters = kernel.shape
    if view == "channels" or n_in == 1:
        tiles = kernel.transpose(3, 2, 0, 1).reshape(n_filters * n_in, *kernel.shape[:2])
        filters, channels = np.divmod(np.arange(n_filters * n_in), n_in)
        return FilterTiles(tiles, filters, channels)
    tiles = kernel.mean(axis=2, dtype=np.float64).transpose(2, 0, 1)
    return FilterTiles(tiles, np.arange(n_filters), np.full(n_filters, -1))


def tile_maps(maps, columns: int | None = None, gap: int = TILE_GAP,
              row_gap: int | None = None) -> tuple[np.ndarray, int]:
    """Lay out ``maps`` ``(n, h, w)`` as tiles of one float array, row by row: ``gap``
    cells between tiles side by side, ``row_gap`` (default ``gap``) between rows of tiles,
    NaN in the gaps and empty slots. The array is ``(rows*(h+row_gap)-row_gap,
    columns*(w+gap)-gap)``. Returns ``(grid, columns)``."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"expected maps of shape (n, h, w), got {maps.shape}")
    n, h, w = maps.shape
    row_gap = gap if row_gap is None else row_gap
    columns = max(1, min(int(columns) if columns else default_columns(n), max(n, 1)))
    rows = max(1, -(-n // columns))
    padded = np.full((rows * columns, h + row_gap, w + gap), np.nan, dtype=np.float64)
    padded[:n, :h, :w] = maps
    grid = padded.reshape(rows, columns, h + row_gap, w + gap).transpose(0, 2, 1, 3)
    grid = grid.reshape(rows * (h + row_gap), columns * (w + gap))
    return np.ascontiguousarray(grid[: rows * (h + row_gap) - row_gap, : columns * (w + gap) - gap]), columns
