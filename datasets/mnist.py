"""The full MNIST (60,000 + 10,000 images), downloaded from a public mirror and cached."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from nn.errors import DataError

from .dataset import Dataset
from .download import default_cache_dir, download_file, file_checksum
from .idx import load_idx_pair

# ---------------------------------------------------------------------------
# Downloading full MNIST
# ---------------------------------------------------------------------------

# Base URLs serving the four original MNIST .gz files (yann.lecun.com itself no
# longer serves them reliably).  They are tried in order.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's mirror
    "https://storage.googleapis.com/cvdf-datasets/mnist/",  # Google's mirror (TensorFlow)
)

# File name -> MD5 of the .gz file exactly as the mirrors serve it (the values
# torchvision.datasets.MNIST checks).  MD5 here guards against corrupt or cut-off
# downloads, not against tampering.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_CHECKSUM_ALGORITHM = "md5"


def download_mnist(
    cache_dir: str | os.PathLike | None = None,
    *,
    progress: Callable[[str, int, int | None], None] | None = None,
    mirrors: tuple[str, ...] = MNIST_MIRRORS,
    files: dict[str, str] = MNIST_FILES,
) -> tuple[Dataset, Dataset]:
    """Download full MNIST (once) and load it.

    Args:
        cache_dir: folder for the four .gz files; default
            ``default_cache_dir() / "mnist"``.  Files already there with the right
            checksum are not downloaded again.
        progress: called as ``progress(file_name, bytes_done, bytes_total)``;
            cached files report once as complete.
        mirrors: base URLs tried in order for each file.
        files: file name -> expected MD5 of the .gz file.

    Returns:
        ``(train, test)``: 60,000 and 10,000 images for real MNIST.

    Raises:
        DataError: if a file cannot be fetched from any mirror (the message lists
            every URL tried and why it failed), or the files are malformed.
    """
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "mnist"
    for file_name, expected_md5 in files.items():
        destination = directory / file_name
        if (
            destination.is_file()
            and file_checksum(destination, MNIST_CHECKSUM_ALGORITHM) == expected_md5.lower()
        ):
            if progress is not None:
                size = destination.stat().st_size
                progress(file_name, size, size)
            continue
        _download_from_mirrors(file_name, expected_md5, destination, mirrors, progress)
    return _load_downloaded_split(directory, "train"), _load_downloaded_split(directory, "t10k")


def _load_downloaded_split(directory: Path, split: str) -> Dataset:
    """Load the verified .gz files of one split by name (``load_idx_dir`` would
    prefer an uncompressed copy that might be lying in the same folder)."""
    dataset = load_idx_pair(
        directory / f"{split}-images-idx3-ubyte.gz",
        directory / f"{split}-labels-idx1-ubyte.gz",
        name=f"MNIST {split} (downloaded)",
    )
    description = "train" if split == "train" else "test"
    name = f"MNIST {description} ({dataset.n_samples:,} images, downloaded)"
    return Dataset(dataset.images, dataset.labels, name=name)


def _download_from_mirrors(
    file_name: str,
    expected_md5: str,
    destination: Path,
    mirrors: tuple[str, ...],
    progress: Callable[[str, int, int | None], None] | None,
) -> None:
    """Try each mirror in turn until one delivers ``file_name`` intact."""

    def report(bytes_done: int, bytes_total: int | None) -> None:
        if progress is not None:
            progress(file_name, bytes_done, bytes_total)

    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + file_name
        try:
            download_file(
                url,
                destination,
                checksum=expected_md5,
                algorithm=MNIST_CHECKSUM_ALGORITHM,
                progress=report,
            )
            return
        except DataError as error:
            failures.append(f"  {url}: {error}")
    raise DataError(
        f"could not download {file_name} from any mirror (offline?). Tried:\n" + "\n".join(failures)
    )
