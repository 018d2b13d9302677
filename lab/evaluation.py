"""What the Draw, Evaluate, Data and Models pages compute, without Streamlit.

* Evaluation: predictions on a labelled set, the confusion matrix, per-class
  precision and recall, the misclassified images ordered by confidence.
* The Kaggle submission: ``test.csv`` bytes in, ``submission.csv`` bytes out.
* Uploads: a training set from a Kaggle ``train.csv``, a pair of MNIST IDX files or
  a pair of EMNIST IDX files (stored transposed, see ``datasets/emnist.py``), split into
  training and validation; a model from a ``.npz`` file.

Uploaded files are parsed from their bytes in memory: their names only ever appear in
messages (:func:`display_name`), never as paths. Every malformed input raises
:class:`nn.errors.DataError` (``ModelFileError`` for model files) with the loader's
message, so a page can show it with ``st.error`` and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datasets import Dataset, class_noun, load_kaggle_csv
from nn.errors import DataError
from nn.network import Network
from nn.training import predict_proba

from .data import display_name, named_bytes

N_INPUTS, N_CLASSES = 784, 10


# ---------------------------------------------------------------------------------
# Uploaded bytes
# ---------------------------------------------------------------------------------








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




















# ---------------------------------------------------------------------------------
# Model files
# ---------------------------------------------------------------------------------
















