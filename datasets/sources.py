"""Opening data sources (paths or file-like objects such as uploads) and sniffing their format."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from nn.errors import DataError

from .dataset import Source

# ---------------------------------------------------------------------------
# Opening sources (paths or file-like objects), sniffing their format
# ---------------------------------------------------------------------------

GZIP_MAGIC = b"\x1f\x8b"

# First bytes of common binary formats people upload by mistake.
BINARY_SIGNATURES = (
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


def source_name(source: Source) -> str:
    """A short name for messages: the file name of a path or of an open file."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name or str(source)
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) and name else "<uploaded file>"


def rewindable(source: Source) -> Source:
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
def open_source(source: Source) -> Iterator[IO]:
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


def peek(stream: IO, size: int):
    """Read the first ``size`` bytes (or characters) and rewind."""
    start = stream.read(size)
    stream.seek(0)
    return start


@contextlib.contextmanager
def gzip_errors(name: str) -> Iterator[None]:
    """Turn the several ways a gzip stream can fail into one clear DataError."""
    try:
        yield
    except EOFError:
        raise DataError(f"{name}: truncated gzip stream (the file was cut short)") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{name}: corrupt gzip data ({error})") from None
