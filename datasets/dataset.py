"""The Dataset container every loader returns, and the pixel conventions.

See the package docstring (``datasets/__init__.py``) for the layout of ``images`` and ``labels``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO

import numpy as np

from nn.errors import DataError

# A data source: a path, or an open file (e.g. a Streamlit upload, io.BytesIO).
Source = str | os.PathLike | IO[bytes] | IO[str]

DIGIT_CLASS_NAMES = tuple("0123456789")

IMAGE_SIDE = 28
PIXELS_PER_IMAGE = IMAGE_SIDE * IMAGE_SIDE  # 784

# ---------------------------------------------------------------------------
# The Dataset container
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A set of digit images, optionally with their labels.

    Attributes:
        images: ``(n, 784)`` uint8, C-contiguous, pixels 0-255, each row a 28 x 28
            image flattened row-major.
        labels: ``(n,)`` uint8 with values ``0 .. n_classes - 1``, or ``None`` for
            unlabelled data (e.g. Kaggle ``test.csv``).
        name: a human description, e.g. ``"MNIST 5k subset (bundled)"``.
        class_names: the label of class ``k`` is ``class_names[k]``.

    The constructor checks these invariants and raises :class:`DataError` if one
    is broken, so code receiving a ``Dataset`` can rely on them.
    """

    images: np.ndarray
    labels: np.ndarray | None
    name: str
    class_names: tuple[str, ...] = DIGIT_CLASS_NAMES

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
            raise DataError(f"{self.name}: images must be a uint8 array")
        if images.ndim != 2 or images.shape[1] != PIXELS_PER_IMAGE:
            raise DataError(
                f"{self.name}: images must have shape (n, {PIXELS_PER_IMAGE}), got {images.shape}"
            )
        if not images.flags.c_contiguous:
            raise DataError(f"{self.name}: images must be C-contiguous")
        if labels is None:
            return
        if not isinstance(labels, np.ndarray) or labels.dtype != np.uint8:
            raise DataError(f"{self.name}: labels must be a uint8 array or None")
        if labels.shape != (images.shape[0],):
            raise DataError(f"{self.name}: {images.shape[0]} images but labels have shape {labels.shape}")
        if labels.size and int(labels.max()) >= len(self.class_names):
            raise DataError(
                f"{self.name}: label {int(labels.max())} is outside 0-{len(self.class_names) - 1}"
            )

    @property
    def n_samples(self) -> int:
        """Number of images, ``n``."""
        return self.images.shape[0]

    @property
    def n_classes(self) -> int:
        """Number of classes (10 for digits)."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int]:
        """Shape of one image before flattening: ``(28, 28)``."""
        return (IMAGE_SIDE, IMAGE_SIDE)


def to_float32(images_uint8: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Scale uint8 pixels 0-255 to float32 values 0.0-1.0 (``pixel / 255``).

    Args:
        images_uint8: uint8 array of any shape, typically a batch ``(m, 784)``.
        out: optional float32 array of the same shape.  When given, the result is
            written into it and no new array is allocated -- the training loop
            reuses one buffer per batch size this way.

    Returns:
        ``out`` if given, otherwise a new float32 array of the same shape.
    """
    if out is None:
        out = np.empty(images_uint8.shape, dtype=np.float32)
    elif out.dtype != np.float32 or out.shape != images_uint8.shape:
        raise DataError(
            f"to_float32: out must be float32 with shape {images_uint8.shape}, got {out.dtype} {out.shape}"
        )
    # Divide (not multiply by 1/255) so every value is the correctly rounded
    # float32 of pixel / 255.  The uint8 -> float32 cast happens chunk by chunk
    # inside the ufunc, so no full-size temporary is created.
    np.divide(images_uint8, np.float32(255), out=out, dtype=np.float32)
    return out


def class_noun(class_names, plural: bool = False) -> str:
    """What to call the classes in a sentence: "digit" for 0-9, "letter" when every
    class is a letter, else "character" (with an "s" when ``plural``)."""
    names = tuple(str(c) for c in class_names)
    if names == DIGIT_CLASS_NAMES:
        noun = "digit"
    elif names and all(len(c) == 1 and c.isalpha() for c in names):
        noun = "letter"
    else:
        noun = "character"
    return noun + "s" if plural else noun


def class_ranges(class_names) -> str:
    """The class names with runs of consecutive characters shortened, for captions:
    "0–9" for digits, "A–Z" for letters, "0–9, A–Z, a, b, d–h, n, q, r, t" for balanced.
    Names longer than one character are listed as they are."""
    names = [str(c) for c in class_names]
    parts, start = [], 0
    for i in range(1, len(names) + 1):
        run_ends = i == len(names) or not (
            len(names[i]) == len(names[i - 1]) == 1 and ord(names[i]) == ord(names[i - 1]) + 1)
        if run_ends:
            run = names[start:i]
            parts += [f"{run[0]}–{run[-1]}"] if len(run) >= 3 else run
            start = i
    return ", ".join(parts)
