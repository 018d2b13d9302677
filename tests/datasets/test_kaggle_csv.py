"""datasets/kaggle_csv.py: Kaggle "Digit Recognizer" CSVs, their variations and their error messages."""

import gzip
import io
import zipfile

import numpy as np
import pytest
from data_files import LABELLED_HEADER, csv_bytes, good_row, write_kaggle_csv

from datasets import load_kaggle_csv
from nn.errors import DataError

# ---------------------------------------------------------------------------
# The real MNIST test set written as Kaggle CSVs
# ---------------------------------------------------------------------------


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
# Accepted variations
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
# Malformed files and their messages
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
