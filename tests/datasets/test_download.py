"""Tests for downloading: a local HTTP server on 127.0.0.1 stands in for the mirrors.

No test here talks to anything but the loopback interface.
"""

import gzip
import hashlib
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from data_files import idx_bytes

from datasets import default_cache_dir, download_mnist
from datasets.download import download_file
from nn.errors import DataError

CUT_BODY_BYTES = 1000
CUT_CLAIMED_BYTES = 5000


class MirrorHandler(SimpleHTTPRequestHandler):
    """Serves files from a directory and counts requests.

    Paths under ``/cut/`` simulate a transfer that breaks off: the response
    promises 5000 bytes (Content-Length) but only 1000 arrive before the
    connection is closed.
    """

    def do_GET(self):
        self.server.request_paths.append(self.path)
        if self.path.startswith("/cut/"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(CUT_CLAIMED_BYTES))
            self.end_headers()
            self.wfile.write(b"x" * CUT_BODY_BYTES)
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format, *args):  # keep test output quiet
        pass


# urllib goes straight to 127.0.0.1, never through a proxy (tests/datasets/conftest.py).
pytestmark = pytest.mark.usefixtures("no_proxies")


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server; yields (served_directory, base_url, server)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(MirrorHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.request_paths = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}/", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def dead_mirror():
    """A base URL on a loopback port nobody listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def md5_of(content):
    return hashlib.md5(content).hexdigest()


# ---------------------------------------------------------------------------
# download_file
# ---------------------------------------------------------------------------


def test_download_reports_progress_and_writes_the_file(mirror, tmp_path):
    served, base_url, _ = mirror
    content = np.random.default_rng(0).bytes(200_000)
    (served / "blob.bin").write_bytes(content)
    destination = tmp_path / "downloads" / "blob.bin"
    calls = []

    result = download_file(
        base_url + "blob.bin",
        destination,
        checksum=md5_of(content),
        progress=lambda done, total: calls.append((done, total)),
        chunk_size=1 << 14,
    )

    assert result == destination
    assert destination.read_bytes() == content
    done_values = [done for done, _ in calls]
    assert len(calls) > 5
    assert done_values == sorted(done_values)
    assert calls[-1] == (len(content), len(content))
    assert {total for _, total in calls} == {len(content)}
    assert sorted(p.name for p in destination.parent.iterdir()) == ["blob.bin"]


def test_download_accepts_sha256(mirror, tmp_path):
    served, base_url, _ = mirror
    (served / "small.bin").write_bytes(b"digits")
    destination = tmp_path / "small.bin"
    download_file(
        base_url + "small.bin",
        destination,
        checksum=hashlib.sha256(b"digits").hexdigest(),
        algorithm="sha256",
    )
    assert destination.read_bytes() == b"digits"


def test_checksum_mismatch_leaves_nothing_behind(mirror, tmp_path):
    served, base_url, _ = mirror
    (served / "blob.bin").write_bytes(b"the real content")
    downloads = tmp_path / "downloads"
    wrong = md5_of(b"something else")
    with pytest.raises(DataError, match=f"checksum mismatch for .*blob.bin: expected md5 {wrong}"):
        download_file(base_url + "blob.bin", downloads / "blob.bin", checksum=wrong)
    assert list(downloads.iterdir()) == []  # neither the file nor a temporary


def test_cut_short_transfer_leaves_nothing_behind(mirror, tmp_path):
    _, base_url, _ = mirror
    downloads = tmp_path / "downloads"
    with pytest.raises(DataError, match=f"cut short: got {CUT_BODY_BYTES} of {CUT_CLAIMED_BYTES} bytes"):
        download_file(base_url + "cut/blob.bin", downloads / "blob.bin", checksum="0" * 32)
    assert list(downloads.iterdir()) == []


def test_http_error_is_reported(mirror, tmp_path):
    _, base_url, _ = mirror
    with pytest.raises(DataError, match="HTTP 404"):
        download_file(base_url + "missing.bin", tmp_path / "missing.bin", checksum="0" * 32)
    assert list(tmp_path.iterdir()) == [tmp_path / "served"]


def test_unreachable_host_says_offline(dead_mirror, tmp_path):
    with pytest.raises(DataError, match=r"cannot reach 127\.0\.0\.1:\d+ \(offline\?\)"):
        download_file(dead_mirror + "x.gz", tmp_path / "x.gz", checksum="0" * 32, timeout=5)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# download_mnist
# ---------------------------------------------------------------------------


def idx_gz(array):
    return gzip.compress(idx_bytes(array))


@pytest.fixture
def tiny_mnist_files(mirror):
    """Four small MNIST-format .gz files on the local mirror; returns the `files` dict."""
    served, _, _ = mirror
    rng = np.random.default_rng(5)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(30, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(10, dtype=np.uint8)[::-1].copy(),
    }
    files = {}
    for file_name, array in arrays.items():
        content = idx_gz(array)
        (served / file_name).write_bytes(content)
        files[file_name] = md5_of(content)
    return files, arrays


def test_download_mnist_falls_back_to_working_mirror_then_uses_cache(
    mirror, dead_mirror, tiny_mnist_files, tmp_path
):
    _, base_url, server = mirror
    files, arrays = tiny_mnist_files
    cache = tmp_path / "cache"
    reported = []

    train, test = download_mnist(
        cache,
        mirrors=(dead_mirror, base_url),
        files=files,
        progress=lambda name, done, total: reported.append((name, done, total)),
    )

    assert train.images.shape == (30, 784) and test.images.shape == (10, 784)
    assert np.array_equal(train.images, arrays["train-images-idx3-ubyte.gz"].reshape(30, 784))
    assert test.labels.tolist() == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert sorted(p.name for p in cache.iterdir()) == sorted(files)
    assert len(server.request_paths) == 4
    assert {name for name, _, _ in reported} == set(files)

    train_again, _ = download_mnist(cache, mirrors=(dead_mirror, base_url), files=files)
    assert len(server.request_paths) == 4  # nothing fetched the second time
    assert np.array_equal(train_again.labels, train.labels)


def test_download_mnist_replaces_a_corrupt_cached_file(mirror, tiny_mnist_files, tmp_path):
    _, base_url, server = mirror
    files, _ = tiny_mnist_files
    cache = tmp_path / "cache"
    download_mnist(cache, mirrors=(base_url,), files=files)
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")
    _, test = download_mnist(cache, mirrors=(base_url,), files=files)
    assert server.request_paths[-1] == "/t10k-labels-idx1-ubyte.gz"
    assert len(server.request_paths) == 5
    assert test.labels.tolist() == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]


def test_download_mnist_with_all_mirrors_dead_says_offline(dead_mirror, tmp_path):
    files = {"train-images-idx3-ubyte.gz": "0" * 32}
    second_dead = dead_mirror.replace("/mnist/", "/other/")
    with pytest.raises(DataError, match=r"could not download .*\(offline\?\)") as error:
        download_mnist(tmp_path / "cache", mirrors=(dead_mirror, second_dead), files=files)
    message = str(error.value)
    assert dead_mirror + "train-images-idx3-ubyte.gz" in message
    assert second_dead + "train-images-idx3-ubyte.gz" in message
    assert list((tmp_path / "cache").iterdir()) == []


# ---------------------------------------------------------------------------
# default_cache_dir
# ---------------------------------------------------------------------------


def test_default_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGIT_LAB_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("DIGIT_LAB_CACHE")
    assert default_cache_dir() == tmp_path / "xdg" / "digit-lab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "digit-lab"
