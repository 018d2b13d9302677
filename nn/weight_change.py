"""What training changed in the weights, and how much structure a weight picture shows.

A network starts from random weights ``W0`` (He or Xavier initialisation) and training adds
the learned change ``W - W0``. For a first-layer unit drawn as a 28 x 28 picture, the random
start is noise of the same size as what is learned, so the raw weights ``W`` often look
like noise while ``W - W0`` shows strokes. Pixels that no training image ever inks read 0
in every batch: their weights get a gradient of exactly 0 and keep their random start (no
change at all, unless weight decay shrinks them), which is noise in the picture and
nothing learned.

How much structure a picture shows is measured by its lag-1 neighbour correlation: the
correlation between each pixel's value and its right and lower neighbours' (every pair of
neighbouring pixels that are both shown). Noise gives about 0, smooth strokes close to 1.
NumPy only.
"""

from __future__ import annotations

import numpy as np

IMAGE_SIDE = 28


def inked_pixels(images) -> np.ndarray:
    """(n_inputs,) bool: True for every pixel some image of ``images`` (n, n_inputs) inks."""
    images = np.asarray(images)
    if images.ndim != 2:
        raise ValueError(f"expected images of shape (n, n_inputs), got {images.shape}")
    if images.dtype == np.uint8:
        return np.bitwise_or.reduce(images, axis=0) > 0
    return np.any(images != 0, axis=0)


def learned_change(weights, start) -> np.ndarray:
    """``weights - start`` (the same shape), what training added to the random start."""
    weights, start = np.asarray(weights), np.asarray(start)
    if weights.shape != start.shape:
        raise ValueError(f"the start weights {start.shape} do not fit these weights {weights.shape}")
    return weights - start


def masked_pixels(maps, shown) -> np.ndarray:
    """``maps`` (n_inputs, n) as float32 with the rows of the pixels not ``shown`` (n_inputs,)
    bool set to NaN (a figure draws them grey)."""
    out = np.array(maps, dtype=np.float32)
    out[~np.asarray(shown, dtype=bool)] = np.nan
    return out


def neighbour_correlations(maps, side: int = IMAGE_SIDE) -> np.ndarray:
    """(n,) the lag-1 neighbour correlation of each picture: ``maps`` (side * side, n), one
    picture per column (row-major, as a 28 x 28 image); NaN entries (pixels not shown) are
    left out of every pair they are in. NaN for a picture with no variation."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 2 or maps.shape[0] != side * side:
        raise ValueError(f"expected maps of shape ({side * side}, n), got {maps.shape}")
    pictures = maps.T.reshape(-1, side, side)
    first = np.concatenate([pictures[:, :, :-1].reshape(len(pictures), -1),
                            pictures[:, :-1, :].reshape(len(pictures), -1)], axis=1)
    second = np.concatenate([pictures[:, :, 1:].reshape(len(pictures), -1),
                             pictures[:, 1:, :].reshape(len(pictures), -1)], axis=1)
    both = np.isfinite(first) & np.isfinite(second)
    count = both.sum(axis=1)
    first, second = np.where(both, first, 0.0), np.where(both, second, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_first = first.sum(axis=1) / count
        mean_second = second.sum(axis=1) / count
        da = np.where(both, first - mean_first[:, None], 0.0)
        db = np.where(both, second - mean_second[:, None], 0.0)
        return (da * db).sum(axis=1) / np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))


def neighbour_correlation(maps, side: int = IMAGE_SIDE) -> float:
    """The mean of :func:`neighbour_correlations` over the pictures (those with variation)."""
    values = neighbour_correlations(maps, side)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")
