"""datasets/split.py: the stratified training / validation split."""

import numpy as np
import pytest

from datasets import load_bundled, stratified_split
from nn.errors import DataError


def unbalanced_labels():
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(5), [1, 7, 13, 101, 250])
    return rng.permutation(labels)


@pytest.mark.parametrize("validation_fraction", [0.1, 0.25, 0.5])
def test_stratified_split_keeps_class_proportions(validation_fraction):
    labels = unbalanced_labels()
    train, validation = stratified_split(labels, validation_fraction, seed=3)
    counts = np.bincount(labels)
    validation_counts = np.bincount(labels[validation], minlength=counts.size)
    assert np.all(np.abs(validation_counts - counts * validation_fraction) <= 1)
    assert np.all(np.bincount(labels[train], minlength=counts.size) >= 1)


def test_stratified_split_partitions_all_indices():
    labels = unbalanced_labels()
    train, validation = stratified_split(labels, 0.2, seed=0)
    assert train.dtype == np.int64 and validation.dtype == np.int64
    assert np.intersect1d(train, validation).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, validation])), np.arange(labels.size))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(validation) > 0)  # sorted


def test_stratified_split_is_reproducible_and_seeded():
    labels = load_bundled().labels
    first = stratified_split(labels, 0.1, seed=42)
    again = stratified_split(labels, 0.1, seed=42)
    other = stratified_split(labels, 0.1, seed=43)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    assert np.bincount(labels[first[1]]).tolist() == [50] * 10


def test_stratified_split_with_zero_fraction_and_bad_arguments():
    labels = unbalanced_labels()
    train, validation = stratified_split(labels, 0.0)
    assert validation.size == 0 and validation.dtype == np.int64
    assert np.array_equal(train, np.arange(labels.size))
    with pytest.raises(DataError, match="validation_fraction"):
        stratified_split(labels, 1.0)
    with pytest.raises(DataError, match="needs labels"):
        stratified_split(None)
