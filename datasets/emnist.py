"""EMNIST fetched: NIST's archive downloaded and one split unpacked, and the
command line's ``emnist-<split>`` strings.

Reading EMNIST's files (the splits, class names from the mapping file, the transposed
images turned upright, a folder or the archive) is :mod:`datasets.emnist_files`; its
public names are importable from here too (``from datasets.emnist import load_emnist``).

Where the files come from
-------------------------
NIST ships every split in one archive, ``gzip.zip`` (about 562 MB), whose members are
``gzip/emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte.gz`` and
``gzip/emnist-<split>-mapping.txt``.  :func:`download_emnist` fetches it once (with
progress, an MD5 check and an atomic rename, like :func:`datasets.mnist.download_mnist`) and
extracts only the split asked for; :func:`load_emnist` reads a folder of those files
(gzipped or not) or the archive itself.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

from nn.errors import DataError

from .dataset import Dataset
from .download import download_file, file_checksum, write_atomically
from .emnist_files import (
    EMNIST_FIRST_LABEL,
    EMNIST_PARTS,
    EMNIST_SIZES,
    EMNIST_SPLITS,
    EMNIST_ZIP_NAME,
    MERGE_KEEPS_LOWER,
    EmnistSplit,
    check_split,
    class_names_from_mapping,
    emnist_dataset,
    emnist_file_names,
    emnist_location,
    emnist_mapping_name,
    find_emnist_splits,
    has_emnist_part,
    labels_to_classes,
    load_emnist,
    parse_mapping,
    renamed_dataset,
    upright_images,
    zip_member,
)
from .limits import MAX_EMNIST_BYTES, MAX_EMNIST_IMAGES, too_big_error
from .sources import BoundedReader

__all__ = [
    "EMNIST_FIRST_LABEL", "EMNIST_MD5", "EMNIST_PARTS", "EMNIST_SIZES", "EMNIST_SPLITS", "EMNIST_URL",
    "EMNIST_ZIP_MEGABYTES", "EMNIST_ZIP_NAME", "MERGE_KEEPS_LOWER", "SPEC_PREFIX", "EmnistSplit",
    "check_split", "class_names_from_mapping", "download_emnist", "emnist_dataset", "emnist_file_names",
    "emnist_location", "emnist_mapping_name", "emnist_source", "find_emnist_splits", "has_emnist_part",
    "labels_to_classes", "load_emnist", "load_emnist_source", "parse_mapping", "upright_images",
]

# The official archive and the MD5 torchvision.datasets.EMNIST checks it against.
# (torchvision names the same file at https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/.)
EMNIST_URL = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
EMNIST_MD5 = "58c8d27c78d21e728a6bc7b3cc06412e"
EMNIST_ZIP_MEGABYTES = 562


# ---------------------------------------------------------------------------
# Downloading
# ---------------------------------------------------------------------------


def _split_members(split: str) -> list[str]:
    """The five files of a split inside the archive (under ``gzip/``)."""
    names = [f"{stem}.gz" for part in EMNIST_PARTS for stem in emnist_file_names(split, part)]
    return [*names, emnist_mapping_name(split)]


def download_emnist(
    split: str,
    cache_dir: str | os.PathLike | None = None,
    *,
    progress: Callable[[str, int, int | None], None] | None = None,
    url: str = EMNIST_URL,
    md5: str = EMNIST_MD5,
) -> tuple[Dataset, Dataset]:
    """Download EMNIST (once), extract one split (once) and load it.

    Steps, each skipped when its result is already in ``cache_dir``:

    1. ``gzip.zip`` (~562 MB) is downloaded with :func:`datasets.download.download_file`: streamed
       into a temporary file, checked against ``md5``, renamed into place.  A zip already
       in the cache is used when its MD5 is right (and downloaded again when it is not).
    2. The split's five members are copied out of the zip, each through a temporary
       file renamed into place, so a half-extracted file never carries a real name.
    3. Both parts are loaded with :func:`load_emnist`.

    Args:
        split: one of :data:`EMNIST_SPLITS`.
        cache_dir: default ``default_cache_dir() / "emnist"``; the zip is kept there for
            the other splits.
        progress: called as ``progress(file_name, bytes_done, bytes_total)`` while the zip
            downloads (``bytes_total`` None without a Content-Length); once as complete when
            it was cached.
        url, md5: where the archive is and its expected MD5.

    Returns:
        ``(train, test)`` Datasets of the split.

    Raises:
        DataError: offline or unreachable (the message says so), checksum mismatch (the
            download is deleted), a damaged archive, or malformed files.
    """
    split = check_split(split)
    directory = emnist_location(cache_dir)
    members = _split_members(split)
    if not all((directory / name).is_file() for name in members):
        archive_path = directory / EMNIST_ZIP_NAME
        if archive_path.is_file() and file_checksum(archive_path, "md5") == md5.lower():
            if progress is not None:
                size = archive_path.stat().st_size
                progress(EMNIST_ZIP_NAME, size, size)
        else:
            try:
                download_file(url, archive_path, checksum=md5, algorithm="md5",
                              progress=(lambda done, total: progress(EMNIST_ZIP_NAME, done, total))
                              if progress is not None else None)
            except DataError as error:
                raise DataError(f"could not download EMNIST ({EMNIST_ZIP_NAME}, about "
                                f"{EMNIST_ZIP_MEGABYTES} MB) from {url}: {error}") from None
        _extract_split(archive_path, split, directory)
    train, test = load_emnist(split, directory, "train"), load_emnist(split, directory, "test")
    # "downloaded" rather than the cache's path, which means nothing to an app's user.
    return renamed_dataset(train, split, "train", "downloaded"), renamed_dataset(test, split, "test", "downloaded")


def _extract_split(archive_path: Path, split: str, directory: Path) -> None:
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for name in _split_members(split):
                member = zip_member(archive, name)
                if member is None:
                    raise DataError(f"{archive_path.name}: has no member gzip/{name}")
                # zipfile checks each member's CRC-32 as it is read: a damaged member raises
                # BadZipFile, and write_atomically leaves nothing under the real name. No
                # member of NIST's archive unpacks to more than MAX_EMNIST_BYTES.
                with write_atomically(directory / name) as file, archive.open(member) as source:
                    too_big = too_big_error(name, MAX_EMNIST_BYTES, "a member of EMNIST's archive", True)
                    shutil.copyfileobj(BoundedReader(source, MAX_EMNIST_BYTES, too_big), file, 1 << 20)
    except zipfile.BadZipFile as error:
        raise DataError(f"{archive_path.name}: damaged archive ({error}); delete it to download "
                        "it again") from None
    except OSError as error:
        raise DataError(f"cannot extract EMNIST {split} into {directory}: {error}") from None


# ---------------------------------------------------------------------------
# One string for the command line
# ---------------------------------------------------------------------------

SPEC_PREFIX = "emnist-"


def emnist_source(spec: str) -> tuple[str, Path | None] | None:
    """Which EMNIST data a ``--data`` string names: ``(split, location)``, or None if none.

    * ``"emnist-letters"``: the split from the cache (downloaded if absent): location None.
    * ``"emnist-letters:PATH"``: the split from a folder or ``gzip.zip`` at PATH.
    * a folder (or ``gzip.zip``) whose file names show exactly one split: that split.
      Several splits there: DataError asking to name one.
    """
    if spec.startswith(SPEC_PREFIX):
        split, _, path = spec[len(SPEC_PREFIX):].partition(":")
        check_split(split)
        return split, (Path(path).expanduser() if path else None)
    path = Path(spec).expanduser()
    if not path.exists():
        return None
    if path.is_file() and not zipfile.is_zipfile(path):
        return None
    splits = find_emnist_splits(path)
    if not splits:
        return None
    if len(splits) > 1:
        raise DataError(f"{spec}: holds EMNIST splits {', '.join(splits)}; name one, e.g. "
                        f"emnist-{splits[0]}:{spec}")
    return splits[0], path


def load_emnist_source(split: str, location: Path | None, part: str = "train",
                       progress: Callable[[str, int, int | None], None] | None = None, *,
                       max_images: int | None = MAX_EMNIST_IMAGES, max_bytes: int | None = MAX_EMNIST_BYTES) -> Dataset:
    """The ``part`` of a split named by :func:`emnist_source`: from ``location`` (within the
    limits, see :func:`load_emnist`), or from the cache (downloading it first when it is not
    there; NIST's archive is checked by its MD5)."""
    if location is not None:
        return load_emnist(split, location, part, max_images=max_images, max_bytes=max_bytes)
    train, test = download_emnist(split, progress=progress)
    return train if part == "train" else test
