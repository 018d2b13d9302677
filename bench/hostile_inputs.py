"""The hostile uploads of the "nothing runs away" issue, made in memory (a few MB each, from up
to 1.6 GB of zeros and blank lines that compress to almost nothing):

=========================  ===================================================================
``csv_million_rows_gz``    a gzipped Kaggle CSV of 1,000,000 rows of zeros (1.57 GB of text)
``idx_million_images_gz``  a gzipped MNIST IDX pair (images, labels) promising 1,000,000 images
``csv_blank_bad_last``     a 10 MB CSV: a header, 10,000,000 blank lines, one bad last row
``model_784_80000_10``     an ``.npz`` model file holding a 784-80000-10 network of zeros
=========================  ===================================================================

``bench.hostile_app`` sends them through the app's pages, the tests of the bounds use them too.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import zipfile

import numpy as np

HEADER = ("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n").encode()
ZERO_ROW = ("3" + ",0" * 784 + "\n").encode()
MB = 10**6


def _idx_header(magic: int, *shape: int) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in shape)


@functools.cache  # made once per process: bytes, never changed
def csv_million_rows_gz() -> bytes:
    """Concatenated gzip members: the header, then a million rows from one compressed block."""
    rows = gzip.compress(ZERO_ROW * 1000, compresslevel=9)
    return gzip.compress(HEADER) + rows * 1000


@functools.cache  # made once per process: bytes, never changed
def idx_million_images_gz() -> tuple[bytes, bytes]:
    """(images, labels): headers promising a million images, then their zeros (and labels)."""
    images = gzip.compress(_idx_header(0x803, 1_000_000, 28, 28)) + gzip.compress(bytes(784_000), 9) * 1000
    labels = gzip.compress(_idx_header(0x801, 1_000_000) + bytes(range(10)) * 100_000, 9)
    return images, labels


@functools.cache  # made once per process: bytes, never changed
def csv_blank_bad_last() -> bytes:
    """10 MB: the header, ten million blank lines, then a row with a letter in it."""
    return HEADER + b"\n" * 10_000_000 + ("3,x" + ",0" * 783 + "\n").encode()


def _npy_member(archive: zipfile.ZipFile, name: str, shape: tuple[int, ...], dtype=np.float32,
                data: np.ndarray | None = None) -> None:
    """One ``.npy`` member: zeros of ``shape`` written block by block (never all in memory)."""
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        if data is not None:
            np.lib.format.write_array(member, data, allow_pickle=False)
            return
        np.lib.format.write_array_header_1_0(member, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                      "shape": shape})
        total = int(np.prod(shape)) * np.dtype(dtype).itemsize
        block = bytes(MB)
        for _ in range(total // MB):
            member.write(block)
        member.write(bytes(total % MB))


@functools.cache  # made once per process: bytes, never changed
def model_784_80000_10() -> bytes:
    """A Digit Lab model file (valid metadata) of a 784-80000-10 network: 63.6 million zeros
    (254 MB of arrays) that deflate to about 250 KB."""
    sizes = [784, 80_000, 10]
    meta = {"format": "digit-lab-model", "format_version": 1, "layer_sizes": sizes, "activation": "relu",
            "init": "he", "dtype": "float32"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for layer, (a, b) in enumerate(zip(sizes, sizes[1:]), start=1):
            _npy_member(archive, f"W{layer}", (a, b))
            _npy_member(archive, f"b{layer}", (b,))
        _npy_member(archive, "metadata", (), data=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    return buffer.getvalue()
