"""Opening data sources (paths or file-like objects such as uploads), sniffing their format,
and reading them with a limit on the bytes delivered (:class:`BoundedReader`)."""

from __future__ import annotations

import contextlib
import gzip
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from nn.errors import DataError

from .dataset import Source
from .limits import too_big_error

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

# Bytes asked of a wrapped stream at a time: a refused file has delivered at most its limit
# plus this much, and zlib inflates this much per call (it releases the GIL meanwhile).
READ_CHUNK_BYTES = 1 << 18


def source_name(source: Source) -> str:
    """A short name for messages: the file name of a path or of an open file."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name or str(source)
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) and name else "<uploaded file>"


@contextlib.contextmanager
def open_source(source: Source) -> Iterator[IO]:
    """Yield a stream positioned at the start of ``source``.

    Paths are opened in binary mode and closed afterwards; file-like objects are
    rewound when they can seek (so a Streamlit upload read earlier still works) and left
    open (they belong to the caller).  Each source is read once, so one that cannot seek
    is read from where it is.
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
    elif hasattr(source, "read"):
        if getattr(source, "seekable", lambda: False)():
            source.seek(0)
        yield source
    else:
        raise DataError(f"expected a path or an open file, got {type(source).__name__}")


@contextlib.contextmanager
def gzip_errors(name: str) -> Iterator[None]:
    """Turn the several ways a gzip stream can fail into one clear DataError."""
    try:
        yield
    except EOFError:
        raise DataError(f"{name}: truncated gzip stream (the file was cut short)") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{name}: corrupt gzip data ({error})") from None


# ---------------------------------------------------------------------------
# Reading with a limit
# ---------------------------------------------------------------------------


class BoundedReader:
    """A binary reader over ``stream`` that refuses to deliver more than ``max_bytes``.

    Every read asks ``stream`` for at most :data:`READ_CHUNK_BYTES` at a time and counts
    what comes back; once the count passes ``max_bytes`` (``None``: no limit) it raises
    ``error`` (a DataError), so a gzip or zip bomb is inflated by at most the limit plus
    one chunk.  A text stream's characters are delivered encoded as UTF-8.  ``peek``
    looks ahead without consuming (kept in a small buffer), so the stream need not seek.
    """

    def __init__(self, stream: IO, max_bytes: int | None, error: DataError):
        self._stream = stream
        self._max_bytes = max_bytes
        self._error = error
        self._buffer = bytearray()
        self.bytes_read = 0  # delivered by ``stream`` so far, the peeked ones included
        self.name = getattr(stream, "name", None)  # gzip.GzipFile looks for one

    def _pull(self, size: int) -> bytes:
        """Up to ``size`` (at most one chunk) new bytes from the stream, counted."""
        data = self._stream.read(min(size, READ_CHUNK_BYTES))
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.bytes_read += len(data)
        if self._max_bytes is not None and self.bytes_read > self._max_bytes:
            raise self._error
        return data

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer at the end), left to be read."""
        while len(self._buffer) < size:
            data = self._pull(size - len(self._buffer))
            if not data:
                break
            self._buffer += data
        return bytes(self._buffer[:size])

    def read(self, size: int | None = -1) -> bytes:
        """``size`` bytes, fewer only at the end (all that is left when ``size`` is None or
        negative)."""
        if size is None or size < 0:
            size = 1 << 62
        parts, total = [], 0
        if self._buffer:
            parts.append(bytes(self._buffer[:size]))
            del self._buffer[:size]
            total = len(parts[0])
        while total < size and (data := self._pull(size - total)):
            parts.append(data)
            total += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto(self, target) -> int:
        """Fill ``target`` (a writable buffer, e.g. an IDX file's final array) chunk by chunk,
        with no copy of it all in between; return the bytes written (fewer only at the end)."""
        view = memoryview(target).cast("B")
        filled = 0
        while filled < len(view):
            data = self.read(min(len(view) - filled, READ_CHUNK_BYTES))
            if not data:
                break
            view[filled: filled + len(data)] = data
            filled += len(data)
        return filled

    def readline(self, limit: int) -> bytes:
        """The next line including its ``\\n``, or its first ``limit`` bytes if longer."""
        while b"\n" not in self._buffer and len(self._buffer) < limit:
            data = self._pull(READ_CHUNK_BYTES)
            if not data:
                break
            self._buffer += data
        end = self._buffer.find(b"\n", 0, limit)
        end = end + 1 if end >= 0 else min(limit, len(self._buffer))
        line = bytes(self._buffer[:end])
        del self._buffer[:end]
        return line


@contextlib.contextmanager
def open_decompressed(source: Source, file_name: str, max_bytes: int | None, what: str) -> Iterator[BoundedReader]:
    """Yield ``source``'s content, gunzipped when it starts with gzip's magic bytes, as a
    :class:`BoundedReader` that refuses more than ``max_bytes`` (the file itself and its
    decompressed content are both counted).  ``what`` names the kind of file in the
    refusal ("a CSV"); gzip errors become DataErrors naming ``file_name``."""
    with open_source(source) as stream, gzip_errors(file_name):
        raw = BoundedReader(stream, max_bytes, too_big_error(file_name, max_bytes or 0, what, False))
        if raw.peek(2) != GZIP_MAGIC:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield BoundedReader(unzipped, max_bytes, too_big_error(file_name, max_bytes or 0, what, True))


def read_bounded(stream: IO[bytes], max_bytes: int, file_name: str, what: str) -> bytes:
    """All of ``stream`` (e.g. a zip member), or a DataError once it passes ``max_bytes``."""
    return BoundedReader(stream, max_bytes, too_big_error(file_name, max_bytes, what, False)).read()
