"""The data a lab trains on: the shared bundled split or a session's own upload. Uploaded
bytes become a training set (a Kaggle
``train.csv``, a pair of MNIST or EMNIST IDX files), split into training and validation
(:class:`SplitData`), and what the Data page shows of it (class counts, mean images, samples).

Uploaded files are parsed from their bytes in memory: their names only ever appear in
messages (:func:`display_name`), never as paths. Every malformed input raises
:class:`nn.errors.DataError` with the loader's message, so a page can show it and change nothing.

Identical data is shared by every session of the server, read-only (:func:`shared_split`):
an upload is known by the SHA-256 of its bytes, parsed once (``datasets.SharedDatasets``)
and split once per (content, validation share, seed) (:class:`SharedSplits`); each session
sees it under its own name (the file name it uploaded), never another session's.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

import numpy as np

from datasets import (
    DIGIT_CLASS_NAMES,
    Dataset,
    SharedDatasets,
    class_noun,
    content_digest,
    load_idx_pair,
    load_kaggle_csv,
    stratified_split,
)
from datasets.emnist import emnist_dataset
from nn.errors import DataError

N_INPUTS, N_CLASSES = 784, 10


MIN_TRAINING_IMAGES = 20  # fewer cannot be split into training and validation sensibly


def display_name(name: str | None, default: str = "uploaded file") -> str:
    """A file name safe to show in a message: its last path part, printable, at most 80
    characters. Only ever shown to the user, never used to open or write anything."""
    if not isinstance(name, str) or not name:
        return default
    base = PureWindowsPath(PurePosixPath(name).name).name  # drop folders, either style
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()
    if not base:
        return default
    return base if len(base) <= 80 else base[:77] + "..."


def named_bytes(raw: bytes, name: str | None) -> io.BytesIO:
    """An in-memory file holding ``raw`` whose ``.name`` (used by the loaders' messages) is
    :func:`display_name` of ``name``."""
    stream = io.BytesIO(bytes(raw))
    stream.name = display_name(name)
    return stream


def _check_training_set(dataset: Dataset, name: str) -> Dataset:
    if dataset.labels is None:
        raise DataError(f"{name}: has no 'label' column, so there is nothing to learn from: it "
                        "looks like Kaggle's test.csv (use it on the Evaluate page to make a "
                        "submission). A training file's header is 'label,pixel0,...,pixel783'.")
    if dataset.n_samples < MIN_TRAINING_IMAGES:
        raise DataError(f"{name}: only {dataset.n_samples} images; at least "
                        f"{MIN_TRAINING_IMAGES} are needed to train and validate")
    if len(np.unique(dataset.labels)) < 2:
        raise DataError(f"{name}: every image has the same label "
                        f"({dataset.class_names[int(dataset.labels[0])]}); a classifier needs at "
                        f"least two {class_noun(dataset.class_names, plural=True)}")
    return dataset


def training_set_from_csv(raw: bytes, name: str | None) -> Dataset:
    """A labelled Kaggle ``train.csv`` (gzipped or not) from its bytes."""
    label = display_name(name)
    dataset = load_kaggle_csv(named_bytes(raw, name))
    dataset = _check_training_set(dataset, label)
    return Dataset(dataset.images, dataset.labels,
                   name=f"{label} ({dataset.n_samples:,} images, Kaggle CSV)")


def training_set_from_idx(images_raw: bytes, images_name: str | None,
                          labels_raw: bytes, labels_name: str | None) -> Dataset:
    """MNIST IDX images + labels (gzipped or not) from their bytes."""
    label = display_name(images_name)
    dataset = load_idx_pair(named_bytes(images_raw, images_name),
                            named_bytes(labels_raw, labels_name), name=label)
    dataset = _check_training_set(dataset, label)
    return Dataset(dataset.images, dataset.labels,
                   name=f"{label} ({dataset.n_samples:,} images, IDX)")


def emnist_set_from_idx(images_raw: bytes, images_name: str | None, labels_raw: bytes,
                        labels_name: str | None, split: str, part: str = "train") -> Dataset:
    """One part of an EMNIST split from its uploaded IDX pair (gzipped or not): images turned
    upright, labels shifted to classes, the split's class names (``datasets.emnist``)."""
    label = display_name(images_name)
    dataset = emnist_dataset(named_bytes(images_raw, images_name), named_bytes(labels_raw, labels_name),
                             split, name=label)
    if part == "train":
        dataset = _check_training_set(dataset, label)
    elif dataset.n_samples == 0:
        raise DataError(f"{label}: no images")
    return Dataset(dataset.images, dataset.labels, class_names=dataset.class_names,
                   name=f"EMNIST {split} {part} ({dataset.n_samples:,} images, {label})")


def read_only(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


def make_split(dataset: Dataset, validation_fraction: float, key: str, seed: int = 0,
               test: Dataset | None = None):
    """The dataset split class by class into training and validation (:class:`SplitData`),
    with its own labelled ``test`` set (e.g. EMNIST's test part) when given."""
    if test is not None and tuple(test.class_names) != tuple(dataset.class_names):
        raise DataError(f"{test.name}: its classes are not those of {dataset.name}")

    train_idx, val_idx = stratified_split(dataset.labels, validation_fraction, seed=seed)
    if len(val_idx) == 0:
        raise DataError(f"{dataset.name}: a {validation_fraction:.0%} validation split leaves "
                        "no validation images; choose a larger share")
    return SplitData(
        key=key, name=dataset.name,
        train_images=read_only(dataset.images[train_idx]),
        train_labels=read_only(dataset.labels[train_idx]),
        validation_images=read_only(dataset.images[val_idx]),
        validation_labels=read_only(dataset.labels[val_idx]),
        n_classes=dataset.n_classes,
        class_names=tuple(dataset.class_names),
        test=None if test is None else (read_only(test.images), read_only(test.labels),
                                        f"{test.n_samples:,} {test.name.split(' (')[0]} images"),
    )


def class_counts(labels, n_classes: int = N_CLASSES) -> np.ndarray:
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)[:n_classes]


def mean_images(images, labels, n_classes: int = N_CLASSES) -> np.ndarray:
    """``(n_classes, 784)`` float32 in [0, 1]: each digit's average image (0 if absent)."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    means = np.zeros((n_classes, images.shape[1]), dtype=np.float32)
    for k in range(n_classes):
        members = images[labels == k]
        if len(members):
            means[k] = members.sum(axis=0, dtype=np.int64) / (len(members) * 255.0)
    return means


def sample_indices(labels, per_class: int, n_classes: int = N_CLASSES, seed: int = 0) -> np.ndarray:
    """``(n_classes, per_class)`` indices of random images of each digit; -1 where a digit has
    fewer than ``per_class`` images."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = np.full((n_classes, per_class), -1, dtype=np.int64)
    for k in range(n_classes):
        members = np.flatnonzero(labels == k)
        if len(members):
            chosen = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False))
            out[k, : len(chosen)] = chosen
    return out


@dataclass(frozen=True)
class DatasetInfo:
    """What the sidebar says about a dataset without loading it (a test checks it)."""

    name: str
    n_images: int
    n_validation: int
    class_names: tuple[str, ...] = DIGIT_CLASS_NAMES


DATASETS = {"bundled": DatasetInfo("MNIST 5k subset (bundled)", 5000, 500)}


@dataclass(frozen=True)
class SplitData:
    """A labelled dataset split once into training and validation parts (read-only arrays).

    ``class_names[k]`` names class ``k`` (the network's output unit ``k``): "0".."9" for
    MNIST-like digits, e.g. "A".."Z" for EMNIST letters; a count other than 10 without
    names gets "0", "1", ... ``test`` is the dataset's own labelled test set
    ``(images, labels, description)`` (EMNIST's test part), if it came with one.
    """

    key: str
    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    validation_images: np.ndarray
    validation_labels: np.ndarray
    n_classes: int
    class_names: tuple[str, ...] = DIGIT_CLASS_NAMES
    test: tuple[np.ndarray, np.ndarray, str] | None = None

    def __post_init__(self) -> None:
        if len(self.class_names) != self.n_classes:
            object.__setattr__(self, "class_names", tuple(str(k) for k in range(self.n_classes)))

    @property
    def n_train(self) -> int:
        return len(self.train_labels)

    @property
    def n_validation(self) -> int:
        return len(self.validation_labels)

    @property
    def digits(self) -> bool:
        """True for MNIST-like data: the ten digits, so MNIST's real test set applies."""
        return tuple(self.class_names) == DIGIT_CLASS_NAMES


# -- data shared by the sessions -----------------------------------------------------------


class SharedSplits(SharedDatasets):
    """A bounded, thread-safe store of :class:`SplitData` (read-only arrays, see
    :func:`make_split`) shared by every session: ``get_or_load(key, split)`` with keys such as
    (content digest, validation share, seed)."""

    def size_of(self, split: SplitData) -> int:
        arrays = [split.train_images, split.train_labels, split.validation_images, split.validation_labels]
        return sum(a.nbytes for a in arrays + list(split.test[:2] if split.test else ()))

    def freeze(self, split: SplitData) -> None:
        pass  # make_split's arrays are read-only already


def shared_split(key: Hashable, name: str, split: Callable[[], SplitData], splits: SharedSplits) -> SplitData:
    """The SplitData ``split()`` makes, made once per ``key`` for the whole server
    (``splits``), seen as ``name`` by this session (the arrays are the shared ones)."""
    return dataclasses.replace(splits.get_or_load(key, split), name=name)


def split_upload(kind: str, label: str, parts: tuple[bytes, ...], fraction: float, parse: Callable[[], Dataset], *,
                 datasets: SharedDatasets, splits: SharedSplits, seed: int = 0,
                 parse_test: Callable[[], Dataset] | None = None) -> SplitData:
    """An upload (its bytes ``parts``, read by ``parse``; ``parse_test``: its test part) split
    into training and validation: parsed once per content and ``kind`` (e.g. "csv") for the
    whole server (``datasets``), split once per (content, ``fraction``, ``seed``) (``splits``).
    The shared data is named by ``label`` (what it is, e.g. "EMNIST letters": its test part is
    "EMNIST letters test") and never by a file name: the caller names the result for its
    session (:func:`shared_split`'s ``name``). May raise DataError (the loaders' messages)."""
    digest = content_digest(*parts, kind=kind)

    def parsed(part: str, read: Callable[[], Dataset]) -> Dataset:
        def load() -> Dataset:
            dataset = read()
            return Dataset(dataset.images, dataset.labels, class_names=dataset.class_names, name=f"{label} {part}")
        return datasets.get_or_load((digest, part), load)

    def split() -> SplitData:
        test = parsed("test", parse_test) if parse_test is not None else None
        return make_split(parsed("train", parse), fraction, key=f"{kind}:{digest[:12]}@{fraction:g}", seed=seed,
                          test=test)

    return shared_split((digest, fraction, seed), label, split, splits)
