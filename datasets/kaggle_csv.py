"""Kaggle "Digit Recognizer" CSV files: ``train.csv`` (with labels) and ``test.csv``.

How a file is read: one pass over its (gunzipped) bytes in blocks of about 256 KB cut at
line breaks, each block parsed on its own, so

* the limits (:mod:`datasets.limits`) are checked block by block: a file is refused after at
  most one block more than its row or byte limit;
* a bad row is found in the block that holds it, by the row numbers counted so far, so the
  search costs one block however long the file (blank lines included);
* no call into C runs long, so other threads (other sessions' training) get the GIL: a
  block of plain digits, commas and line breaks (every real Kaggle file) is parsed with a
  dozen NumPy operations on 256 KB; any other block (spaces, quotes, "5.0") with NumPy's C
  ``loadtxt``, which takes the same cells pandas' parser took before (pandas itself costs
  too much per call on blocks this small: it builds 785 columns each time).
"""

from __future__ import annotations

import csv
import re

import numpy as np

from nn.errors import DataError

from .dataset import PIXELS_PER_IMAGE, Dataset, Source
from .limits import MAX_CSV_BYTES, MAX_CSV_ROWS, too_many_error
from .sources import BINARY_SIGNATURES, READ_CHUNK_BYTES, BoundedReader, open_decompressed, source_name

# ---------------------------------------------------------------------------
# Kaggle "Digit Recognizer" CSV files
# ---------------------------------------------------------------------------

PIXEL_COLUMNS = tuple(f"pixel{i}" for i in range(PIXELS_PER_IMAGE))
LABELLED_HEADER = ("label", *PIXEL_COLUMNS)  # train.csv
UNLABELLED_HEADER = PIXEL_COLUMNS  # test.csv
_HEADER_HELP = "expected 'label,pixel0,...,pixel783' or 'pixel0,...,pixel783'"

# The real header is 6.9 KB; a longer first line is not a Kaggle header anyway.
_MAX_HEADER_BYTES = 1 << 16
# A row of 785 numbers takes at most ~3 KB even written as "255.0"; a "row" longer than
# this without a line break is refused instead of being buffered.
_MAX_LINE_BYTES = 1 << 20
_CSV_WHAT = "a CSV"
# Lines of nothing but spaces, tabs or a \r: blank, as they were for pandas.
_WHITESPACE_LINES = re.compile(rb"^[ \t\r]*(?:\n|\Z)", re.MULTILINE)


def load_kaggle_csv(source: Source, *, name: str | None = None, max_rows: int | None = MAX_CSV_ROWS,
                    max_bytes: int | None = MAX_CSV_BYTES) -> Dataset:
    """Load a Kaggle "Digit Recognizer" CSV: ``train.csv`` or ``test.csv``.

    Expected layout: a header row, then one image per row.

    * ``train.csv``: header ``label,pixel0,...,pixel783``; 785 integers per row.
    * ``test.csv``: header ``pixel0,...,pixel783``; 784 integers per row, and the
      returned dataset has ``labels=None``.

    Pixels must be 0-255 and labels 0-9.  Windows line endings, a UTF-8 byte-order
    mark, blank lines and a gzipped file are all accepted.

    Args:
        source: a path, or a file opened in binary or text mode (e.g. a Streamlit
            ``UploadedFile``).  An open file is read from its start (it is rewound
            first when it can seek) and is not closed.
        name: description for ``Dataset.name``; defaults to the file name.
        max_rows: refuse a file with more data rows (blank lines do not count); None: no limit.
        max_bytes: refuse a file longer than this, gunzipped; None: no limit.  Both are
            checked while reading, so at most one block (256 KB) more is ever read.

    Returns:
        Dataset with images ``(n, 784)`` and labels ``(n,)`` or ``None``.

    Raises:
        DataError: naming the problem and its place.  Rows are numbered like this:
            **row 1 is the first line after the header**, so row ``k`` is line
            ``k + 1`` of the file (blank lines count as rows but are skipped).
            Columns are named by their header name, e.g. ``column pixel5``.
    """
    file_name = source_name(source)
    with open_decompressed(source, file_name, max_bytes, _CSV_WHAT) as stream:
        columns = _read_csv_header(stream, file_name)
        images, labels = _read_csv_rows(stream, columns, file_name, max_rows)
    if images.shape[0] == 0:
        raise DataError(f"{file_name}: no data rows after the header")
    description = name or f"{file_name} ({images.shape[0]:,} images, Kaggle CSV)"
    return Dataset(images, labels, name=description)


def _read_csv_header(stream: BoundedReader, file_name: str) -> tuple[str, ...]:
    """Check the file looks like a Kaggle CSV and return its header columns.

    Leaves ``stream`` positioned at the first data row.
    """
    start = stream.peek(2048)
    if not start.strip():
        raise DataError(f"{file_name}: file is empty")
    for signature, description in BINARY_SIGNATURES:
        if start.startswith(signature):
            raise DataError(f"{file_name}: not a CSV file (looks like {description})")
    if b"\x00" in start:
        raise DataError(f"{file_name}: not a CSV file (looks like binary data)")
    header_line = stream.readline(_MAX_HEADER_BYTES)
    try:
        header_text = header_line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{file_name}: not a CSV file (the header is not UTF-8 text)") from None

    columns = tuple(column.strip().strip('"') for column in header_text.strip().split(","))
    if columns in (LABELLED_HEADER, UNLABELLED_HEADER):
        return columns
    raise DataError(f"{file_name}: header: {_HEADER_HELP}, {_describe_header_mismatch(columns)}")


def _describe_header_mismatch(columns: tuple[str, ...]) -> str:
    """Say briefly how a wrong header differs from the expected one."""
    if columns and columns[0].lstrip("-").isdigit():
        return f"found '{','.join(columns[:3])},...' (the file seems to have no header row)"
    expected = LABELLED_HEADER if columns and columns[0] == "label" else UNLABELLED_HEADER
    for position, (found, wanted) in enumerate(zip(columns, expected), start=1):
        if found != wanted:
            return f"found '{found}' as column {position} where '{wanted}' belongs"
    return f"found {len(columns)} columns instead of {len(expected)}"


def _read_csv_rows(stream: BoundedReader, columns: tuple[str, ...], file_name: str,
                   max_rows: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """All data rows after the header: images ``(n, 784)`` uint8 and labels ``(n,)`` uint8
    (None for test.csv); a DataError naming the first bad row, or the row limit passed.

    Reads blocks of whole lines; ``rows_before`` counts the line breaks already read, so
    the first line of a block is row ``rows_before + 1``.
    """
    has_labels = columns[0] == "label"
    rows = _RowSlabs(has_labels)
    rows_before = 0
    pending = b""  # the start of a line whose line break has not been read yet
    while True:
        data = stream.read(READ_CHUNK_BYTES)
        pending += data
        cut = pending.rfind(b"\n") + 1 if data else len(pending)
        if not cut:
            if len(pending) > _MAX_LINE_BYTES:
                raise DataError(f"{file_name}: row {rows_before + 1}: more than {_MAX_LINE_BYTES:,} bytes "
                                "without a line break (a row of 785 numbers takes a few thousand)")
            if not data:
                break
            continue
        block, pending = pending[:cut], pending[cut:]
        try:
            values = _block_values(block, len(columns), has_labels)
        except ValueError as error:
            _raise_for_first_bad_row(block, rows_before + 1, columns, file_name)
            raise DataError(f"{file_name}: could not parse the CSV ({error})") from None
        if max_rows is not None and rows.count + len(values) > max_rows:
            raise too_many_error(file_name, f"more than {max_rows:,} rows", max_rows, "rows", _CSV_WHAT)
        rows.add(values)
        rows_before += block.count(b"\n")
        if not data:
            break
    return rows.arrays()


class _RowSlabs:
    """Parsed rows kept as uint8 in slabs of 8,192 rows (6.4 MB of pixels each): few and big
    enough that the allocator maps and unmaps them whole, so the memory of a file refused
    half-way goes back to the system instead of staying with the process."""

    SLAB_ROWS = 8192

    def __init__(self, has_labels: bool):
        self.has_labels = has_labels
        self.slabs: list[np.ndarray] = []  # (SLAB_ROWS, 785 or 784) uint8, labels in column 0
        self.count = 0  # rows added

    def add(self, values: np.ndarray) -> None:
        """Append ``(rows, n_columns)`` int16 values, already checked to be in range."""
        done = 0
        while done < len(values):
            filled = self.count % self.SLAB_ROWS
            if filled == 0:
                self.slabs.append(np.empty((self.SLAB_ROWS, values.shape[1]), dtype=np.uint8))
            taken = min(self.SLAB_ROWS - filled, len(values) - done)
            self.slabs[-1][filled: filled + taken] = values[done: done + taken]
            done += taken
            self.count += taken

    def arrays(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Images ``(n, 784)`` uint8 C-contiguous, and labels ``(n,)`` uint8 (None without a label column)."""
        first_pixel = 1 if self.has_labels else 0
        images = np.empty((self.count, PIXELS_PER_IMAGE), dtype=np.uint8)
        labels = np.empty(self.count, dtype=np.uint8) if self.has_labels else None
        for index, slab in enumerate(self.slabs):
            start = index * self.SLAB_ROWS
            used = slab[: self.count - start]
            images[start: start + len(used)] = used[:, first_pixel:]
            if labels is not None:
                labels[start: start + len(used)] = used[:, 0]
            self.slabs[index] = None  # freed as soon as it is copied
        return images, labels


def _block_values(block: bytes, n_columns: int, has_labels: bool) -> np.ndarray:
    """The rows of a block of whole lines as ``(rows, n_columns)`` int16; ValueError on any
    problem (a bad cell, a wrong column count, a value out of range), which is not meant for
    people: the caller then finds the row with :func:`_raise_for_first_bad_row`."""
    values = _parse_plain_block(block, n_columns)
    if values is None:
        values = _parse_block_slowly(block)
    if not len(values):  # blank lines only
        return np.empty((0, n_columns), dtype=np.int16)
    if values.shape[1] != n_columns:
        raise ValueError(f"expected {n_columns} columns, found {values.shape[1]}")
    pixels = values[:, 1:] if has_labels else values
    if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
        raise ValueError("pixel value outside 0-255")
    if has_labels and (values[:, 0].min(initial=0) < 0 or values[:, 0].max(initial=0) > 9):
        raise ValueError("label outside 0-9")
    return values


def _parse_plain_block(block: bytes, n_columns: int) -> np.ndarray | None:
    """A block of plain CSV (digits, commas, ``\\n`` or ``\\r\\n`` line breaks, blank lines, cells
    of 1-3 digits, ``n_columns`` cells a row) as ``(rows, n_columns)`` int16; None for anything
    else, which :func:`_parse_block_slowly` then reads.

    Whole-array NumPy operations, no Python loop over rows or cells, each over at most one
    block, so none keeps other threads from the GIL for long.
    """
    text = np.frombuffer(block, dtype=np.uint8)
    if b"\r" in block:  # only as part of \r\n (a lone \r is left to the slow path)
        returns = np.flatnonzero(text == ord("\r"))
        if returns[-1] + 1 == len(text) or (text[returns + 1] != ord("\n")).any():
            return None
        text = text[text != ord("\r")]
    if len(text) and text[-1] != ord("\n"):  # the file's last line, without its line break
        text = np.append(text, np.uint8(ord("\n")))
    line_ends = text == ord("\n")
    blank = line_ends.copy()  # a line break right after another (or first) ends a blank line
    blank[1:] &= line_ends[:-1]
    if blank.any():
        text = text[~blank]
        line_ends = text == ord("\n")
    if not len(text):
        return np.empty((0, n_columns), dtype=np.int16)
    digits = text - np.uint8(ord("0"))  # commas and line breaks wrap around to 200 and more
    cell_ends = line_ends | (text == ord(","))
    if not (cell_ends | (digits < 10)).all():
        return None
    cell_ends = np.flatnonzero(cell_ends)
    lengths = np.diff(cell_ends, prepend=-1) - 1  # a cell starts just after the previous one ends
    if lengths.min() < 1 or lengths.max() > 3 or len(cell_ends) % n_columns:
        return None
    ends_line = line_ends[cell_ends].reshape(-1, n_columns)
    if not ends_line[:, -1].all() or ends_line[:, :-1].any():
        return None
    cell_starts = cell_ends - lengths
    values = digits[cell_starts].astype(np.int16)
    for position in (1, 2):
        longer = np.flatnonzero(lengths > position)
        values[longer] = values[longer] * 10 + digits[cell_starts[longer] + position]
    return values.reshape(-1, n_columns)


def _parse_block_slowly(block: bytes) -> np.ndarray:
    """A block the plain parser leaves (spaces, quotes, signs, "5.0", "1e2"), read by NumPy's
    C ``loadtxt`` as numbers and kept if they are whole numbers 0-255, as ``(rows, columns)``
    int16: the cells pandas' parser accepted as integers before, at a few ms per block.
    Lines of only whitespace are blank, as they were for pandas.  ValueError otherwise."""
    if not block.translate(None, b" \t\r\n"):  # nothing but blank lines: the quick answer
        return np.empty((0, 0), dtype=np.int16)
    text = _WHITESPACE_LINES.sub(b"", block).decode("utf-8", errors="replace")
    lines = text.removesuffix("\n").split("\n")
    values = np.loadtxt(lines, delimiter=",", quotechar='"', comments=None, dtype=np.float64, ndmin=2)
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        raise ValueError("a cell is not a whole number")
    if values.min() < 0 or values.max() > 255:
        raise ValueError("a value outside 0-255")
    return values.astype(np.int16)


def _raise_for_first_bad_row(block: bytes, first_row_number: int, columns: tuple[str, ...],
                             file_name: str) -> None:
    """Raise DataError about the first bad row of ``block`` (row ``first_row_number`` onward);
    return if none is found (the caller then reports the parser's own error).

    One pass over the block's lines: a line whose cells all convert with ``int`` and are
    in range is passed over quickly; the first other one gets the careful check, which
    says what is wrong with it (or passes it, e.g. "5.0", which the parsers accept too).
    """
    n_columns, has_labels = len(columns), columns[0] == "label"
    for offset, line in enumerate(block.split(b"\n")):
        if not line.strip() or _row_is_clean(line, n_columns, has_labels):
            continue
        _check_csv_row(line, first_row_number + offset, columns, file_name)


def _row_is_clean(line: bytes, n_columns: int, has_labels: bool) -> bool:
    """True when the line has ``n_columns`` whole numbers in range (a quick test, no quotes)."""
    cells = line.split(b",")
    if len(cells) != n_columns or b"_" in line:  # int() takes "1_0"; no CSV parser does
        return False
    try:
        values = list(map(int, cells))
    except ValueError:
        return False
    pixels = values[1:] if has_labels else values
    return 0 <= min(pixels) and max(pixels) <= 255 and (not has_labels or 0 <= values[0] <= 9)


def _check_csv_row(line: bytes | str, row_number: int, columns: tuple[str, ...], file_name: str) -> None:
    """Raise DataError if this one data row is malformed; blank lines are fine."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    fields = next(csv.reader([line]), [])
    if not fields or (len(fields) == 1 and not fields[0].strip()):
        return  # a blank line: skipped, as the parsers do
    where = f"{file_name}: row {row_number}"
    if len(fields) != len(columns):
        raise DataError(f"{where}: expected {len(columns)} columns, found {len(fields)}")
    for column, field in zip(columns, fields, strict=True):
        value = _parse_cell(field, f"{where}, column {column}")
        if column == "label":
            if not 0 <= value <= 9:
                raise DataError(f"{where}, column label: label {value} is outside 0-9")
        elif not 0 <= value <= 255:
            raise DataError(f"{where}, column {column}: value {value} is outside 0-255")


def _parse_cell(field: str, where: str) -> int:
    """One CSV cell as an int, or a DataError saying why it is not one."""
    text = field.strip()
    if not text:
        raise DataError(f"{where}: the cell is empty")
    if "_" in text:  # int() and float() take "1_0"; no CSV parser does
        raise DataError(f"{where}: {text!r} is not a number")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {text!r} is not a number") from None
    if value.is_integer():  # "5.0" or "1e2": the parsers read these as whole numbers too
        return int(value)
    raise DataError(f"{where}: {text!r} is not a whole number")
