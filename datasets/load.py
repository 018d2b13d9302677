"""One string names any data source (the command line's ``--data``)."""

from __future__ import annotations

from pathlib import Path

from nn.errors import DataError

from .bundled import load_bundled
from .dataset import Dataset
from .emnist import emnist_source, load_emnist_source
from .idx import load_idx_dir
from .kaggle_csv import load_kaggle_csv
from .mnist import download_mnist

# ---------------------------------------------------------------------------
# One entry point for the command line
# ---------------------------------------------------------------------------


def load_data(spec: str, *, limits: bool = True) -> Dataset:
    """Load a dataset named by one string.

    * ``"bundled"``: the 5,000-image subset that ships with the app (:func:`load_bundled`).
    * ``"mnist"``: full MNIST, downloaded and cached; returns the 60,000-image
      training set (:func:`download_mnist`).
    * ``"emnist-<split>"`` (e.g. ``emnist-letters``), ``"emnist-<split>:PATH"``, or a folder
      (or ``gzip.zip``) of EMNIST files: that EMNIST split's training part
      (:func:`datasets.emnist.load_emnist`; downloaded into the cache when no PATH is given).
    * a directory: MNIST IDX files in it, ``train`` split (:func:`load_idx_dir`).
    * a file: a Kaggle CSV (:func:`load_kaggle_csv`).

    ``limits=False`` lifts the row, image and byte limits of :mod:`datasets.limits` (the
    command line reading a person's own files may); the defaults fit MNIST, Kaggle's CSVs and
    every EMNIST split.
    """
    no_limits = {} if limits else {"max_images": None, "max_bytes": None}
    if spec == "bundled":
        return load_bundled()
    if spec == "mnist":
        return download_mnist()[0]
    emnist = emnist_source(spec)
    if emnist is not None:
        return load_emnist_source(*emnist, **no_limits)
    path = Path(spec).expanduser()
    if path.is_dir():
        return load_idx_dir(path, **no_limits)
    if path.is_file():
        return load_kaggle_csv(path, **({} if limits else {"max_rows": None, "max_bytes": None}))
    raise DataError(
        f"unknown data source {spec!r}: expected 'bundled', 'mnist', 'emnist-<split>', a "
        "Kaggle CSV file or a folder of MNIST or EMNIST IDX files"
    )
