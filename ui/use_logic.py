"""What the Draw, Evaluate, Data and Models pages compute, without Streamlit.

* Evaluation: predictions on a labelled set, the confusion matrix, per-class
  precision and recall, the misclassified images ordered by confidence.
* The Kaggle submission: ``test.csv`` bytes in, ``submission.csv`` bytes out.
* Uploads: a training set from a Kaggle ``train.csv``, a pair of MNIST IDX files or
  a pair of EMNIST IDX files (stored transposed, see ``nn/emnist.py``), split into
  training and validation; a model from a ``.npz`` file.

Uploaded files are parsed from their bytes in memory: their names only ever appear in
messages (:func:`display_name`), never as paths. Every malformed input raises
:class:`nn.errors.DataError` (``ModelFileError`` for model files) with the loader's
message, so a page can show it with ``st.error`` and change nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import re
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

import numpy as np

from nn.conv import MAX_CONV_BATCH
from nn.data import DIGIT_CLASS_NAMES, Dataset, load_idx_pair, load_kaggle_csv, stratified_split
from nn.emnist import class_noun, emnist_dataset
from nn.errors import DataError
from nn.model_io import ModelFileError, load_model, model_to_bytes
from nn.network import Network
from nn.training import History, TrainConfig, evaluate, predict_proba

N_INPUTS, N_CLASSES = 784, 10
MIN_TRAINING_IMAGES = 20  # fewer cannot be split into training and validation sensibly
MAX_CURVE_POINTS = 10_000  # epochs read back from a model file's metadata
UPLOADED = "uploaded"  # the status of a Run that came from a model file
CURVE_FIELDS = ("epoch", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy")


# ---------------------------------------------------------------------------------
# Uploaded bytes
# ---------------------------------------------------------------------------------


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


def digest(*parts: bytes) -> str:
    """Short content hash identifying an upload (for cache keys and dataset keys)."""
    hasher = hashlib.sha1()
    for part in parts:
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.hexdigest()[:12]


# ---------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------


def confusion_counts(true, predicted, n_classes: int = N_CLASSES) -> np.ndarray:
    """``(k, k)`` int64: ``counts[t, p]`` = images of class ``t`` predicted as ``p``."""
    true = np.asarray(true, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if true.shape != predicted.shape:
        raise ValueError(f"{true.shape} labels but {predicted.shape} predictions")
    return np.bincount(true * n_classes + predicted, minlength=n_classes * n_classes) \
        .reshape(n_classes, n_classes)


@dataclass(frozen=True)
class Evaluation:
    """A model's answers on one labelled set of images."""

    name: str  # e.g. "validation set"
    images: np.ndarray  # (n, 784) uint8, the set's own (read-only) array
    labels: np.ndarray  # (n,)
    predicted: np.ndarray  # (n,) int64
    confidence: np.ndarray  # (n,) float32: the probability of the predicted class
    counts: np.ndarray  # (k, k) confusion counts

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def n_correct(self) -> int:
        return int(np.trace(self.counts))

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n if self.n else float("nan")

    @property
    def wrong(self) -> np.ndarray:
        return np.flatnonzero(self.predicted != self.labels)


def evaluate_set(network: Network, images, labels, name: str,
                 n_classes: int = N_CLASSES) -> Evaluation:
    probabilities = predict_proba(network, images)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities[np.arange(len(predicted)), predicted].astype(np.float32)
    return Evaluation(name, images, np.asarray(labels), predicted, confidence,
                      confusion_counts(labels, predicted, n_classes))


def per_class_table(counts, class_names=None):
    """Per class: images, correct, precision and recall (in %), as a DataFrame; the first
    column is named after the classes ("digit" for 0-9, "letter", "character").

    precision of class c = right answers "c" / all answers "c" (column sum);
    recall = right answers "c" / images of c (row sum). No answer "c" at all: precision
    is undefined (NaN, shown empty).
    """
    import pandas as pd

    counts = np.asarray(counts, dtype=np.int64)
    k = len(counts)
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(k)]
    right = np.diag(counts)
    predicted_as = counts.sum(axis=0)
    images = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted_as > 0, right / np.maximum(predicted_as, 1), np.nan)
        recall = np.where(images > 0, right / np.maximum(images, 1), np.nan)
    noun = class_noun(names)
    return pd.DataFrame({
        noun: names,
        "images": images,
        "correct": right,
        f"predicted as this {noun}": predicted_as,
        "precision %": np.round(100 * precision, 1),
        "recall %": np.round(100 * recall, 1),
    })


def by_confidence(indices, confidence, most_confident_first: bool = True) -> np.ndarray:
    """``indices`` ordered by their ``confidence`` (stable: ties keep their order)."""
    indices = np.asarray(indices, dtype=np.int64)
    keys = np.asarray(confidence)[indices]
    order = np.argsort(-keys if most_confident_first else keys, kind="stable")
    return indices[order]


def cell_indices(evaluation: Evaluation, true: int, predicted: int,
                 most_confident_first: bool = True) -> np.ndarray:
    """Images of class ``true`` predicted as ``predicted``, most confident first."""
    members = np.flatnonzero((evaluation.labels == true) & (evaluation.predicted == predicted))
    return by_confidence(members, evaluation.confidence, most_confident_first)


# ---------------------------------------------------------------------------------
# Kaggle submission
# ---------------------------------------------------------------------------------

KAGGLE_TEST_ROWS = 28_000


def read_kaggle_test(raw: bytes, name: str | None) -> Dataset:
    """Kaggle's ``test.csv`` (no label column) from its bytes; DataError otherwise."""
    dataset = load_kaggle_csv(named_bytes(raw, name))
    if dataset.labels is not None:
        raise DataError(f"{display_name(name)}: has a 'label' column, so it is a training file "
                        "(train.csv). A submission is made for Kaggle's test.csv, whose header "
                        "is 'pixel0,...,pixel783'.")
    return dataset


def submission_csv(network: Network, images) -> tuple[np.ndarray, bytes]:
    """(predicted labels, the bytes of ``submission.csv``): ``ImageId,Label``, ImageId from 1."""
    predicted = predict_proba(network, images).argmax(axis=1).astype(np.int64)
    lines = ["ImageId,Label"]
    lines += [f"{i},{label}" for i, label in enumerate(predicted.tolist(), start=1)]
    return predicted, ("\n".join(lines) + "\n").encode("ascii")


def submission_from_upload(network: Network, raw: bytes, name: str | None):
    """Predict an uploaded ``test.csv``: (images, predicted labels, submission.csv bytes)."""
    dataset = read_kaggle_test(raw, name)
    predicted, csv = submission_csv(network, dataset.images)
    return dataset.images, predicted, csv


# ---------------------------------------------------------------------------------
# Training data: uploads, summaries, the split
# ---------------------------------------------------------------------------------


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
    upright, labels shifted to classes, the split's class names (``nn.emnist``)."""
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
    """The dataset split class by class into training and validation (``ui.state.SplitData``),
    with its own labelled ``test`` set (e.g. EMNIST's test part) when given."""
    from .state import SplitData

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


# ---------------------------------------------------------------------------------
# Model files
# ---------------------------------------------------------------------------------


def _finite_or_none(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def model_file_bytes(run) -> bytes:
    """A Run's network as a ``.npz`` model file: weights plus metadata (settings, final
    numbers, the per-epoch curves, the dataset it was trained on)."""
    history = run.history
    curves = {name: [_finite_or_none(v) for v in getattr(history, name)] for name in CURVE_FIELDS}
    summary = {k: (_finite_or_none(v) if isinstance(v, float) else v)
               for k, v in history.summary().items()}
    return model_to_bytes(
        run.network, app="Digit Lab", run=run.number, status=run.status,
        config=run.config.to_dict(), history=summary, curves=curves, dataset=run.dataset,
        test_accuracy=_finite_or_none(run.test_accuracy), seconds=_finite_or_none(run.seconds),
        class_names=list(run.class_names),
    )


def class_names_from_metadata(meta: dict, n_outputs: int, default=None) -> tuple[str, ...]:
    """What a model file's output units stand for: its ``class_names`` (saved by the app;
    ``data.class_names`` by train.py) when they are ``n_outputs`` short strings, else
    ``default`` (e.g. the data's names) when it has ``n_outputs`` names, else the digits for
    10 outputs, else "0", "1", ..."""
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    for names in (meta.get("class_names"), data.get("class_names")):
        if (isinstance(names, list) and len(names) == n_outputs and len(set(names)) == n_outputs
                and all(isinstance(n, str) and 0 < len(n) <= 12 and n.isprintable() for n in names)):
            return tuple(names)
    if default is not None and len(default) == n_outputs:
        return tuple(default)
    return DIGIT_CLASS_NAMES if n_outputs == 10 else tuple(str(k) for k in range(n_outputs))


def model_from_upload(raw: bytes, name: str | None, n_classes: int = N_CLASSES,
                      class_names=None) -> tuple[Network, dict]:
    """(network, metadata) of an uploaded ``.npz``; ModelFileError for anything unusable
    here (corrupt, pickled, wrong shapes, or not 784 inputs and one output per class of the
    data in use: ``n_classes``, named ``class_names``)."""
    label = display_name(name, "model file")
    try:
        network, meta = load_model(bytes(raw))
    except ModelFileError as error:
        raise ModelFileError(str(error).replace("model file:", f"{label}:", 1)) from None
    sizes = network.layer_sizes
    if sizes[0] != N_INPUTS or sizes[-1] != n_classes:
        names = tuple(class_names) if class_names is not None else DIGIT_CLASS_NAMES
        theirs = class_names_from_metadata(meta, sizes[-1])
        raise ModelFileError(
            f"{label}: a {'-'.join(map(str, sizes))} network ({sizes[-1]} scores, for "
            f"{class_noun(theirs, plural=True)}); models here take {N_INPUTS} pixels and give "
            f"{n_classes} scores, one per {class_noun(names)} of the data in use. Load data with "
            "its classes on the Data page first.")
    if len(sizes) < 3:
        raise ModelFileError(f"{label}: a network without a hidden layer; the app's pages need "
                             "at least one")
    return network, meta


def _config_from_metadata(meta: dict, network: Network) -> TrainConfig:
    """The training settings stored in the file, or a plain config of the right shape."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    stored = meta.get("config")
    summary = meta.get("history") if isinstance(meta.get("history"), dict) else {}
    # The architecture always comes from the network itself. A convolutional one's conv
    # layers are listed too (the app makes them all alike; a file from elsewhere may mix
    # paddings or pools: then the first layer's stand for all, in the settings only).
    shape = {"hidden_sizes": tuple(network.hidden_sizes), "activation": network.activation}
    specs = getattr(network, "conv_specs", ()) if getattr(network, "is_convolutional", False) else ()
    if specs:
        shape.update(conv_layers=tuple((s.filters, s.kernel) for s in specs), conv_padding=specs[0].padding,
                     conv_pool=specs[0].pool, batch_size=MAX_CONV_BATCH)
    if isinstance(stored, dict):
        values = {k: v for k, v in stored.items() if k in known}
        batch = values.get("batch_size")
        values.update(shape)
        if specs and isinstance(batch, int) and 1 <= batch <= MAX_CONV_BATCH:
            values["batch_size"] = batch
        try:
            return TrainConfig(**values)
        except (TypeError, ValueError, OverflowError):
            pass
    epochs = summary.get("epochs")
    return TrainConfig(**shape, epochs=epochs if isinstance(epochs, int) and 0 <= epochs <= 100_000 else 0)


def _history_from_metadata(meta: dict) -> History:
    """The per-epoch curves stored in the file (checked), else none."""
    curves = meta.get("curves")
    history = History()
    if not isinstance(curves, dict):
        return history
    columns = {}
    for name in CURVE_FIELDS:
        values = curves.get(name)
        if not isinstance(values, list) or len(values) > MAX_CURVE_POINTS:
            return History()
        converted = [_finite_or_none(v) for v in values]
        columns[name] = [float("nan") if v is None else v for v in converted]
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        return History()
    history.epoch = [int(v) if math.isfinite(v) else i + 1 for i, v in enumerate(columns["epoch"])]
    for name in CURVE_FIELDS[1:]:
        setattr(history, name, columns[name])
    return history


def run_from_model(network: Network, meta: dict, number: int, *, name: str | None = None,
                   test: tuple[np.ndarray, np.ndarray] | None = None, default_names=None):
    """A ``ui.runs.Run`` for an uploaded model: its stored settings, curves and class names
    (``default_names`` for a file without them), status "uploaded", and its accuracy on
    ``test`` (measured now, not trusted from the file)."""
    from .runs import Run

    history = _history_from_metadata(meta)
    summary = meta.get("history") if isinstance(meta.get("history"), dict) else {}
    dataset = meta.get("dataset")
    test_accuracy = evaluate(network, *test[:2])[1] if test is not None else None
    label = display_name(name, "model file")
    return Run(
        number=number,
        config=_config_from_metadata(meta, network),
        status=UPLOADED,
        message=f"Loaded from {label}.",
        network=network,
        history=history,
        dataset=(dataset[:200] if isinstance(dataset, str) else "unknown") + f" · from {label}",
        seconds=_finite_or_none(summary.get("seconds")) or 0.0,
        test_accuracy=test_accuracy,
        class_names=class_names_from_metadata(meta, network.layer_sizes[-1], default_names),
    )


def same_predictions(a: Network, b: Network, images) -> bool:
    """True when both networks give identical probabilities on ``images``."""
    return bool(np.array_equal(predict_proba(a, images), predict_proba(b, images)))
