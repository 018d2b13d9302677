"""MNIST's IDX files (images and labels), gzipped or not."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import numpy as np

from nn.errors import DataError

from .dataset import IMAGE_SIDE, PIXELS_PER_IMAGE, Dataset, Source
from .limits import MAX_IDX_BYTES, MAX_IDX_IMAGES, too_many_error
from .sources import READ_CHUNK_BYTES, open_decompressed, open_source, source_name

# ---------------------------------------------------------------------------
# IDX files (the original MNIST format)
# ---------------------------------------------------------------------------
#
# An IDX file is a 4-byte magic number, one big-endian uint32 per dimension,
# then the values row-major.  Magic 0x00000803 = unsigned bytes, 3 dimensions
# (images: n, rows, cols); 0x00000801 = unsigned bytes, 1 dimension (labels: n).

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801

# Even with the limits switched off, refuse headers promising more than 2 GiB of values:
# a corrupt header must not make us allocate absurd amounts.
_IDX_MAX_PAYLOAD_BYTES = 1 << 31


def load_idx(source: Source, *, max_images: int | None = MAX_IDX_IMAGES,
             max_bytes: int | None = MAX_IDX_BYTES) -> np.ndarray:
    """Read one MNIST IDX file, gzipped or not (gzip is detected by its magic bytes).

    Args:
        source: a path or a binary file-like object (read from its start when it can seek).
        max_images: refuse a file whose header promises more images (or labels); None: no limit.
        max_bytes: refuse a file longer than this, gunzipped; None: no limit.  Both are
            checked before the array is allocated, and a gzip stream is never inflated past
            the header's promise plus one chunk (see :mod:`datasets.limits`).

    Returns:
        ``(n, 28, 28)`` uint8 for an image file (magic 0x00000803), or ``(n,)``
        uint8 for a label file (magic 0x00000801).

    Raises:
        DataError: wrong magic number, images not 28 x 28, fewer or more payload
            bytes than the header promises, a truncated or corrupt gzip stream, a limit passed.
    """
    file_name = source_name(source)
    with open_source(source) as raw_stream:
        if isinstance(raw_stream.read(0), str):
            raise DataError(f"{file_name}: IDX files are binary; open the file in binary mode ('rb')")
    with open_decompressed(source, file_name, max_bytes, "an IDX file") as stream:
        return read_idx_stream(stream, file_name, max_images=max_images, max_bytes=max_bytes)


def read_idx_stream(stream: IO[bytes], file_name: str, *, max_images: int | None = MAX_IDX_IMAGES,
                    max_bytes: int | None = MAX_IDX_BYTES) -> np.ndarray:
    """The values of the IDX file ``stream`` delivers (see :func:`load_idx`), read straight into
    their array once the header has been checked against the limits."""
    magic_bytes = stream.read(4)
    if len(magic_bytes) < 4:
        raise DataError(f"{file_name}: too short to be an IDX file ({len(magic_bytes)} bytes)")
    magic = int.from_bytes(magic_bytes, "big")
    if magic not in (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC):
        raise DataError(
            f"{file_name}: not an MNIST IDX file (magic number 0x{magic:08x}; expected "
            f"0x{IDX_IMAGES_MAGIC:08x} for images or 0x{IDX_LABELS_MAGIC:08x} for labels)"
        )
    n_dimensions = magic & 0xFF
    dimension_bytes = stream.read(4 * n_dimensions)
    if len(dimension_bytes) < 4 * n_dimensions:
        raise DataError(f"{file_name}: IDX header is cut short")
    shape = tuple(int.from_bytes(dimension_bytes[4 * i : 4 * i + 4], "big") for i in range(n_dimensions))
    if n_dimensions == 3 and shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(
            f"{file_name}: images are {shape[1]}x{shape[2]} pixels, expected {IMAGE_SIDE}x{IMAGE_SIDE}"
        )
    what = "pixels" if n_dimensions == 3 else "labels"
    expected_bytes = int(np.prod(shape, dtype=np.int64))
    _check_idx_header(file_name, shape, 4 + 4 * n_dimensions + expected_bytes, max_images, max_bytes)

    # Read straight into the final array: no intermediate bytes object.
    values = np.empty(expected_bytes, dtype=np.uint8)
    view = memoryview(values)
    filled = 0
    while filled < expected_bytes:
        count = stream.readinto(view[filled:])
        if not count:
            break
        filled += count
    if filled < expected_bytes:
        raise DataError(f"{file_name}: expected {expected_bytes} bytes of {what}, found {filled}")
    # One chunk tells trailing data apart; a bomb's gigabytes of it are never inflated.
    extra = len(_read_up_to(stream, READ_CHUNK_BYTES + 1))
    if extra > READ_CHUNK_BYTES:
        raise DataError(f"{file_name}: expected {expected_bytes} bytes of {what}, found more than "
                        f"{expected_bytes + READ_CHUNK_BYTES} (trailing data)")
    if extra:
        raise DataError(
            f"{file_name}: expected {expected_bytes} bytes of {what}, found "
            f"{expected_bytes + extra} (trailing data)"
        )
    return values.reshape(shape)


def _check_idx_header(file_name: str, shape: tuple[int, ...], file_bytes: int, max_images: int | None,
                      max_bytes: int | None) -> None:
    """Refuse a header promising more items or bytes than the limits allow (or than 2 GiB)."""
    items = "images" if len(shape) == 3 else "labels"
    if max_images is not None and shape[0] > max_images:
        raise too_many_error(file_name, f"the header promises {shape[0]:,} {items}", max_images, items,
                             "an IDX file")
    if max_bytes is not None and file_bytes > max_bytes:
        raise too_many_error(file_name, f"the header promises {file_bytes:,} bytes", max_bytes, "bytes",
                             "an IDX file")
    if file_bytes > _IDX_MAX_PAYLOAD_BYTES:
        raise DataError(f"{file_name}: header claims {shape[0]:,} items, implausibly many (corrupt header?)")


def _read_up_to(stream: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the stream."""
    parts, total = [], 0
    while total < size and (data := stream.read(size - total)):
        parts.append(data)
        total += len(data)
    return b"".join(parts)


def load_idx_pair(images_source: Source, labels_source: Source, *, name: str,
                  max_images: int | None = MAX_IDX_IMAGES, max_bytes: int | None = MAX_IDX_BYTES) -> Dataset:
    """Load an IDX image file and its IDX label file into one Dataset.

    Checks that the first really holds images and the second labels, that the
    counts match and that every label is 0-9.  ``max_images`` and ``max_bytes`` limit
    each file (see :func:`load_idx`).
    """
    images = load_idx(images_source, max_images=max_images, max_bytes=max_bytes)
    if images.ndim != 3:
        raise DataError(
            f"{source_name(images_source)}: not an IDX image file (magic number 0x{IDX_LABELS_MAGIC:08x})"
        )
    labels = load_idx(labels_source, max_images=max_images, max_bytes=max_bytes)
    if labels.ndim != 1:
        raise DataError(
            f"{source_name(labels_source)}: not an IDX label file (magic number 0x{IDX_IMAGES_MAGIC:08x})"
        )
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{name}: {images.shape[0]:,} images in {source_name(images_source)} but "
            f"{labels.shape[0]:,} labels in {source_name(labels_source)}"
        )
    if labels.size and labels.max() > 9:
        position = int(np.argmax(labels > 9))
        raise DataError(
            f"{source_name(labels_source)}: label {labels[position]} at index {position} is outside 0-9"
        )
    # (n, 28, 28) -> (n, 784) is a free reshape of the same C-contiguous memory.
    return Dataset(images.reshape(images.shape[0], PIXELS_PER_IMAGE), labels, name=name)


IDX_SPLITS = ("train", "t10k")


def _find_idx_file(directory: Path, stem: str) -> Path:
    """``directory/stem`` or ``directory/stem.gz``, whichever exists."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{directory}: no {stem} or {stem}.gz")


def load_idx_dir(directory: str | os.PathLike, *, split: str = "train", max_images: int | None = MAX_IDX_IMAGES,
                 max_bytes: int | None = MAX_IDX_BYTES) -> Dataset:
    """Load ``{split}-images-idx3-ubyte[.gz]`` and ``{split}-labels-idx1-ubyte[.gz]``.

    Args:
        directory: folder holding the MNIST IDX files, gzipped or not.
        split: ``"train"`` (60,000 images in full MNIST) or ``"t10k"`` (the 10,000
            test images).
        max_images, max_bytes: limits on each file (see :func:`load_idx`).
    """
    if split not in IDX_SPLITS:
        raise DataError(f"split must be one of {IDX_SPLITS}, got {split!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory")
    images_path = _find_idx_file(directory, f"{split}-images-idx3-ubyte")
    labels_path = _find_idx_file(directory, f"{split}-labels-idx1-ubyte")
    dataset = load_idx_pair(images_path, labels_path, name=f"MNIST {split} ({directory})",
                            max_images=max_images, max_bytes=max_bytes)
    # Now that the size is known, give it a friendlier name.
    return Dataset(
        dataset.images,
        dataset.labels,
        name=f"MNIST {split} ({dataset.n_samples:,} images, {directory})",
    )
