"""Downloading files over HTTP(S): streamed, with progress, a checksum and an atomic rename;
the cache directory they go to."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from nn.errors import DataError


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
        with write_atomically(destination) as file:
            bytes_done, bytes_total, digest = _stream_to_file(url, file, algorithm, progress, timeout, chunk_size)
            if bytes_total is not None and bytes_done < bytes_total:
                raise DataError(f"download of {url} was cut short: got {bytes_done} of {bytes_total} bytes")
            if digest.lower() != checksum.lower():
                raise DataError(f"checksum mismatch for {url}: expected {algorithm} {checksum.lower()}, got {digest}")
    except OSError as error:  # the folder, the temporary file or the rename (network errors are DataErrors)
        raise DataError(f"cannot save the download as {destination}: {error}") from None
    return destination


@contextlib.contextmanager
def write_atomically(destination: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside ``destination``, open for writing in binary; when the
    ``with`` block ends without an error it is renamed onto ``destination``
    (``os.replace`` is atomic, so readers never see half a file), when it raises it is
    deleted and ``destination`` is left as it was.  The folder must exist."""
    # delete=False: the file outlives this handle, renamed into place below.
    temporary = tempfile.NamedTemporaryFile(dir=destination.parent, prefix=f".{destination.name}.",
                                            suffix=".part", delete=False)
    temporary_path = Path(temporary.name)
    try:
        with temporary:
            yield temporary
        os.replace(temporary_path, destination)
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise


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
