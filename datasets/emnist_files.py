"""EMNIST's files read: handwritten letters (and more digits) in MNIST's own format.

EMNIST (Cohen, Afshar, Tapson and van Schaik, "EMNIST: an extension of MNIST to
handwritten letters", 2017, arXiv:1702.05373) converts NIST Special Database 19 into
28 x 28 greyscale images and stores them exactly like MNIST: IDX files, one for the
images and one for the labels.  So the same network (784 inputs) can learn letters;
only its output layer changes size, one unit per class.

The splits (class counts and sizes from the paper / NIST's page)::

    split      classes  images   what
    byclass    62       814,255  0-9, A-Z, a-z (unbalanced, as written)
    bymerge    47       814,255  like byclass, 15 look-alike letters merged (C/c, O/o...)
    balanced   47       131,600  bymerge with the same number of images per class
    letters    26       145,600  A-Z, each class holding both cases
    digits     10       280,000  0-9
    mnist      10        70,000  0-9, MNIST's sizes

Three differences from MNIST matter to a loader:

1. **The images are stored transposed.**  Row ``r`` of a stored image is column ``r``
   of the character as written, so without a fix every letter appears mirrored and
   lying on its side.  With the stored images read as ``(n, 28, 28)``::

       upright = stored.transpose(0, 2, 1)     # swap rows and columns of every image

   which is what :func:`load_emnist` returns (flattened to ``(n, 784)`` row by row,
   like every :class:`datasets.dataset.Dataset`).
2. **Labels go beyond 9**, and in ``letters`` they start at 1 (1 = A ... 26 = Z;
   there is no class 0).  The loader shifts them to ``0 .. n_classes - 1``, which is
   what the network's output units are numbered.
3. **Class names come from a mapping file**, ``emnist-<split>-mapping.txt``: one line
   per class, ``label ascii_code [ascii_code]``, e.g. ``10 65`` (label 10 is "A" in
   balanced) or ``1 65 97`` (label 1 is "A" and "a" in letters).

Class names (the convention used everywhere in Digit Lab): a class is named by the
character of the **first** code on its mapping line.  So letters' classes are
"A" ... "Z" (each holds the upper- and the lower-case letter), and the merged
classes of bymerge/balanced ("C" holds C and c) keep their upper-case name, while the
11 lower-case letters that stay separate there ("a b d e f g h n q r t") are their own
classes after "Z".  One character per class keeps a 26 x 26 confusion matrix legible.

Where the files come from and how ``gzip.zip`` is downloaded and unpacked is
:mod:`datasets.emnist`'s part; this module reads what is on disk: a folder of those
files (gzipped or not, directly or in the archive's ``gzip/`` folder) or the archive
itself.
"""

from __future__ import annotations

import os
import string
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nn.errors import DataError

from .dataset import DIGIT_CLASS_NAMES, IMAGE_SIDE, PIXELS_PER_IMAGE, Dataset
from .download import default_cache_dir
from .idx import load_idx
from .limits import MAX_EMNIST_BYTES, MAX_EMNIST_IMAGES, MAX_IDX_BYTES, MAX_IDX_IMAGES, MAX_MAPPING_BYTES
from .sources import read_bounded

EMNIST_ZIP_NAME = "gzip.zip"  # NIST's one archive of every split
EMNIST_PARTS = ("train", "test")


class EmnistSplit(NamedTuple):
    """What a split's classes are: unpacks as ``n_classes, class_names``."""

    n_classes: int
    class_names: tuple[str, ...]


_UPPER = tuple(string.ascii_uppercase)
_LOWER = tuple(string.ascii_lowercase)
# The lower-case letters that bymerge and balanced keep apart from their capitals;
# the other 15 (c i j k l m o p s u v w x y z) look the same in both cases and are
# merged into the capital's class (the paper, section II-C).
MERGE_KEEPS_LOWER = tuple("abdefghnqrt")

EMNIST_SPLITS: dict[str, EmnistSplit] = {
    "byclass": EmnistSplit(62, DIGIT_CLASS_NAMES + _UPPER + _LOWER),
    "bymerge": EmnistSplit(47, DIGIT_CLASS_NAMES + _UPPER + MERGE_KEEPS_LOWER),
    "balanced": EmnistSplit(47, DIGIT_CLASS_NAMES + _UPPER + MERGE_KEEPS_LOWER),
    "letters": EmnistSplit(26, _UPPER),
    "digits": EmnistSplit(10, DIGIT_CLASS_NAMES),
    "mnist": EmnistSplit(10, DIGIT_CLASS_NAMES),
}

# The label of class 0 in the files: letters number A..Z from 1, every other split from 0.
EMNIST_FIRST_LABEL = {"letters": 1}

# Images per split (train + test), from the paper; only shown to people.
EMNIST_SIZES = {"byclass": 814_255, "bymerge": 814_255, "balanced": 131_600,
                "letters": 145_600, "digits": 280_000, "mnist": 70_000}


def check_split(split: str) -> str:
    if split not in EMNIST_SPLITS:
        raise DataError(f"unknown EMNIST split {split!r}; one of {', '.join(EMNIST_SPLITS)}")
    return split


def _check_part(part: str) -> str:
    if part not in EMNIST_PARTS:
        raise DataError(f"EMNIST part must be 'train' or 'test', got {part!r}")
    return part


def emnist_file_names(split: str, part: str) -> tuple[str, str]:
    """``(images, labels)`` file names of one part of a split, without ``.gz``.

    >>> emnist_file_names("letters", "train")
    ('emnist-letters-train-images-idx3-ubyte', 'emnist-letters-train-labels-idx1-ubyte')
    """
    stem = f"emnist-{check_split(split)}-{_check_part(part)}"
    return f"{stem}-images-idx3-ubyte", f"{stem}-labels-idx1-ubyte"


def emnist_mapping_name(split: str) -> str:
    return f"emnist-{check_split(split)}-mapping.txt"


# ---------------------------------------------------------------------------
# Class names
# ---------------------------------------------------------------------------


def parse_mapping(text: str, name: str = "mapping.txt") -> tuple[int, tuple[str, ...]]:
    """Read an EMNIST mapping file: ``(first_label, class_names)``.

    Each non-blank line is ``label ascii_code [ascii_code]``: the class's label in the
    label file and the character(s) it stands for.  The labels must be consecutive
    whole numbers starting at 0 or 1 (letters starts at 1), in any order; class ``k``
    of the network is label ``first_label + k``, named by its first code's character.

    Raises:
        DataError: naming the line, for anything else (a missing or extra field, a
            code that is not a printable ASCII character, a repeated or missing label).
    """
    codes_by_label: dict[int, int] = {}
    for line_number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{name}: line {line_number}"
        if len(fields) not in (2, 3):
            raise DataError(f"{where}: expected 'label ascii_code [ascii_code]', found {line.strip()!r}")
        try:
            label, *codes = (int(field) for field in fields)
        except ValueError:
            raise DataError(f"{where}: {line.strip()!r} is not whole numbers") from None
        for code in codes:
            if not 33 <= code <= 126:  # "!" .. "~": one visible ASCII character
                raise DataError(f"{where}: {code} is not the code of a printable ASCII character")
        if label in codes_by_label:
            raise DataError(f"{where}: label {label} appears twice")
        codes_by_label[label] = codes[0]
    if not codes_by_label:
        raise DataError(f"{name}: no mapping lines (expected 'label ascii_code' per line)")
    labels = sorted(codes_by_label)
    first = labels[0]
    if first not in (0, 1):
        raise DataError(f"{name}: labels must start at 0 or 1, the smallest is {first}")
    missing = sorted(set(range(first, labels[-1] + 1)) - set(labels))
    if missing:
        raise DataError(f"{name}: labels must be consecutive, but label {missing[0]} is missing")
    names = tuple(chr(codes_by_label[label]) for label in labels)
    if len(set(names)) != len(names):
        raise DataError(f"{name}: two classes have the same character")
    return first, names


def class_names_from_mapping(text: str, name: str = "mapping.txt") -> tuple[str, ...]:
    """The class names a mapping file gives, class 0 first (see :func:`parse_mapping`).

    >>> class_names_from_mapping("1 65 97\\n2 66 98\\n")
    ('A', 'B')
    """
    return parse_mapping(text, name)[1]


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

# Images transposed per block: a few MB of scratch instead of a second full copy.
_TRANSPOSE_BLOCK = 8192


def upright_images(stored: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """EMNIST's stored ``(n, 28, 28)`` images in MNIST orientation, as ``(n, 784)`` uint8.

    Each image is transposed (``image.T``: row ``r`` becomes column ``r``).  With
    ``in_place`` the array given is overwritten, block by block, so byclass's 550 MB of
    images never exist twice (the loaders own the array they read, so they do this).
    """
    if stored.ndim != 3 or stored.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(f"EMNIST images must have shape (n, 28, 28), got {stored.shape}")
    usable = in_place and stored.dtype == np.uint8 and stored.flags.c_contiguous and stored.flags.writeable
    images = stored if usable else np.array(stored, dtype=np.uint8, order="C")
    for start in range(0, len(images), _TRANSPOSE_BLOCK):
        block = images[start: start + _TRANSPOSE_BLOCK]
        block[...] = block.transpose(0, 2, 1).copy()
    return images.reshape(len(images), PIXELS_PER_IMAGE)


def labels_to_classes(labels: np.ndarray, split: str, name: str = "labels") -> np.ndarray:
    """File labels -> class numbers ``0 .. n_classes - 1`` (letters: 1..26 -> 0..25).

    Raises DataError naming the first label outside the split's range.
    """
    n_classes = EMNIST_SPLITS[check_split(split)].n_classes
    first = EMNIST_FIRST_LABEL.get(split, 0)
    labels = np.asarray(labels)
    bad = (labels < first) | (labels >= first + n_classes)
    if bad.any():
        position = int(np.argmax(bad))
        raise DataError(f"{name}: label {int(labels[position])} at index {position} is outside "
                        f"{first}-{first + n_classes - 1} (EMNIST {split} has {n_classes} classes)")
    return (labels - first).astype(np.uint8) if first else labels.astype(np.uint8, copy=False)


def emnist_dataset(images_source, labels_source, split: str, *, name: str,
                   class_names: tuple[str, ...] | None = None, max_images: int | None = MAX_IDX_IMAGES,
                   max_bytes: int | None = MAX_IDX_BYTES) -> Dataset:
    """One images + labels pair in EMNIST's layout (paths or open binary files) as a Dataset:
    images turned upright, labels shifted to classes, the split's class names.  The limits
    apply to each file (:func:`datasets.idx.load_idx`); the defaults are those for uploads.

    Raises DataError for a wrong magic number, a truncated file, counts that differ, labels
    outside the split's range (the message says which file), a limit passed."""
    split = check_split(split)
    images = load_idx(images_source, max_images=max_images, max_bytes=max_bytes)
    if images.ndim != 3:
        raise DataError(f"{_name_of(images_source)}: not an IDX image file (it holds labels)")
    labels = load_idx(labels_source, max_images=max_images, max_bytes=max_bytes)
    if labels.ndim != 1:
        raise DataError(f"{_name_of(labels_source)}: not an IDX label file (it holds images)")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{name}: {images.shape[0]:,} images in {_name_of(images_source)} but "
                        f"{labels.shape[0]:,} labels in {_name_of(labels_source)}")
    classes = labels_to_classes(labels, split, _name_of(labels_source))
    names = class_names if class_names is not None else EMNIST_SPLITS[split].class_names
    return Dataset(upright_images(images, in_place=True), classes, name=name, class_names=tuple(names))


def _name_of(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return Path(str(getattr(source, "name", "") or "<uploaded file>")).name


def find_member(directory: Path, stem: str) -> Path | None:
    """``stem`` or ``stem.gz`` in ``directory`` or its ``gzip/`` folder (the unzipped archive)."""
    for folder in (directory, directory / "gzip"):
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def zip_member(archive: zipfile.ZipFile, file_name: str) -> str | None:
    """The archive's member called ``file_name`` (``gzip/...`` or at the top), or None."""
    for member in (f"gzip/{file_name}", file_name):
        try:
            archive.getinfo(member)
            return member
        except KeyError:
            continue
    return None


def zip_idx_member(archive: zipfile.ZipFile, stem: str) -> str | None:
    """The archive's IDX file ``stem``, gzipped (as NIST ships it) or not, or None."""
    return zip_member(archive, f"{stem}.gz") or zip_member(archive, stem)


def emnist_location(directory: str | os.PathLike | None = None) -> Path:
    """Where :func:`load_emnist` looks by default: ``default_cache_dir() / "emnist"``."""
    return Path(directory) if directory is not None else default_cache_dir() / "emnist"


def load_emnist(split: str, directory: str | os.PathLike | None = None, part: str = "train", *,
                max_images: int | None = MAX_EMNIST_IMAGES, max_bytes: int | None = MAX_EMNIST_BYTES) -> Dataset:
    """Load one part (``"train"`` or ``"test"``) of an EMNIST split, upright and relabelled.

    Args:
        split: one of :data:`EMNIST_SPLITS` (``"letters"``, ``"balanced"``...).
        directory: a folder holding ``emnist-<split>-<part>-images-idx3-ubyte[.gz]`` and
            ``...-labels-idx1-ubyte[.gz]`` (directly or in a ``gzip/`` subfolder, as the
            archive unpacks), or holding ``gzip.zip``; or the path of ``gzip.zip`` itself.
            Default: the download cache (:func:`emnist_location`).
        part: ``"train"`` or ``"test"``.
        max_images, max_bytes: limits on each file (:func:`datasets.idx.load_idx`); the defaults
            fit the largest split, byclass, as these files are on the server's disk, not uploads.

    Returns:
        Dataset: images ``(n, 784)`` uint8 in MNIST orientation, labels ``(n,)`` uint8 in
        ``0 .. n_classes - 1``, ``class_names`` from the split's mapping file when present
        (checked against the split's class count), else from :data:`EMNIST_SPLITS`.

    Raises:
        DataError: files missing (the message names them), malformed, or disagreeing.
    """
    split, part = check_split(split), _check_part(part)
    location = emnist_location(directory)
    images_stem, labels_stem = emnist_file_names(split, part)
    if location.is_dir():
        images_path, labels_path = find_member(location, images_stem), find_member(location, labels_stem)
        if images_path is not None and labels_path is not None:
            mapping = find_member(location, emnist_mapping_name(split))
            names = _class_names_for(split, _read_mapping(mapping) if mapping else None,
                                     emnist_mapping_name(split))
            dataset = emnist_dataset(images_path, labels_path, split, class_names=names,
                                     name=f"EMNIST {split} {part}", max_images=max_images, max_bytes=max_bytes)
            return renamed_dataset(dataset, split, part, str(location))
        if (location / EMNIST_ZIP_NAME).is_file():
            location = location / EMNIST_ZIP_NAME
        else:
            raise DataError(f"{location}: no {images_stem}[.gz] and {labels_stem}[.gz], and no "
                            f"{EMNIST_ZIP_NAME} (EMNIST {split}, {part} part)")
    if location.is_file():
        return _load_from_zip(location, split, part, max_images, max_bytes)
    raise DataError(f"{location}: no such folder or file (looking for EMNIST {split})")


def _class_names_for(split: str, mapping_text: str | None, mapping_name: str) -> tuple[str, ...]:
    """The mapping file's class names (checked against the split), else the built-in ones."""
    expected = EMNIST_SPLITS[split]
    if mapping_text is None:
        return expected.class_names
    first, names = parse_mapping(mapping_text, mapping_name)
    if len(names) != expected.n_classes or first != EMNIST_FIRST_LABEL.get(split, 0):
        raise DataError(f"{mapping_name}: {len(names)} classes from label {first}, but EMNIST "
                        f"{split} has {expected.n_classes} from label {EMNIST_FIRST_LABEL.get(split, 0)}")
    return names


def _read_mapping(path_or_member, archive: zipfile.ZipFile | None = None) -> str:
    """A mapping file's text (from a folder, or a member of ``archive``), read up to
    :data:`MAX_MAPPING_BYTES`: a real one is under 1 KB, a zip bomb's is never inflated."""
    name = Path(str(path_or_member)).name
    with (archive.open(path_or_member) if archive is not None else open(path_or_member, "rb")) as stream:
        return read_bounded(stream, MAX_MAPPING_BYTES, name, "an EMNIST mapping file").decode("ascii", "replace")


def _load_from_zip(path: Path, split: str, part: str, max_images: int | None, max_bytes: int | None) -> Dataset:
    """Read a split's members straight out of ``gzip.zip`` (nothing is extracted to disk), each
    within the limits (a member is inflated while it is read, so never past them)."""
    images_stem, labels_stem = emnist_file_names(split, part)
    try:
        with zipfile.ZipFile(path) as archive:
            members = []
            for stem in (images_stem, labels_stem):
                member = zip_idx_member(archive, stem)
                if member is None:
                    raise DataError(f"{path.name}: has no member {stem}.gz (is it EMNIST's gzip.zip?)")
                members.append(member)
            mapping_member = zip_member(archive, emnist_mapping_name(split))
            mapping_text = _read_mapping(mapping_member, archive) if mapping_member else None
            names = _class_names_for(split, mapping_text, emnist_mapping_name(split))
            with archive.open(members[0]) as images, archive.open(members[1]) as labels:
                dataset = emnist_dataset(images, labels, split, class_names=names, name=f"EMNIST {split} {part}",
                                         max_images=max_images, max_bytes=max_bytes)
    except zipfile.BadZipFile as error:
        raise DataError(f"{path.name}: not a readable zip archive ({error})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error})") from None
    return renamed_dataset(dataset, split, part, path.name)


def renamed_dataset(dataset: Dataset, split: str, part: str, where: str) -> Dataset:
    return Dataset(dataset.images, dataset.labels, class_names=dataset.class_names,
                   name=f"EMNIST {split} {part} ({dataset.n_samples:,} images, {where})")


def find_emnist_splits(location: str | os.PathLike) -> list[str]:
    """The EMNIST splits whose training files are in a folder (or in the zip), by file name."""
    location = Path(location)
    if location.is_dir() and (location / EMNIST_ZIP_NAME).is_file():
        location = location / EMNIST_ZIP_NAME
    if location.is_dir():
        return [split for split in EMNIST_SPLITS
                if all(find_member(location, stem) for stem in emnist_file_names(split, "train"))]
    if location.is_file() and zipfile.is_zipfile(location):
        with zipfile.ZipFile(location) as archive:
            return [split for split in EMNIST_SPLITS
                    if all(zip_idx_member(archive, stem) for stem in emnist_file_names(split, "train"))]
    return []


def has_emnist_part(split: str, location: str | os.PathLike | None, part: str) -> bool:
    """True when both files of a split's ``part`` are in ``location`` (folder or zip;
    None: the cache), so that loading it can only fail on malformed files."""
    location = emnist_location(location)
    stems = emnist_file_names(split, part)
    if location.is_dir() and all(find_member(location, stem) for stem in stems):
        return True
    if location.is_dir():
        location = location / EMNIST_ZIP_NAME
    if not (location.is_file() and zipfile.is_zipfile(location)):
        return False
    with zipfile.ZipFile(location) as archive:
        return all(zip_idx_member(archive, stem) for stem in stems)
