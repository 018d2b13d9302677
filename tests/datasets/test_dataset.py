"""datasets/dataset.py: the Dataset container's checks and the uint8 -> float32 scaling."""

import tracemalloc

import numpy as np
import pytest

from datasets import Dataset, load_bundled, to_float32
from nn.errors import DataError


def test_dataset_rejects_wrong_dtype_and_shape():
    with pytest.raises(DataError, match="uint8"):
        Dataset(np.zeros((2, 784), np.float32), None, name="x")
    with pytest.raises(DataError, match="shape"):
        Dataset(np.zeros((2, 783), np.uint8), None, name="x")
    with pytest.raises(DataError, match="label 10 is outside 0-9"):
        Dataset(np.zeros((2, 784), np.uint8), np.array([1, 10], np.uint8), name="x")


# ---------------------------------------------------------------------------
# to_float32
# ---------------------------------------------------------------------------


def test_to_float32_values_are_pixels_over_255():
    every_value = np.arange(256, dtype=np.uint8).reshape(1, 256)
    scaled = to_float32(every_value)
    assert scaled.dtype == np.float32
    assert np.array_equal(scaled, (every_value / 255).astype(np.float32))
    assert scaled[0, 0] == 0.0 and scaled[0, 255] == 1.0


def test_to_float32_writes_into_out_without_allocating():
    images = load_bundled().images  # (5000, 784): 15.7 MB as float32
    out = np.empty(images.shape, dtype=np.float32)
    tracemalloc.start()
    try:
        result = to_float32(images, out=out)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result is out
    assert peak_bytes < 1_000_000  # a full temporary would be 15-31 MB
    assert np.array_equal(out, (images / 255).astype(np.float32))


def test_to_float32_rejects_wrong_out():
    images = np.zeros((4, 784), np.uint8)
    with pytest.raises(DataError, match="float32"):
        to_float32(images, out=np.empty((4, 784), np.float64))
    with pytest.raises(DataError, match="shape"):
        to_float32(images, out=np.empty((3, 784), np.float32))
