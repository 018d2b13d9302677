"""Data augmentation: every training batch moved and turned a little, at random.

A network that only ever saw centred, upright digits misreads one drawn a few pixels to
the side or leaning a little. Showing it each training image in a slightly different
place and angle every time (the label stays the same) teaches it that these changes do
not matter, and on small data sets it also generalises better to the clean test set.

Each image of a batch gets its own random rotation about the centre of the field (uniform
in ``[-max_degrees, max_degrees]``) and shift (uniform in ``[-max_shift, max_shift]``
pixels, right/down), then is resampled bilinearly; what comes in from outside the field
is paper (0). In NumPy, for the whole batch at once, per output pixel ``p``::

    source(p) = R(-angle) (p - centre - shift) + centre      (the inverse of the move)
    value(p)  = bilinear interpolation of the image at source(p)

Why this way: the batch is resampled into arrays the :class:`Augmenter` keeps (sized to
the largest batch, made once), so an epoch makes no copy of the data, only of each batch;
random numbers come from its own seeded generator, so the same seed gives the same run.
(``datasets/transforms.py`` does the same moves with Pillow for the robustness tests; the
engine stays NumPy only.)
"""

from __future__ import annotations

import math

import numpy as np

from .speed import Batch

DEFAULT_MAX_SHIFT = 2.0  # pixels
DEFAULT_MAX_DEGREES = 15.0
MAX_SHIFT_LIMIT, MAX_DEGREES_LIMIT = 8.0, 90.0
FULL_BATCH_CHUNK = 512  # a full batch is resampled this many images at a time


def augment_problems(max_shift: float, max_degrees: float) -> list[str]:
    """What is wrong with these amounts, as readable messages (empty if fine)."""
    problems = []
    for name, value in (("shift", max_shift), ("rotation", max_degrees)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return [f"augment {name} must be a number, got {value!r}"]
    if not (math.isfinite(max_shift) and 0 <= max_shift <= MAX_SHIFT_LIMIT):
        problems.append(f"augment shift must be 0..{MAX_SHIFT_LIMIT:g} pixels, got {max_shift}")
    if not (math.isfinite(max_degrees) and 0 <= max_degrees <= MAX_DEGREES_LIMIT):
        problems.append(f"augment rotation must be 0..{MAX_DEGREES_LIMIT:g} degrees, got {max_degrees}")
    return problems


class Augmenter:
    """Random shifts and rotations of ``(m, side * side)`` float batches (ink in [0, 1]).

    ``augmenter(images)`` returns the moved batch in an array of its own (overwritten by
    the next call); ``images`` is not changed. ``moves(m)`` draws the next batch's angles
    and shifts, ``apply(images, degrees, dx, dy)`` moves by given amounts (tested against
    Pillow's rotate and shift).
    """

    def __init__(self, max_shift: float = DEFAULT_MAX_SHIFT, max_degrees: float = DEFAULT_MAX_DEGREES, *,
                 seed: int = 0, side: int = 28, dtype=np.float32) -> None:
        problems = augment_problems(max_shift, max_degrees)
        if problems:
            raise ValueError("; ".join(problems))
        self.max_shift, self.max_degrees, self.side = float(max_shift), float(max_degrees), int(side)
        self.dtype = np.dtype(dtype)
        # Its own stream: the batches' shuffle (seeded with `seed` too) stays as without augmentation.
        self.rng = np.random.default_rng([int(seed), 1])
        middle = (self.side - 1) / 2  # the centre of the field, between pixels 13 and 14
        rows, cols = np.divmod(np.arange(self.side * self.side), self.side)
        self.grid_x = (cols - middle).astype(self.dtype)
        self.grid_y = (rows - middle).astype(self.dtype)
        self.middle = middle
        self.capacity = 0

    def _buffers(self, m: int) -> None:
        """Arrays for batches of up to ``m`` images, made once (and again only for a larger m)."""
        if m <= self.capacity:
            return
        n, padded = self.side * self.side, (self.side + 3) ** 2
        self.capacity = m
        self.x, self.y, self.scratch, self.near, self.far = (np.empty((m, n), self.dtype) for _ in range(5))
        self.index = np.empty((m, n), np.intp)
        self.row_starts = (np.arange(m, dtype=np.intp) * padded)[:, None]
        # Paper around the field: 1 pixel above and left, 2 below and right (where a source
        # point clipped to the far edge reads its neighbour).
        self.paper = np.zeros((m, self.side + 3, self.side + 3), self.dtype)
        self.out = np.empty((m, n), self.dtype)

    def moves(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(degrees, dx, dy), each (m,): the next ``m`` random moves."""
        degrees = self.rng.uniform(-self.max_degrees, self.max_degrees, m)
        dx, dy = self.rng.uniform(-self.max_shift, self.max_shift, (2, m))
        return degrees, dx, dy

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.apply(images, *self.moves(len(images)))

    def apply(self, images: np.ndarray, degrees, dx, dy) -> np.ndarray:
        """``images`` (m, side*side) turned by ``degrees`` (counter-clockwise on screen, as
        ``datasets.transforms.rotate``) about the centre, then moved ``dx`` right and ``dy``
        down: (m, side*side), a view of this augmenter's buffer.

        (Its length is the in-place arithmetic: every step writes into a kept array.)
        """
        m, side = len(images), self.side
        if images.ndim != 2 or images.shape[1] != side * side:
            raise ValueError(f"expected images of shape (m, {side * side}), got {images.shape}")
        self._buffers(m)
        dtype = self.dtype.type
        angles = np.radians(np.asarray(degrees, np.float64))
        cos, sin = np.cos(angles).astype(self.dtype)[:, None], np.sin(angles).astype(self.dtype)[:, None]
        x, y, scratch, near, far = self.x[:m], self.y[:m], self.scratch[:m], self.near[:m], self.far[:m]
        u, v = near, far  # the output pixel minus the centre and the shift (reused below)
        np.subtract(self.grid_x, np.asarray(dx, self.dtype)[:, None], out=u)
        np.subtract(self.grid_y, np.asarray(dy, self.dtype)[:, None], out=v)
        # Screen rows grow downwards: a counter-clockwise turn on screen maps the source
        # (x, y) to (cos x + sin y, -sin x + cos y); the inverse is the transpose.
        np.multiply(u, cos, out=x)
        np.multiply(v, sin, out=scratch)
        x -= scratch
        np.multiply(v, cos, out=y)
        np.multiply(u, sin, out=scratch)
        y += scratch
        x += dtype(self.middle)
        y += dtype(self.middle)
        # Outside the field reads the paper border: clipped to it, the weights stay right.
        np.clip(x, -1, side, out=x)
        np.clip(y, -1, side, out=y)
        index = self.index[:m]
        np.floor(y, out=scratch)
        y -= scratch  # y is now the weight of the lower row
        scratch += 1  # rows and columns of the paper are one more than the field's
        scratch *= side + 3
        np.floor(x, out=far)
        x -= far  # x is now the weight of the right column
        scratch += far
        scratch += 1
        np.copyto(index, scratch, casting="unsafe")  # whole numbers below 1,000: exact in float32
        index += self.row_starts[:m]
        paper = self.paper[:m]
        paper[:, 1 : side + 1, 1 : side + 1] = images.reshape(m, side, side)
        flat = paper.reshape(-1)
        out = self.out[:m]
        # top = p00 + wx (p01 - p00) in `out`, bottom = p10 + wx (p11 - p10) in `near`
        flat.take(index, out=out)
        index += 1
        flat.take(index, out=far)
        far -= out
        far *= x
        out += far
        index += side + 2
        flat.take(index, out=near)
        index += 1
        flat.take(index, out=far)
        far -= near
        far *= x
        near += far
        near -= out
        near *= y
        out += near
        return out



class AugmentedBatches:
    """``nn.speed.Batches`` whose every batch is moved by an :class:`Augmenter` (a new
    random move for every image, every epoch). A full batch is moved in chunks of
    :data:`FULL_BATCH_CHUNK` images into one array made once, so the untouched float copy
    of the data stays the source of every epoch."""

    def __init__(self, batches, augmenter: Augmenter) -> None:
        if batches.leave_out_blank:
            raise ValueError("moved images ink pixels a batch's originals leave blank: keep every column")
        self.batches, self.augmenter, self.full_output = batches, augmenter, None

    def epoch(self):
        """Yield the ``Batch`` of each step of one epoch, its inputs moved."""
        for batch in self.batches.epoch():
            if self.batches.order is not None:
                yield Batch(batch.start, self.augmenter(batch.inputs), batch.labels, None)
                continue
            if self.full_output is None:
                self.full_output = np.empty(batch.inputs.shape, self.augmenter.dtype)
            for start in range(0, len(batch.inputs), FULL_BATCH_CHUNK):
                chunk = batch.inputs[start : start + FULL_BATCH_CHUNK]
                self.full_output[start : start + len(chunk)] = self.augmenter(chunk)
            yield Batch(batch.start, self.full_output, batch.labels, None)
