"""EMNIST (issue 9): the loaders, the transposition, labels and class names, the download,
the command line and the app's pages with other characters than digits.

Every file here is written by the test itself, small, in EMNIST's layout: IDX images
stored *transposed* (row r of a stored image is column r of the character), letters
labelled 1..26, names ``emnist-<split>-<part>-...-ubyte[.gz]`` under ``gzip/`` in
``gzip.zip``. The download is served by a local HTTP server on 127.0.0.1; nothing here
reaches the internet.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import string
import subprocess
import sys
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from datasets import DIGIT_CLASS_NAMES, class_noun, load_data
from datasets.emnist import (
    EMNIST_SPLITS,
    class_names_from_mapping,
    download_emnist,
    emnist_source,
    find_emnist_splits,
    load_emnist,
    parse_mapping,
)
from nn.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
UPPER, LOWER = string.ascii_uppercase, string.ascii_lowercase

# ---------------------------------------------------------------------------------
# Files in EMNIST's layout
# ---------------------------------------------------------------------------------


def idx(magic: int, shape: tuple, payload: bytes) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in shape) + payload


def letter_l(shift: int = 0) -> np.ndarray:
    """An "L" as MNIST would show it (28 x 28 uint8): a tall stroke, a foot to the right.

    Not symmetric under transposition (that would give a "⌐" lying on its back), so a
    loader that forgets to turn EMNIST's images upright cannot pass."""
    image = np.zeros((28, 28), np.uint8)
    image[4:22, 6 + shift] = 255  # the upright stroke: rows 4..21 of one column
    image[21, 7 + shift: 18 + shift] = 200  # the foot: one row, to the right
    image[4, 7 + shift] = 99  # a serif at the top right, so even a flip would be caught
    return image


def upright_images(n: int, seed: int = 0) -> np.ndarray:
    """``(n, 28, 28)`` images as people see them: shifted L's plus a little noise."""
    rng = np.random.default_rng(seed)
    images = np.stack([letter_l(i % 8) for i in range(n)])
    noise = rng.integers(0, 30, images.shape, dtype=np.uint8)
    return np.maximum(images, noise).astype(np.uint8)


def mapping_text(split: str) -> str:
    """The mapping file NIST ships for ``split`` ("label code [code]" per line)."""
    if split == "letters":
        return "".join(f"{k + 1} {ord(u)} {ord(lo)}\n" for k, (u, lo) in enumerate(zip(UPPER, LOWER)))
    return "".join(f"{k} {ord(c)}\n" for k, c in enumerate(EMNIST_SPLITS[split].class_names))


def emnist_files(split: str, part: str, images: np.ndarray, file_labels: np.ndarray) -> dict[str, bytes]:
    """{file name: bytes} of one part: the images stored transposed, gzipped like NIST's."""
    stored = np.ascontiguousarray(images.transpose(0, 2, 1))  # EMNIST's storage
    stem = f"emnist-{split}-{part}"
    return {
        f"{stem}-images-idx3-ubyte.gz": gzip.compress(idx(0x803, stored.shape, stored.tobytes())),
        f"{stem}-labels-idx1-ubyte.gz": gzip.compress(idx(0x801, file_labels.shape,
                                                          file_labels.astype(np.uint8).tobytes())),
    }


def file_labels(split: str, n: int) -> np.ndarray:
    """Labels as they are in the files: every class in turn (letters count from 1)."""
    n_classes = EMNIST_SPLITS[split].n_classes
    first = 1 if split == "letters" else 0
    return (np.arange(n) % n_classes + first).astype(np.uint8)


def split_files(split: str, n_train: int, n_test: int, seed: int = 0) -> dict[str, bytes]:
    files = emnist_files(split, "train", upright_images(n_train, seed), file_labels(split, n_train))
    files.update(emnist_files(split, "test", upright_images(n_test, seed + 1), file_labels(split, n_test)))
    files[f"emnist-{split}-mapping.txt"] = mapping_text(split).encode()
    return files


def write_folder(folder: Path, files: dict[str, bytes], gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if not gz and name.endswith(".gz"):
            name, content = name[:-3], gzip.decompress(content)
        (folder / name).write_bytes(content)
    return folder


def archive_bytes(files: dict[str, bytes]) -> bytes:
    """A small gzip.zip laid out like NIST's: every member under gzip/."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(f"gzip/{name}", content)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------
# Orientation, labels, class names
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_loader_turns_the_transposed_images_upright_exactly(tmp_path, gz):
    images = upright_images(52)
    write_folder(tmp_path, split_files("letters", 52, 26), gz=gz)
    dataset = load_emnist("letters", tmp_path)
    assert dataset.images.shape == (52, 784) and dataset.images.dtype == np.uint8
    assert dataset.images.flags.c_contiguous
    assert np.array_equal(dataset.images.reshape(-1, 28, 28), images)
    # The L stands upright: a tall stroke in column 6, its foot along row 21.
    first = dataset.images[0].reshape(28, 28)
    assert (first[4:22, 6] == 255).all() and (first[21, 7:18] == 200).all() and first[4, 7] == 99
    # What the file holds is the transpose, so reading it as MNIST would be wrong.
    stored = np.frombuffer(gzip.decompress((tmp_path / "emnist-letters-train-images-idx3-ubyte.gz")
                                           .read_bytes())[16:] if gz else
                           (tmp_path / "emnist-letters-train-images-idx3-ubyte").read_bytes()[16:],
                           np.uint8).reshape(-1, 28, 28)
    assert not np.array_equal(stored[0], images[0]) and np.array_equal(stored[0].T, images[0])


def test_transposition_block_by_block_and_in_place_only_when_asked(monkeypatch):
    import datasets.emnist
    import datasets.emnist_files

    monkeypatch.setattr(datasets.emnist_files, "_TRANSPOSE_BLOCK", 5)  # 23 images: 5 blocks, the last short
    images = upright_images(23)
    stored = np.ascontiguousarray(images.transpose(0, 2, 1))
    kept = stored.copy()
    assert np.array_equal(datasets.emnist.upright_images(kept).reshape(-1, 28, 28), images)
    assert np.array_equal(kept, stored)  # a copy by default
    assert np.array_equal(datasets.emnist.upright_images(kept, in_place=True).reshape(-1, 28, 28), images)
    assert np.array_equal(kept, images)  # in place: the same memory, now upright


def test_letters_labels_1_to_26_become_classes_0_to_25(tmp_path):
    write_folder(tmp_path, split_files("letters", 78, 26))
    train, test = load_emnist("letters", tmp_path), load_emnist("letters", tmp_path, part="test")
    assert np.array_equal(train.labels, np.arange(78) % 26) and train.labels.dtype == np.uint8
    assert np.array_equal(test.labels, np.arange(26))
    assert train.class_names == tuple(UPPER) and train.n_classes == 26
    assert "EMNIST letters train (78 images" in train.name and "test (26 images" in test.name


def test_balanced_classes_and_names(tmp_path):
    write_folder(tmp_path, split_files("balanced", 94, 47))
    dataset = load_emnist("balanced", tmp_path)
    assert dataset.n_classes == 47
    assert dataset.class_names == (*"0123456789", *UPPER, *"abdefghnqrt")
    assert np.array_equal(dataset.labels, np.arange(94) % 47)  # balanced counts from 0


def test_split_table():
    sizes = {split: info.n_classes for split, info in EMNIST_SPLITS.items()}
    assert sizes == {"byclass": 62, "bymerge": 47, "balanced": 47, "letters": 26, "digits": 10, "mnist": 10}
    for split, (n_classes, names) in EMNIST_SPLITS.items():
        assert len(names) == n_classes == len(set(names)), split
    assert EMNIST_SPLITS["byclass"].class_names == (*"0123456789", *UPPER, *LOWER)
    assert EMNIST_SPLITS["mnist"].class_names == DIGIT_CLASS_NAMES


def test_class_ranges_for_captions():
    from datasets import class_ranges

    assert class_ranges(DIGIT_CLASS_NAMES) == "0–9" and class_ranges(UPPER) == "A–Z"
    assert class_ranges(EMNIST_SPLITS["balanced"].class_names) == "0–9, A–Z, a, b, d–h, n, q, r, t"
    assert class_ranges(["0", "1", "2", "10", "11"]) == "0–2, 10, 11"


def test_class_noun():
    assert class_noun(DIGIT_CLASS_NAMES) == "digit" and class_noun(DIGIT_CLASS_NAMES, plural=True) == "digits"
    assert class_noun(tuple(UPPER)) == "letter"
    assert class_noun(EMNIST_SPLITS["balanced"].class_names, plural=True) == "characters"


# ---------------------------------------------------------------------------------
# Mapping files
# ---------------------------------------------------------------------------------


def test_mapping_files_as_nist_ships_them():
    assert parse_mapping(mapping_text("letters")) == (1, tuple(UPPER))
    assert parse_mapping(mapping_text("balanced")) == (0, EMNIST_SPLITS["balanced"].class_names)
    # Order of the lines, blank lines and Windows line ends do not matter.
    shuffled = "\r\n".join(reversed(mapping_text("digits").splitlines())) + "\r\n\r\n"
    assert class_names_from_mapping(shuffled) == DIGIT_CLASS_NAMES


@pytest.mark.parametrize("text,message", [
    ("", "no mapping lines"),
    ("0 48\n1\n", "line 2: expected 'label ascii_code"),
    ("0 48 49 50\n", "line 1: expected"),
    ("0 48\nA 49\n", "line 2: 'A 49' is not whole numbers"),
    ("0 48\n1 4.9\n", "not whole numbers"),
    ("0 48\n1 200\n", "line 2: 200 is not the code of a printable"),
    ("0 48\n1 32\n", "32 is not the code"),
    ("0 48\n0 49\n", "line 2: label 0 appears twice"),
    ("0 48\n2 50\n", "label 1 is missing"),
    ("2 48\n3 49\n", "start at 0 or 1"),
    ("0 48\n1 48\n", "same character"),
    ("\x00\x01garbage\n", "line 1"),
])
def test_mapping_garbage_is_a_clear_data_error(text, message):
    with pytest.raises(DataError, match="mapping.txt") as error:
        class_names_from_mapping(text)
    assert message in str(error.value)


def test_a_mapping_that_does_not_fit_the_split_is_refused(tmp_path):
    files = split_files("letters", 52, 26)
    files["emnist-letters-mapping.txt"] = mapping_text("digits").encode()
    write_folder(tmp_path, files)
    with pytest.raises(DataError, match="10 classes from label 0, but EMNIST letters has 26 from label 1"):
        load_emnist("letters", tmp_path)


def test_without_a_mapping_file_the_built_in_names_are_used(tmp_path):
    files = split_files("letters", 52, 26)
    del files["emnist-letters-mapping.txt"]
    write_folder(tmp_path, files)
    assert load_emnist("letters", tmp_path).class_names == tuple(UPPER)


# ---------------------------------------------------------------------------------
# Malformed files
# ---------------------------------------------------------------------------------


def good_pair(n: int = 26):
    stored = np.ascontiguousarray(upright_images(n).transpose(0, 2, 1))
    return idx(0x803, stored.shape, stored.tobytes()), idx(0x801, (n,), file_labels("letters", n).tobytes())


@pytest.mark.parametrize("case,message", [
    ("wrong_magic_images", "magic number 0x00000804"),
    ("wrong_magic_labels", "magic number 0x00007777"),
    ("truncated_images", "expected 20384 bytes of pixels, found 20284"),
    ("truncated_gzip", "truncated gzip"),
    ("count_mismatch", "26 images in emnist-letters-train-images-idx3-ubyte but 25 labels"),
    ("label_0", "label 0 at index 3 is outside 1-26"),
    ("label_27", "label 27 at index 0 is outside 1-26"),
    ("swapped", "not an IDX image file"),
    ("not_28x28", "images are 28x27 pixels"),
])
def test_malformed_files_raise_data_error(tmp_path, case, message):
    images, labels = good_pair()
    n = 26
    if case == "wrong_magic_images":
        images = (0x804).to_bytes(4, "big") + images[4:]
    elif case == "wrong_magic_labels":
        labels = (0x7777).to_bytes(4, "big") + labels[4:]
    elif case == "truncated_images":
        images = images[:-100]
    elif case == "count_mismatch":
        labels = idx(0x801, (n - 1,), file_labels("letters", n - 1).tobytes())
    elif case == "label_0":
        labels = labels[:8 + 3] + b"\x00" + labels[8 + 4:]
    elif case == "label_27":
        labels = labels[:8] + b"\x1b" + labels[9:]
    elif case == "swapped":
        images, labels = labels, images
    elif case == "not_28x28":
        images = idx(0x803, (n, 28, 27), bytes(n * 28 * 27))
    names = {"images": "emnist-letters-train-images-idx3-ubyte", "labels": "emnist-letters-train-labels-idx1-ubyte"}
    if case == "truncated_gzip":
        compressed = gzip.compress(images)
        (tmp_path / (names["images"] + ".gz")).write_bytes(compressed[: len(compressed) // 2])
    else:
        (tmp_path / names["images"]).write_bytes(images)
    (tmp_path / names["labels"]).write_bytes(labels)
    with pytest.raises(DataError) as error:
        load_emnist("letters", tmp_path)
    assert message in str(error.value)


def test_missing_files_and_unknown_split(tmp_path):
    with pytest.raises(DataError, match="no emnist-letters-train-images-idx3-ubyte"):
        load_emnist("letters", tmp_path)
    with pytest.raises(DataError, match="unknown EMNIST split 'greek'"):
        load_emnist("greek", tmp_path)
    with pytest.raises(DataError, match="'train' or 'test'"):
        load_emnist("letters", tmp_path, part="validation")


# ---------------------------------------------------------------------------------
# The archive itself, folders as it unpacks, detection by file names
# ---------------------------------------------------------------------------------


def test_the_zip_itself_a_folder_with_the_zip_and_the_unpacked_gzip_folder(tmp_path):
    files = split_files("letters", 52, 26)
    files.update(split_files("digits", 20, 10))
    zip_path = tmp_path / "zip" / "gzip.zip"
    zip_path.parent.mkdir()
    zip_path.write_bytes(archive_bytes(files))
    unpacked = write_folder(tmp_path / "unpacked" / "gzip", files).parent
    expected = upright_images(52)
    for location in (zip_path, zip_path.parent, unpacked):
        dataset = load_emnist("letters", location)
        assert np.array_equal(dataset.images.reshape(-1, 28, 28), expected), location
        assert dataset.class_names == tuple(UPPER)
        assert find_emnist_splits(location) == ["letters", "digits"]
        assert load_emnist("digits", location, part="test").n_samples == 10
    with pytest.raises(DataError, match="holds EMNIST splits letters, digits; name one"):
        emnist_source(str(unpacked))
    assert emnist_source(f"emnist-letters:{zip_path}") == ("letters", zip_path)
    assert emnist_source("emnist-balanced") == ("balanced", None)
    assert emnist_source(str(tmp_path / "missing")) is None


def test_load_data_takes_an_emnist_folder_and_still_reads_mnist_folders(tmp_path):
    write_folder(tmp_path / "letters", split_files("letters", 52, 26))
    assert load_data(str(tmp_path / "letters")).class_names == tuple(UPPER)
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    (mnist / "train-images-idx3-ubyte").write_bytes(idx(0x803, (3, 28, 28), bytes(3 * 784)))
    (mnist / "train-labels-idx1-ubyte").write_bytes(idx(0x801, (3,), bytes([1, 2, 3])))
    assert load_data(str(mnist)).class_names == DIGIT_CLASS_NAMES


# ---------------------------------------------------------------------------------
# Download from a local server
# ---------------------------------------------------------------------------------


class QuietHandler(SimpleHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):
        pass


N_SERVED = 208  # letters in the served archive: 8 of each, enough for a 10% validation split


@pytest.fixture
def server(tmp_path, no_proxies):
    """A local HTTP server serving a small gzip.zip: yields (url, md5, server)."""
    served = tmp_path / "served"
    served.mkdir()
    files = split_files("letters", N_SERVED, 26)
    files.update(split_files("balanced", 47, 47))
    content = archive_bytes(files)
    (served / "gzip.zip").write_bytes(content)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(served)))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/gzip.zip", hashlib.md5(content).hexdigest(), httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/gzip.zip"


def test_download_shows_progress_checks_md5_extracts_one_split_then_uses_the_cache(server, tmp_path):
    url, md5, httpd = server
    cache = tmp_path / "cache"
    calls = []
    train, test = download_emnist("letters", cache, url=url, md5=md5,
                                  progress=lambda *args: calls.append(args))
    size = (tmp_path / "served" / "gzip.zip").stat().st_size
    assert calls[0] == ("gzip.zip", 0, size) and calls[-1] == ("gzip.zip", size, size)
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)
    assert np.array_equal(train.images.reshape(-1, 28, 28), upright_images(N_SERVED))
    assert train.class_names == tuple(UPPER) and test.n_samples == 26
    assert train.name == f"EMNIST letters train ({N_SERVED} images, downloaded)"  # not the cache's path
    # Only the letters split was extracted; the zip stays for the other splits; no temporaries.
    assert sorted(p.name for p in cache.iterdir()) == sorted([
        "gzip.zip", "emnist-letters-mapping.txt",
        *(f"emnist-letters-{part}-{kind}-ubyte.gz" for part in ("train", "test")
          for kind in ("images-idx3", "labels-idx1"))])
    # Cached: no second request, for this split; another split comes out of the kept zip.
    download_emnist("letters", cache, url=url, md5=md5)
    balanced, _ = download_emnist("balanced", cache, url=url, md5=md5)
    assert len(httpd.requests) == 1 and balanced.n_classes == 47


def test_wrong_md5_leaves_nothing_behind(server, tmp_path):
    url, md5, _ = server
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="checksum mismatch") as error:
        download_emnist("letters", cache, url=url, md5="0" * 32)
    assert "could not download EMNIST (gzip.zip, about 562 MB)" in str(error.value)
    assert list(cache.iterdir()) == []


def test_a_damaged_cached_zip_is_downloaded_again(server, tmp_path):
    url, md5, httpd = server
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "gzip.zip").write_bytes(b"PK\x03\x04 not really")
    train, _ = download_emnist("letters", cache, url=url, md5=md5)
    assert len(httpd.requests) == 1 and train.n_samples == N_SERVED


def test_extracting_stops_at_the_member_limit_and_leaves_nothing_behind(tmp_path, monkeypatch):
    """The archive is checked by its MD5 before anything is extracted; still, no member is
    unpacked past MAX_EMNIST_BYTES (here lowered to 5,000 bytes, below one member's size)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    content = archive_bytes(split_files("letters", 26, 26))
    (cache / "gzip.zip").write_bytes(content)
    monkeypatch.setattr("datasets.emnist.MAX_EMNIST_BYTES", 5000)
    with pytest.raises(DataError, match="ubyte.gz: more than 5 KB once decompressed; a member of EMNIST's "
                                        "archive may hold at most 5 KB"):
        download_emnist("letters", cache, md5=hashlib.md5(content).hexdigest())
    assert sorted(path.name for path in cache.iterdir()) == ["gzip.zip"]


def test_offline_is_a_clear_data_error(tmp_path, no_proxies):
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="offline") as error:
        download_emnist("letters", cache, url=closed_port_url())
    assert "could not download EMNIST" in str(error.value)
    assert not cache.exists() or list(cache.iterdir()) == []


# ---------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------


def run_cli(*args, env=None):
    import os

    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=environment)


def test_cli_trains_on_an_emnist_folder_with_26_outputs_and_its_test_part(tmp_path):
    from nn.model_io import load_model

    folder = write_folder(tmp_path / "emnist", split_files("letters", 260, 52))
    model = tmp_path / "letters.npz"
    result = run_cli("--data", str(folder), "--hidden", "16", "--optimizer", "adam", "--epochs", "2",
                     "--batch-size", "32", "--save", str(model))
    assert result.returncode == 0, result.stderr
    assert "784 → 16 relu → 26 softmax" in result.stdout
    assert "234 training, 26 validation images" in result.stdout
    assert "EMNIST letters test (52 images" in result.stdout  # its own test part, not MNIST's
    network, meta = load_model(model)
    assert network.layer_sizes == (784, 16, 26)
    assert meta["data"]["class_names"] == list(UPPER)
    # The cached split is used by name, without a download (the cache holds its files).
    cache = tmp_path / "cache"
    write_folder(cache / "emnist", split_files("letters", 260, 52))
    by_name = run_cli("--data", "emnist-letters", "--epochs", "1", "--quiet",
                      env={"DIGIT_LAB_CACHE": str(cache)})
    assert by_name.returncode == 0, by_name.stderr
    assert "EMNIST letters test (52 images" in by_name.stdout


def test_cli_refuses_a_digit_model_for_letters(tmp_path):
    from nn.model_io import save_model
    from nn.network import Network

    folder = write_folder(tmp_path / "emnist", split_files("letters", 130, 26))
    save_model(tmp_path / "digits.npz", Network((784, 8, 10), seed=0))
    result = run_cli("--data", str(folder), "--load", str(tmp_path / "digits.npz"))
    assert result.returncode == 2
    assert "gives 10 scores" in result.stderr and "26 classes" in result.stderr


# ---------------------------------------------------------------------------------
# The app (AppTest, no browser)
# ---------------------------------------------------------------------------------

LETTERS = list(UPPER)
N_UPLOAD, N_UPLOAD_TEST = 208, 52  # 8 and 2 letters of each class


@pytest.fixture(scope="module")
def app_support():
    """tests/app_support.py (its module fixture restores the BLAS threads the app limits)."""
    import app_support

    yield app_support
    from ui import state

    state.configure_process().restore_original_limits()
    state.configure_process.clear()


def upload_emnist_letters(at, with_test: bool = True):
    """On the Data page: choose EMNIST, letters, upload the small files, press Load."""
    rerun = _rerun
    at.session_state["use_data_tab"] = "Load data"
    rerun(at)
    at.radio(key="use_source").set_value("emnist")
    rerun(at)
    assert at.selectbox(key="use_emnist_split").value == "letters"
    files = split_files("letters", N_UPLOAD, N_UPLOAD_TEST)
    stem = "emnist-letters-"
    for label, name in (("EMNIST images (idx3)", "train-images-idx3-ubyte.gz"),
                        ("EMNIST labels (idx1)", "train-labels-idx1-ubyte.gz"),
                        *((("EMNIST test images (idx3)", "test-images-idx3-ubyte.gz"),
                           ("EMNIST test labels (idx1)", "test-labels-idx1-ubyte.gz")) if with_test else ())):
        next(u for u in at.file_uploader if u.label == label).set_value(
            (stem + name, files[stem + name], "application/octet-stream"))
    rerun(at)
    at.button(key="use_load_emnist").click()
    return rerun(at)


def _rerun(at):
    at.run()
    assert not at.exception, at.exception
    return at


def chart(at, prefix: str) -> dict:
    import json

    from app_support import chart_key

    for element in at.get("plotly_chart"):
        if chart_key(element).startswith(prefix):
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {prefix!r}; charts: {[chart_key(e) for e in at.get('plotly_chart')]}")


def texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "subheader", "info", "warning", "success")
             for e in getattr(at, kind)]
    return " ".join(str(p) for p in parts).replace("\\", "")


def test_app_loads_emnist_letters_trains_26_outputs_and_every_page_names_the_letters(app_support):
    from app_support import open_page, run_until_done, set_settings

    from datasets import stratified_split

    at = open_page("data")
    upload_emnist_letters(at)
    data = at.session_state["session_dataset"]
    assert data.class_names == tuple(LETTERS) and data.n_classes == 26
    assert (data.n_train, data.n_validation) == (182, 26) and len(data.test[1]) == N_UPLOAD_TEST
    # The uploaded images are upright, in the split's order.
    train_idx, _ = stratified_split(np.arange(N_UPLOAD) % 26, 0.1, seed=0)
    assert np.array_equal(data.train_images.reshape(-1, 28, 28), upright_images(N_UPLOAD)[train_idx])
    assert "26 letters (A–Z)" in " ".join(c.value for c in at.sidebar.caption)
    assert at.success and "EMNIST letters train (208 images" in at.success[0].value.replace("\\", "")

    # Data page: samples, counts and mean images are labelled with the letters.
    at.session_state["use_data_tab"] = "Look at the data"
    _rerun(at)
    assert "Samples of each letter" in texts(at) and "The average letter" in texts(at)
    assert chart(at, "use_samples_chart")["layout"]["yaxis"]["ticktext"] == LETTERS
    counts = chart(at, "use_counts_chart")
    assert list(counts["data"][0]["x"]) == LETTERS and counts["layout"]["xaxis"]["title"]["text"] == "letter"
    assert counts["layout"]["xaxis"]["ticktext"] == LETTERS  # every letter labelled, none skipped
    assert [a["text"] for a in chart(at, "use_means_chart")["layout"]["annotations"]] == LETTERS

    # Train: the output layer has one unit per letter.
    at.switch_page("pages/train.py")
    _rerun(at)
    set_settings(at, epochs=3, width=16, batch_size=64)
    at.button(key="start").click()
    _rerun(at)
    run_until_done(at)
    model = at.session_state["model"]
    assert model is not None and model.network.layer_sizes == (784, 16, 26)
    assert model.class_names == tuple(LETTERS) and model.test_accuracy is not None  # on the test part

    # Evaluate: the confusion matrix, the pickers and the table speak letters; the test set is
    # EMNIST's test part (52 images), not MNIST's.
    at.switch_page("pages/evaluate.py")
    _rerun(at)
    assert not at.warning
    matrix = chart(at, "use_confusion_chart")
    assert list(matrix["data"][0]["x"]) == LETTERS and matrix["layout"]["xaxis"]["title"]["text"] == "predicted letter"
    assert np.nansum(app_support.decode(matrix["data"][0]["z"])) + np.nansum(
        app_support.decode(matrix["data"][1]["z"])) == N_UPLOAD_TEST
    assert at.selectbox(key="use_cell_true").label == "True letter"
    assert at.selectbox(key="use_cell_true").options == LETTERS
    at.session_state["use_evaluate_tab"] = "Per class"
    _rerun(at)
    assert list(at.dataframe[0].value["letter"]) == LETTERS

    # Activations: the probabilities are the 26 letters; the picker picks a letter.
    at.switch_page("pages/activations.py")
    _rerun(at)
    assert not at.warning
    probabilities = chart(at, "inside_probabilities_chart")
    assert list(probabilities["data"][0]["x"]) == LETTERS
    assert probabilities["layout"]["xaxis"]["title"]["text"] == "letter"
    assert at.radio(key="inside_activations_source").label == "Pick a letter"

    # Weights: the outgoing weights of a unit go to the 26 letters, the templates are letters.
    at.switch_page("pages/weights.py")
    _rerun(at)
    assert list(chart(at, "inside_unit_outgoing")["data"][0]["x"]) == LETTERS
    at.session_state["inside_weights_tab"] = "Letter templates"
    _rerun(at)
    templates = chart(at, "inside_templates_chart")
    assert [a["text"] for a in templates["layout"]["annotations"] if a["text"] in LETTERS] == LETTERS

    # Draw (nothing drawn): it asks for a letter, shrunk EMNIST's way (the model's dataset);
    # the learner may switch, and the choice holds while the model's dataset stays the same.
    at.switch_page("pages/draw.py")
    _rerun(at)
    assert "Draw a letter" in texts(at) and "the way the EMNIST characters were made" in texts(at)
    assert at.segmented_control(key="use_shrink_style").value == "emnist"
    at.segmented_control(key="use_shrink_style").set_value("mnist")
    _rerun(at)
    assert "the way the MNIST digits were made" in texts(at)
    assert at.segmented_control(key="use_shrink_style").value == "mnist"


def test_a_10_class_model_is_refused_for_26_class_data(app_support, data):
    from app_support import open_page, trained_run

    digits_model = trained_run(data, (16,), epochs=1)
    at = open_page("data", digits_model, in_history=True)
    upload_emnist_letters(at, with_test=False)
    assert at.session_state["session_dataset"].n_classes == 26
    assert "26 letters" in " ".join(c.value for c in at.sidebar.caption)
    assert "It reads 10 digits (0–9)" in " ".join(c.value for c in at.sidebar.caption)
    for page, chart_prefix in (("evaluate", "use_confusion_chart"), ("activations", "inside_probabilities_chart")):
        at.switch_page(f"pages/{page}.py")
        _rerun(at)
        assert at.warning, page
        message = at.warning[0].value
        assert "10 output units" in message and "has 26 classes" in message and "Train a new model" in message
        assert not [e for e in at.get("plotly_chart")
                    if app_support.chart_key(e).startswith(chart_prefix)], page
    # Without a test part, Evaluate says so instead of using MNIST's digits.
    assert "came without a test set" in texts(at.switch_page("pages/evaluate.py").run())
    # Uploading a digit model while letters are loaded is refused; a letters model file keeps
    # its class names through a download and upload.
    at.switch_page("pages/models.py")
    _rerun(at)
    from lab import model_files

    at.file_uploader(key="use_model_upload").set_value(
        ("digits.npz", model_files.model_file_bytes(digits_model), "application/octet-stream"))
    _rerun(at)
    assert at.error and "give 26 scores" in at.error[0].value and "10 scores, for digits" in at.error[0].value


def test_a_letters_model_file_round_trips_with_its_class_names(app_support):
    import dataclasses

    from app_support import open_page

    from lab import model_files
    from lab.runs import Run
    from nn.training import TrainConfig, build_network, train

    at = open_page("data")
    upload_emnist_letters(at, with_test=False)
    data = at.session_state["session_dataset"]
    config = TrainConfig(hidden_sizes=(8,), optimizer="adam", learning_rate=1e-3, epochs=1, batch_size=64)
    result = train(build_network(config, n_classes=26), data.train_images, data.train_labels, config)
    run = Run(1, config, result.status, "", result.network, result.history, data.name, 1.0,
              class_names=tuple(LETTERS))
    raw = model_files.model_file_bytes(run)
    nameless = model_files.model_file_bytes(dataclasses.replace(run, class_names=tuple(map(str, range(26)))))
    at.switch_page("pages/models.py")
    _rerun(at)
    at.file_uploader(key="use_model_upload").set_value(("letters.npz", raw, "application/octet-stream"))
    _rerun(at)
    assert not at.error and "26 letters (A–Z)" in texts(at)
    at.button(key="use_install").click()
    _rerun(at)
    installed = at.session_state["model"]
    assert installed.status == "uploaded" and installed.class_names == tuple(LETTERS)
    assert model_files.class_names_from_metadata({}, 26) == tuple(map(str, range(26)))
    assert model_files.run_from_model(run.network, {}, 3, default_names=tuple(LETTERS)).class_names == tuple(LETTERS)
    assert model_files.model_from_upload(nameless, "n.npz", 26, LETTERS)[0].layer_sizes[-1] == 26


def test_download_emnist_button_offline_and_from_a_local_server(app_support, server, monkeypatch, tmp_path):
    from app_support import open_page

    import datasets.emnist

    url, md5, httpd = server
    real = datasets.emnist.download_emnist
    target = {"url": closed_port_url()}

    def local(split, **kwargs):  # the app's call, pointed at loopback: never the real URL
        return real(split, tmp_path / "cache", url=target["url"], md5=md5, **kwargs)

    monkeypatch.setattr(datasets.emnist, "download_emnist", local)
    at = open_page("data")
    at.session_state["use_data_tab"] = "Load data"
    _rerun(at)
    at.radio(key="use_source").set_value("emnist")
    _rerun(at)
    button = at.button(key="use_download_emnist")
    assert button.label == "Download EMNIST letters"
    button.click()
    _rerun(at)
    assert at.error and "offline" in at.error[0].value and "Nothing was changed" in at.error[0].value
    assert "session_dataset" not in at.session_state  # still the shared bundled subset
    target["url"] = url
    at.button(key="use_download_emnist").click()
    _rerun(at)
    data = at.session_state["session_dataset"]
    assert data.class_names == tuple(LETTERS) and len(data.test[1]) == 26 and len(httpd.requests) == 1
    assert np.array_equal(np.sort(np.concatenate([data.train_labels, data.validation_labels])),
                          np.sort(np.arange(N_SERVED) % 26))
    assert at.success and "EMNIST letters train (208 images" in at.success[0].value.replace("\\", "")
    assert "and its 26 test images" in at.success[0].value
