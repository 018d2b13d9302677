"""datasets/content_cache.py: uploads named by their SHA-256, parsed once and shared read-only."""

import hashlib
import io
import threading
import time

import numpy as np
import pytest
from data_files import idx_bytes

from datasets import Dataset, SharedDatasets, content_digest, load_idx_pair
from nn.errors import DataError


def dataset_of(n_images, name="d"):
    return Dataset(np.zeros((n_images, 784), np.uint8), np.arange(n_images, dtype=np.uint8) % 10, name=name)


def test_content_digest_is_the_sha256_of_the_bytes_whatever_their_name():
    expected = hashlib.sha256()
    for part in (b"", b"abc"):
        expected.update(len(part).to_bytes(8, "big") + part)
    assert content_digest(b"abc") == expected.hexdigest()
    assert len(content_digest(b"abc")) == 64
    assert content_digest(b"ab", b"c") != content_digest(b"a", b"bc") != content_digest(b"abc")
    assert content_digest(b"abc", kind="kaggle-csv") != content_digest(b"abc", kind="idx")
    assert content_digest(bytearray(b"abc")) == content_digest(b"abc")


def test_a_dataset_is_loaded_once_and_shared_read_only(small_images, small_labels):
    shared = SharedDatasets()
    calls = []

    def load():
        calls.append(1)
        return load_idx_pair(io.BytesIO(idx_bytes(small_images)), io.BytesIO(idx_bytes(small_labels)), name="up")

    key = content_digest(idx_bytes(small_images), idx_bytes(small_labels), kind="idx")
    first = shared.get_or_load(key, load)
    assert shared.get_or_load(key, load) is first and len(calls) == 1
    assert np.array_equal(first.images, small_images.reshape(12, 784))
    with pytest.raises(ValueError, match="read-only"):
        first.images[0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):
        first.images.base[0] = 1  # not through the array it is a view of either
    with pytest.raises(ValueError, match="read-only"):
        first.labels[0] = 1


def test_a_failed_load_is_not_kept():
    shared = SharedDatasets()

    def bad():
        raise DataError("upload: row 3: broken")

    with pytest.raises(DataError, match="row 3"):
        shared.get_or_load("k", bad)
    assert len(shared) == 0 and shared.get("k") is None
    assert shared.get_or_load("k", lambda: dataset_of(3)).n_samples == 3


def test_least_recently_used_datasets_go_first_within_the_count_and_byte_bounds():
    shared = SharedDatasets(max_entries=2, max_bytes=10 * 785)  # ten images' worth
    a = shared.get_or_load("a", lambda: dataset_of(2))
    shared.get_or_load("b", lambda: dataset_of(2))
    assert shared.get("a") is a  # a is now the most recently used
    shared.get_or_load("c", lambda: dataset_of(2))
    assert shared.get("b") is None and shared.get("a") is a and shared.get("c") is not None
    shared.get_or_load("d", lambda: dataset_of(7))  # 7 + 2 images: over the bytes, a goes
    assert shared.get("a") is None and shared.get("c") is not None and shared.n_bytes == 9 * 785
    big = shared.get_or_load("e", lambda: dataset_of(11))  # bigger than the store: returned, not kept
    assert big.n_samples == 11 and shared.get("e") is None and not big.images.flags.writeable
    assert len(shared) == 2


def test_sessions_asking_at_once_share_one_parse():
    shared = SharedDatasets()
    calls, results = [], []

    def slow_load():
        calls.append(1)
        time.sleep(0.2)
        return dataset_of(5)

    threads = [threading.Thread(target=lambda: results.append(shared.get_or_load("same", slow_load)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 8 and all(result is results[0] for result in results)
