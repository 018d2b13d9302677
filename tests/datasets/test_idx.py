"""datasets/idx.py: MNIST's IDX files, gzipped or not, and their error messages."""

import gzip
import io

import numpy as np
import pytest
from data_files import idx_bytes

from datasets import load_idx, load_idx_dir, load_idx_pair
from nn.errors import DataError


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_idx_round_trip(small_images, small_labels, compress, tmp_path):
    images_content = idx_bytes(small_images)
    labels_content = idx_bytes(small_labels)
    if compress:
        images_content = gzip.compress(images_content)
        labels_content = gzip.compress(labels_content)
    # A misleading name: gzip is recognised by its magic bytes, not the suffix.
    images_path = tmp_path / "images.idx"
    images_path.write_bytes(images_content)
    loaded_images = load_idx(images_path)
    assert loaded_images.shape == (12, 28, 28)
    assert loaded_images.dtype == np.uint8
    assert np.array_equal(loaded_images, small_images)
    assert np.array_equal(load_idx(io.BytesIO(labels_content)), small_labels)

    dataset = load_idx_pair(images_path, io.BytesIO(labels_content), name="pair")
    assert dataset.images.shape == (12, 784)
    assert np.array_equal(dataset.images, small_images.reshape(12, 784))
    assert np.array_equal(dataset.labels, small_labels)


def test_idx_dir_finds_plain_and_gzipped_files(small_images, small_labels, tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(small_images))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(small_labels)))
    dataset = load_idx_dir(tmp_path, split="t10k")
    assert dataset.n_samples == 12
    assert np.array_equal(dataset.labels, small_labels)
    with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
        load_idx_dir(tmp_path, split="train")
    with pytest.raises(DataError, match="split must be one of"):
        load_idx_dir(tmp_path, split="validation")


def test_idx_pair_rejects_labels_given_as_images(small_labels):
    labels_file = io.BytesIO(idx_bytes(small_labels))
    with pytest.raises(DataError, match=r"not an IDX image file \(magic number 0x00000801\)"):
        load_idx_pair(labels_file, labels_file, name="swapped")


def test_idx_pair_rejects_count_mismatch_and_bad_labels(small_images, small_labels):
    images_file = io.BytesIO(idx_bytes(small_images))
    with pytest.raises(DataError, match="12 images .* but 11 labels"):
        load_idx_pair(images_file, io.BytesIO(idx_bytes(small_labels[:11])), name="x")
    bad_labels = small_labels.copy()
    bad_labels[5] = 10
    with pytest.raises(DataError, match="label 10 at index 5 is outside 0-9"):
        load_idx_pair(images_file, io.BytesIO(idx_bytes(bad_labels)), name="x")


def test_idx_wrong_magic():
    content = idx_bytes(np.zeros((2, 28, 28), np.uint8), magic=0x00000D03)
    with pytest.raises(DataError, match=r"not an MNIST IDX file \(magic number 0x00000d03"):
        load_idx(io.BytesIO(content))


def test_idx_truncated_payload(small_images):
    content = idx_bytes(small_images)
    truncated = content[: 16 + 1000]
    with pytest.raises(DataError, match="expected 9408 bytes of pixels, found 1000"):
        load_idx(io.BytesIO(truncated))


def test_idx_payload_longer_than_header_says(small_labels):
    content = idx_bytes(small_labels) + b"\x00\x00\x00"
    with pytest.raises(DataError, match="expected 12 bytes of labels, found 15"):
        load_idx(io.BytesIO(content))


def test_idx_images_must_be_28_by_28():
    content = idx_bytes(np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(DataError, match="images are 32x32 pixels, expected 28x28"):
        load_idx(io.BytesIO(content))


def test_idx_truncated_gzip(small_images, tmp_path):
    compressed = gzip.compress(idx_bytes(small_images))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: truncated gzip stream"):
        load_idx(path)


def test_idx_corrupt_gzip(small_images):
    compressed = bytearray(gzip.compress(idx_bytes(small_images)))
    compressed[-8] ^= 0xFF  # damage the CRC-32 in the gzip trailer
    with pytest.raises(DataError, match="corrupt gzip"):
        load_idx(io.BytesIO(bytes(compressed)))
