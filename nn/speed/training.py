"""Speed: the training loop. Batches gathered into reused buffers (blank input columns
left out), and the per-layer statistics computed with BLAS products.

Each trick here gives exactly the numbers the plain code would; it only avoids work.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .dense import used_columns


class Batch(NamedTuple):
    """One step's data: ``inputs`` (m, n_inputs) floats, or (m, k) holding only the input
    ``columns`` (None: all of them); ``labels`` (m,); ``start``: its first row in the epoch."""

    start: int
    inputs: np.ndarray
    labels: np.ndarray
    columns: np.ndarray | None


def leaves_out_blank_columns(network, images: np.ndarray, batch_size: int) -> bool:
    """Whether to leave the input columns that are blank in a whole batch out of the first
    layer (see ``KeptInputColumns``): for a dense network on uint8 images, when that saves
    more than its gathers cost (batch x width >= 4096, or single images on 32+ units)."""
    if images.dtype != np.uint8 or network.conv_specs:
        return False
    width = network.weights[0].shape[1]
    return batch_size * width >= 4096 or (batch_size == 1 and width >= 32)


class Batches:
    """The batches of every epoch, for images (n, n_inputs) uint8 or float and labels (n,).

    Why this way: images stay uint8 until a batch is used (4x less memory than float32)
    and each mini-batch is gathered into one reused float buffer; an index array is
    shuffled, never the data (no data-sized copy per epoch). Full batch converts the data
    once, since every step uses all of it.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, dtype, *,
                 leave_out_blank: bool, seed: int) -> None:
        self.images, self.labels, self.batch_size, self.dtype = images, labels, batch_size, np.dtype(dtype)
        self.leave_out_blank = leave_out_blank
        self.rng = np.random.default_rng(seed)
        n, n_inputs = images.shape
        if batch_size == n:
            self.columns = used_columns(np.bitwise_or.reduce(images, axis=0)) if leave_out_blank else None
            kept = images if self.columns is None else images[:, self.columns]
            self.full_inputs = np.multiply(kept, self.dtype.type(1 / 255), dtype=self.dtype) \
                if images.dtype == np.uint8 else images.astype(self.dtype, copy=False)
            self.order = None
            return
        self.order = np.arange(n)
        self.source = images if images.dtype == np.uint8 else images.astype(self.dtype, copy=False)
        self.raw_buffer = np.empty((batch_size, n_inputs), self.source.dtype)
        self.float_buffer = np.empty(batch_size * n_inputs, self.dtype)  # viewed as (m, columns kept)
        self.used_buffer = np.empty(n_inputs, self.source.dtype)
        self.labels_buffer = np.empty(batch_size, np.intp)

    def epoch(self):
        """Yield the ``Batch`` of each step of one epoch (shuffled, unless full batch)."""
        if self.order is None:
            yield Batch(0, self.full_inputs, self.labels, self.columns)
            return
        self.rng.shuffle(self.order)
        for start in range(0, len(self.order), self.batch_size):
            yield self._gather(start, self.order[start : start + self.batch_size])

    def _gather(self, start: int, indices: np.ndarray) -> Batch:
        m = len(indices)
        # mode="clip" lets take() write straight into the buffer (no temporary).
        raw = self.source.take(indices, axis=0, out=self.raw_buffer[:m], mode="clip")
        labels = self.labels.take(indices, out=self.labels_buffer[:m], mode="clip")
        if self.source.dtype != np.uint8:
            return Batch(start, raw, labels, None)
        columns = used_columns(np.bitwise_or.reduce(raw, axis=0, out=self.used_buffer)) \
            if self.leave_out_blank else None
        if columns is not None:
            # raw[:, columns] comes out column by column (Fortran order): cast it as (k, m)
            # rows, at full speed, and hand its transpose, (m, k), to BLAS.
            raw = raw[:, columns].T
        inputs = self.float_buffer[: raw.size].reshape(raw.shape)
        # Cast, then scale in place: faster than one mixed-type multiply.
        np.copyto(inputs, raw)
        inputs *= self.dtype.type(1 / 255)
        return Batch(start, inputs if columns is None else inputs.T, labels, columns)


def norm(array: np.ndarray) -> float:
    """``||array||`` (Frobenius). Why: a BLAS dot product, no temporary array."""
    flat = array.reshape(-1)
    return math.sqrt(float(np.dot(flat, flat)))


def dead_fraction(a: np.ndarray, activation: str, ones: np.ndarray) -> float:
    """Fraction of a hidden layer's units that output <= 0 for every image of the batch.

    ``a``: (m, n) dense outputs, or (m, H, W, F) conv maps, whose units are the F filters
    (a filter is dead when its map is <= 0 everywhere, for every image). ``ones``: (m,).
    Why this way: ReLU outputs are >= 0, so a unit is dead exactly when its column sums to
    0, and ``1^T A`` is one BLAS product (``np.any(a > 0, axis=0)`` is slow on narrow
    layers); conv maps are reduced over the images first, each (position, filter) a long
    column, then over the positions.
    """
    if a.ndim > 2:
        rows = a.reshape(len(a), -1)
        per_position = np.matmul(ones, rows) if activation == "relu" else np.maximum.reduce(rows, axis=0)
        alive = np.count_nonzero(np.maximum.reduce(per_position.reshape(-1, a.shape[-1]), axis=0) > 0)
    elif activation == "relu":
        alive = np.count_nonzero(np.matmul(ones, a))
    else:
        alive = np.count_nonzero(np.any(a > 0, axis=0))
    return 1.0 - float(alive) / a.shape[-1]
