"""Kaggle "Digit Recognizer" CSV files: ``train.csv`` (with labels) and ``test.csv``."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
from collections.abc import Iterator
from typing import IO

import numpy as np

from nn.errors import DataError

from .dataset import PIXELS_PER_IMAGE, Dataset, Source
from .sources import BINARY_SIGNATURES, GZIP_MAGIC, gzip_errors, open_source, peek, rewindable, source_name

# ---------------------------------------------------------------------------
# Kaggle "Digit Recognizer" CSV files
# ---------------------------------------------------------------------------

PIXEL_COLUMNS = tuple(f"pixel{i}" for i in range(PIXELS_PER_IMAGE))
LABELLED_HEADER = ("label", *PIXEL_COLUMNS)  # train.csv
UNLABELLED_HEADER = PIXEL_COLUMNS  # test.csv
_HEADER_HELP = "expected 'label,pixel0,...,pixel783' or 'pixel0,...,pixel783'"

# Rows parsed per pandas chunk: small enough that the int16 chunk stays a few
# MB, large enough that the per-chunk overhead is negligible.
_CSV_CHUNK_ROWS = 4096


def load_kaggle_csv(source: Source, *, name: str | None = None) -> Dataset:
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
            first) and is not closed.
        name: description for ``Dataset.name``; defaults to the file name.

    Returns:
        Dataset with images ``(n, 784)`` and labels ``(n,)`` or ``None``.

    Raises:
        DataError: naming the problem and its place.  Rows are numbered like this:
            **row 1 is the first line after the header**, so row ``k`` is line
            ``k + 1`` of the file (blank lines count as rows but are skipped).
            Columns are named by their header name, e.g. ``column pixel5``.

    How it stays fast: the file is parsed in chunks of 4096 rows by pandas' C engine
    as int16 (wide enough to see 300 or -1), range-checked, and stored as uint8, so
    a 42,000-row file takes about a second and peaks near 100 MB above its result.
    pandas' errors do not say where the problem is in our terms, so only when the
    fast pass fails, a second pass re-reads the file to find the first bad row and
    column (see :func:`_locate_csv_problem`).
    """
    source = rewindable(source)
    file_name = source_name(source)
    with _open_csv(source, file_name) as stream:
        columns = _read_csv_header(stream, file_name)
        try:
            images, labels = _parse_csv_rows_fast(stream, columns)
        except (ValueError, OverflowError) as error:  # pandas' parser errors are ValueErrors
            fast_path_error = error
        else:
            fast_path_error = None
    if fast_path_error is not None:
        # Second, slower pass: find exactly where the problem is.
        with _open_csv(source, file_name) as stream:
            _read_csv_header(stream, file_name)
            _locate_csv_problem(stream, columns, file_name)
        raise DataError(f"{file_name}: could not parse the CSV ({fast_path_error})")
    if images.shape[0] == 0:
        raise DataError(f"{file_name}: no data rows after the header")
    description = name or f"{file_name} ({images.shape[0]:,} images, Kaggle CSV)"
    return Dataset(images, labels, name=description)


@contextlib.contextmanager
def _open_csv(source: Source, file_name: str) -> Iterator[IO]:
    """Open ``source`` for CSV parsing, unwrapping gzip, with gzip errors reported."""
    with open_source(source) as stream, gzip_errors(file_name):
        if peek(stream, 2) == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
                yield unzipped
        else:
            yield stream


def _read_csv_header(stream: IO, file_name: str) -> tuple[str, ...]:
    """Check the file looks like a Kaggle CSV and return its header columns.

    Leaves ``stream`` positioned at the first data row.
    """
    start = stream.peek(2048)[:2048] if hasattr(stream, "peek") else peek(stream, 2048)
    if isinstance(start, bytes):
        if not start.strip():
            raise DataError(f"{file_name}: file is empty")
        for signature, description in BINARY_SIGNATURES:
            if start.startswith(signature):
                raise DataError(f"{file_name}: not a CSV file (looks like {description})")
        if b"\x00" in start:
            raise DataError(f"{file_name}: not a CSV file (looks like binary data)")
        header_line = stream.readline()
        try:
            header_text = header_line.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DataError(f"{file_name}: not a CSV file (the header is not UTF-8 text)") from None
    else:  # a text-mode file
        if not start.strip():
            raise DataError(f"{file_name}: file is empty")
        header_text = stream.readline().lstrip("\ufeff")

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


def _parse_csv_rows_fast(stream: IO, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """Parse all data rows with pandas' C engine; raise ValueError on any problem.

    The error raised here is not meant for people (it has no row numbers that
    match ours); the caller then runs :func:`_locate_csv_problem`.
    """
    import pandas as pd  # imported here so importing datasets stays quick

    n_columns = len(columns)
    has_labels = columns[0] == "label"
    image_chunks, label_chunks = [], []
    try:
        chunks = pd.read_csv(stream, header=None, dtype=np.int16, engine="c", chunksize=_CSV_CHUNK_ROWS)
    except pd.errors.EmptyDataError:  # nothing after the header
        chunks = contextlib.nullcontext([])
    with chunks as chunk_reader:
        for chunk in chunk_reader:
            values = chunk.to_numpy()  # (rows, n_columns) int16
            # pandas takes the column count from the first row; a different count
            # there (later rows are checked by pandas itself) is our problem to report.
            if values.shape[1] != n_columns:
                raise ValueError(f"expected {n_columns} columns, found {values.shape[1]}")
            pixels = values[:, 1:] if has_labels else values
            if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
                raise ValueError("pixel value outside 0-255")
            image_chunks.append(pixels.astype(np.uint8, order="C"))
            if has_labels:
                label_values = values[:, 0]
                if label_values.min(initial=0) < 0 or label_values.max(initial=0) > 9:
                    raise ValueError("label outside 0-9")
                label_chunks.append(label_values.astype(np.uint8))
    if not image_chunks:  # a header and nothing else
        image_chunks = [np.empty((0, PIXELS_PER_IMAGE), np.uint8)]
        label_chunks = [np.empty(0, np.uint8)]
    images = np.concatenate(image_chunks)
    labels = np.concatenate(label_chunks) if has_labels else None
    return images, labels


def _locate_csv_problem(stream: IO, columns: tuple[str, ...], file_name: str) -> None:
    """Second pass: find the first bad row and cell and raise DataError about it.

    Checking 33 million cells one by one in Python would take most of a minute,
    so the lines are read in blocks that pandas checks quickly; a block that
    fails is halved again and again until only a few lines are left, and those
    are checked cell by cell.  Returns normally if no problem is found (the
    caller then reports pandas' own error).

    ``stream`` must be positioned just after the header, so the k-th line read
    is data row k (file line k + 1).
    """
    rows_before_block = 0
    for block in _lines_in_blocks(stream, block_size=_CSV_CHUNK_ROWS):
        _raise_for_first_bad_row(block, rows_before_block + 1, columns, file_name)
        rows_before_block += len(block)


def _raise_for_first_bad_row(
    lines: list, first_row_number: int, columns: tuple[str, ...], file_name: str
) -> None:
    """Bisect ``lines`` (rows ``first_row_number`` onward) down to the bad row."""
    if _block_is_clean(lines, columns):
        return
    if len(lines) <= 16:
        for offset, line in enumerate(lines):
            _check_csv_row(line, first_row_number + offset, columns, file_name)
        return
    half = len(lines) // 2
    _raise_for_first_bad_row(lines[:half], first_row_number, columns, file_name)
    _raise_for_first_bad_row(lines[half:], first_row_number + half, columns, file_name)


def _lines_in_blocks(stream: IO, block_size: int) -> Iterator[list]:
    """Yield the remaining lines of ``stream`` in lists of ``block_size``."""
    block = []
    for line in stream:
        block.append(line)
        if len(block) == block_size:
            yield block
            block = []
    if block:
        yield block


def _block_is_clean(lines: list, columns: tuple[str, ...]) -> bool:
    """True if pandas parses these CSV lines with no column, type or range problem."""
    try:
        images, _ = _parse_csv_rows_fast(_joined_stream(lines), columns)
    except (ValueError, OverflowError):
        return False
    return images.shape[0] > 0  # all-blank blocks go to the careful check


def _joined_stream(lines: list) -> IO:
    """The given lines (bytes or str) as one in-memory file."""
    if isinstance(lines[0], bytes):
        return io.BytesIO(b"".join(lines))
    return io.StringIO("".join(lines))


def _check_csv_row(line: bytes | str, row_number: int, columns: tuple[str, ...], file_name: str) -> None:
    """Raise DataError if this one data row is malformed; blank lines are fine."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    fields = next(csv.reader([line]), [])
    if not fields or (len(fields) == 1 and not fields[0].strip()):
        return  # a blank line: skipped, as pandas does
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
    try:
        return int(text)
    except ValueError:
        pass
    if not text:
        raise DataError(f"{where}: the cell is empty")
    try:
        float(text)
    except ValueError:
        raise DataError(f"{where}: {text!r} is not a number") from None
    raise DataError(f"{where}: {text!r} is not a whole number")
