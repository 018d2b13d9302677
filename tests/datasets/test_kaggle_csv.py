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


# ---------------------------------------------------------------------------
# One pass in blocks: NumPy for plain blocks, pandas for the rest, the bad row found in its block
# ---------------------------------------------------------------------------


def random_table(n_rows, seed=0):
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 256, size=(n_rows, 785))
    table[:, 0] %= 10
    return table


def table_text(table, cell_format="{}", line_end="\n", blank_every=0):
    lines = []
    for index, row in enumerate(table.tolist()):
        lines.append(",".join(cell_format.format(cell) for cell in row))
        if blank_every and index % blank_every == 0:
            lines.append("")
    return (LABELLED_HEADER + line_end + line_end.join(lines) + line_end).encode()


@pytest.mark.parametrize("variant", ["plain", "crlf", "blank lines", "no final line break", "leading zeros",
                                     "spaces", "quoted", "5.0"])
def test_every_way_of_writing_the_numbers_gives_the_same_arrays(variant):
    """Blocks of plain digits are parsed with NumPy, others (spaces, quotes, decimals) with
    pandas: over several blocks (2,000 rows, about 2 MB), both give exactly the table."""
    table = random_table(2000)
    content = {
        "plain": lambda: table_text(table),
        "crlf": lambda: table_text(table, line_end="\r\n", blank_every=7),
        "blank lines": lambda: table_text(table, blank_every=3),
        "no final line break": lambda: table_text(table).rstrip(b"\n"),
        "leading zeros": lambda: table_text(table, cell_format="{:03d}"),
        "spaces": lambda: table_text(table, cell_format=" {}"),
        "quoted": lambda: table_text(table, cell_format='"{}"'),
        "5.0": lambda: table_text(table, cell_format="{}.0"),
    }[variant]()
    dataset = load_kaggle_csv(io.BytesIO(content))
    assert np.array_equal(dataset.labels, table[:, 0])
    assert np.array_equal(dataset.images, table[:, 1:])


def test_a_bad_row_after_ten_million_blank_lines_is_found_in_one_pass():
    """10 MB of blank lines and then one bad row (a case that once took minutes): the
    message names the row, counting the blank lines."""
    content = (LABELLED_HEADER + "\n").encode() + b"\n" * 10_000_000 + ("3,x" + ",0" * 783 + "\n").encode()
    with pytest.raises(DataError, match=r"^<uploaded file>: row 10000001, column pixel0: 'x' is not a number$"):
        load_kaggle_csv(io.BytesIO(content))


@pytest.mark.parametrize("bad_index", [0, 1, 110, 111, 112, 193, 194, 195, 1000, 1999])
def test_a_wrong_column_count_is_found_wherever_the_blocks_are_cut(bad_index):
    """Blocks are cut at line breaks about every 256 KB (here the blocks start at rows 1, 112,
    195, 306...): a short row first in a block, last in one or in between has its own number."""
    rows = [good_row(label=k % 10, fill=k % 200) for k in range(2000)]
    rows[bad_index] = rows[bad_index][:-1]
    with pytest.raises(DataError, match=f"row {bad_index + 1}: expected 785 columns, found 784$"):
        load_kaggle_csv(io.BytesIO(csv_bytes(rows)))


def test_a_bad_row_in_the_middle_after_blank_lines_and_windows_line_endings():
    rows = [good_row(fill=9)] * 300 + [[""]] * 100_000 + [good_row()] * 300
    rows[450] = with_cell(good_row(), 100, "1.5")  # row 451
    with pytest.raises(DataError, match=r"row 451, column pixel99: '1\.5' is not a whole number"):
        load_kaggle_csv(io.BytesIO(csv_bytes(rows, line_end="\r\n")))


def test_a_row_without_a_line_break_for_megabytes_is_refused():
    content = csv_bytes([good_row()]) + b"0" * 2_000_000  # row 2 never ends
    with pytest.raises(DataError, match=r"row 2: more than 1,048,576 bytes without a line break"):
        load_kaggle_csv(io.BytesIO(content))


class OneWayUpload(io.RawIOBase):
    """An upload that can be read once and cannot seek (nothing may rely on rewinding it)."""

    def __init__(self, content):
        self.content = content

    def readable(self):
        return True

    def readinto(self, buffer):
        count = min(len(buffer), len(self.content))
        buffer[:count] = self.content[:count]
        self.content = self.content[count:]
        return count


def test_a_stream_that_cannot_seek_is_read_once():
    rows = [good_row(label=k % 10) for k in range(500)]
    assert load_kaggle_csv(OneWayUpload(csv_bytes(rows))).labels.tolist() == [k % 10 for k in range(500)]
    rows[444] = with_cell(good_row(), 5, 256)
    with pytest.raises(DataError, match="row 445, column pixel4: value 256 is outside 0-255"):
        load_kaggle_csv(OneWayUpload(csv_bytes(rows)))


CELLS = [" 7", "7 ", "+7", '"7"', '" 7 "', "7.0", "7.", "007", "0007", "7e0", "\t7", "-0", "7.5", "nan", "inf",
         "x", "", " ", "1_0", "0x7", "#7", "'7'", "7,"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # pandas casting "inf"
@pytest.mark.parametrize("cell", CELLS, ids=[repr(cell) for cell in CELLS])
def test_a_cell_is_accepted_exactly_when_pandas_reads_it_as_an_integer(cell):
    """Blocks that are not plain digits are read with NumPy's loadtxt; the cells it accepts
    are those pandas' parser (which read every file before) accepted as int16, same values."""
    import pandas as pd

    rows = [good_row(fill=1), with_cell(good_row(fill=2), 300, cell), good_row(fill=3)]
    content = csv_bytes(rows)
    try:
        expected = pd.read_csv(io.BytesIO(content), dtype=np.int16, engine="c").to_numpy()
        expected = expected if (0 <= expected).all() and (expected[:, 1:] <= 255).all() else None
    except (ValueError, OverflowError):
        expected = None
    if expected is None:
        with pytest.raises(DataError, match="row 2"):
            load_kaggle_csv(io.BytesIO(content))
    else:
        dataset = load_kaggle_csv(io.BytesIO(content))
        assert np.array_equal(dataset.images, expected[:, 1:])


def test_lines_of_spaces_are_blank_even_by_the_megabyte():
    content = csv_bytes([good_row(label=1)]) + b"  \t \r\n" * 300_000 + csv_bytes([good_row(label=2)], header="")[1:]
    assert load_kaggle_csv(io.BytesIO(content)).labels.tolist() == [1, 2]
