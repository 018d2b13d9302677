"""datasets/limits.py and the loaders that check it: hostile uploads are refused while they
are read, after at most one chunk more than the limit, with a message naming the limit."""

import gzip
import io
import zipfile

import numpy as np
import pytest
from data_files import LABELLED_HEADER, csv_bytes, good_row, idx_bytes

import datasets.sources
from datasets import load_data, load_idx, load_idx_pair, load_kaggle_csv
from datasets.emnist import EMNIST_SIZES, emnist_dataset, load_emnist
from datasets.limits import (
    MAX_CSV_BYTES,
    MAX_CSV_ROWS,
    MAX_EMNIST_BYTES,
    MAX_EMNIST_IMAGES,
    MAX_IDX_BYTES,
    MAX_IDX_IMAGES,
    MAX_MAPPING_BYTES,
    size_text,
)
from datasets.sources import READ_CHUNK_BYTES
from nn.errors import DataError

HEADER = (LABELLED_HEADER + "\n").encode()
ZERO_ROW = ("3" + ",0" * 784 + "\n").encode()


class EndlessUpload(io.RawIOBase):
    """A non-seekable upload that never ends: ``head`` then ``line`` forever; counts the
    bytes it delivered, so a test can tell how far the loader read."""

    def __init__(self, head: bytes, line: bytes):
        self.pending = head
        self.line = line
        self.delivered = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        view = memoryview(buffer).cast("B")
        while len(self.pending) < len(view):
            self.pending += self.line * max(1, 65536 // len(self.line))
        view[:] = self.pending[: len(view)]
        self.pending = self.pending[len(view):]
        self.delivered += len(view)
        return len(view)


@pytest.fixture
def inflated(monkeypatch):
    """Counts the bytes every gzip stream opened by the loaders delivers once decompressed."""
    counter = {"bytes": 0}

    class CountingGzipFile(gzip.GzipFile):
        def read(self, size=-1):
            data = super().read(size)
            counter["bytes"] += len(data)
            return data

    monkeypatch.setattr(datasets.sources.gzip, "GzipFile", CountingGzipFile)
    return counter


# ---------------------------------------------------------------------------
# The defaults fit every legitimate file
# ---------------------------------------------------------------------------


def test_defaults_fit_mnist_kaggle_and_emnist():
    kaggle_train_rows, kaggle_train_bytes = 42_000, 76_775_041  # Kaggle's train.csv
    assert MAX_CSV_ROWS >= kaggle_train_rows and MAX_CSV_BYTES >= kaggle_train_bytes
    app_emnist_train = {"letters": 124_800, "balanced": 112_800}  # the app's splits, training part
    assert MAX_IDX_IMAGES >= max(60_000, *app_emnist_train.values())
    assert MAX_IDX_BYTES == 16 + MAX_IDX_IMAGES * 784
    assert MAX_EMNIST_IMAGES >= max(EMNIST_SIZES.values()) == 814_255
    assert MAX_EMNIST_BYTES == 16 + MAX_EMNIST_IMAGES * 784
    assert (size_text(MAX_CSV_BYTES), size_text(MAX_IDX_BYTES), size_text(MAX_MAPPING_BYTES),
            size_text(900)) == ("250 MB", "117.6 MB", "64 KB", "900 bytes")


# ---------------------------------------------------------------------------
# Kaggle CSV
# ---------------------------------------------------------------------------


def test_csv_over_the_row_limit_is_refused_one_block_after_it():
    upload = EndlessUpload(HEADER, ZERO_ROW)
    with pytest.raises(DataError, match=r"^<uploaded file>: more than 1,000 rows; a CSV may have at most "
                                        r"1,000 rows$"):
        load_kaggle_csv(upload, max_rows=1000)
    assert upload.delivered <= len(HEADER) + 1001 * len(ZERO_ROW) + READ_CHUNK_BYTES + len(ZERO_ROW)


def test_csv_at_the_row_limit_is_accepted_and_blank_lines_do_not_count():
    rows = [good_row(label=k % 10) for k in range(10)]
    content = csv_bytes([cell for row in rows for cell in (row, [""])])  # a blank line after each row
    assert load_kaggle_csv(io.BytesIO(content), max_rows=10).labels.tolist() == list(range(10))
    with pytest.raises(DataError, match="more than 9 rows; a CSV may have at most 9 rows"):
        load_kaggle_csv(io.BytesIO(content), max_rows=9)
    assert load_kaggle_csv(io.BytesIO(content), max_rows=None).n_samples == 10


def test_csv_over_the_byte_limit_is_refused_one_chunk_after_it():
    upload = EndlessUpload(HEADER, b"\n")
    with pytest.raises(DataError, match=r"^<uploaded file>: more than 2 MB; a CSV may hold at most 2 MB$"):
        load_kaggle_csv(upload, max_bytes=2_000_000)
    assert 2_000_000 < upload.delivered <= 2_000_000 + READ_CHUNK_BYTES


def test_a_gzip_bomb_csv_is_refused_without_being_inflated(inflated):
    bomb = gzip.compress(HEADER + b"\n" * 64_000_000, compresslevel=9)  # 64 MB of blank lines in ~60 KB
    assert len(bomb) < 100_000
    with pytest.raises(DataError, match=r"^train.csv.gz: more than 1 MB once decompressed; a CSV may hold "
                                        r"at most 1 MB$"):
        load_kaggle_csv(named(bomb, "train.csv.gz"), max_bytes=1_000_000)
    assert 1_000_000 < inflated["bytes"] <= 1_000_000 + READ_CHUNK_BYTES


def test_a_gzip_csv_of_a_million_rows_stops_at_the_default_row_limit(inflated):
    bomb = gzip.compress(HEADER + ZERO_ROW * 150_000, compresslevel=1)
    with pytest.raises(DataError, match=f"more than {MAX_CSV_ROWS:,} rows"):
        load_kaggle_csv(io.BytesIO(bomb))
    assert inflated["bytes"] <= len(HEADER) + (MAX_CSV_ROWS + 1) * len(ZERO_ROW) + 2 * READ_CHUNK_BYTES


def test_load_data_can_lift_the_limits(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(csv_bytes([good_row()] * 3))
    assert load_data(str(path), limits=False).n_samples == 3


def named(content: bytes, name: str) -> io.BytesIO:
    stream = io.BytesIO(content)
    stream.name = name
    return stream


# ---------------------------------------------------------------------------
# IDX
# ---------------------------------------------------------------------------


def test_an_idx_header_promising_too_many_images_is_refused_before_allocating(monkeypatch):
    header_only = (0x803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (1_000_000, 28, 28))

    def no_allocation(*args, **kwargs):
        raise AssertionError("allocated an array for a refused file")

    monkeypatch.setattr(np, "empty", no_allocation)
    with pytest.raises(DataError, match=r"^images.gz: the header promises 1,000,000 images; an IDX file may "
                                        r"have at most 150,000 images$"):
        load_idx(named(gzip.compress(header_only + bytes(1000)), "images.gz"))
    labels_header = (0x801).to_bytes(4, "big") + (200_000).to_bytes(4, "big")
    with pytest.raises(DataError, match="the header promises 200,000 labels; an IDX file may have at most "
                                        "150,000 labels"):
        load_idx(io.BytesIO(labels_header))


def test_idx_byte_limit_and_limits_switched_off(small_images, small_labels):
    content = idx_bytes(small_images)  # 12 images: 16 + 9,408 bytes
    with pytest.raises(DataError, match="the header promises 9,424 bytes; an IDX file may have at most 9,000 bytes"):
        load_idx(io.BytesIO(content), max_bytes=9000)
    with pytest.raises(DataError, match="the header promises 12 images; an IDX file may have at most 11 images"):
        load_idx_pair(io.BytesIO(content), io.BytesIO(idx_bytes(small_labels)), name="x", max_images=11)
    dataset = load_idx_pair(io.BytesIO(content), io.BytesIO(idx_bytes(small_labels)), name="x", max_images=None,
                            max_bytes=None)
    assert np.array_equal(dataset.images, small_images.reshape(12, 784))


def test_gigabytes_of_trailing_zeros_after_an_idx_payload_are_never_inflated(small_images, inflated):
    payload = idx_bytes(small_images)
    bomb = gzip.compress(payload + bytes(64_000_000), compresslevel=9)
    with pytest.raises(DataError, match=f"expected 9408 bytes of pixels, found more than {9408 + READ_CHUNK_BYTES} "
                                        r"\(trailing data\)"):
        load_idx(io.BytesIO(bomb))
    assert inflated["bytes"] <= len(payload) + 2 * READ_CHUNK_BYTES


# ---------------------------------------------------------------------------
# EMNIST: uploads, folders and the zip
# ---------------------------------------------------------------------------


LETTERS_MAPPING = "".join(f"{k + 1} {65 + k} {97 + k}\n" for k in range(26)).encode()


def emnist_archive(mapping: bytes, images_member: bytes | None = None, n: int = 26) -> bytes:
    """A gzip.zip holding EMNIST letters' training part (``n`` blank letters) and ``mapping``."""
    images = images_member if images_member is not None else gzip.compress(idx_bytes(np.zeros((n, 28, 28),
                                                                                              np.uint8)))
    labels = gzip.compress(idx_bytes(np.arange(1, n + 1, dtype=np.uint8) % 26 + 1))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("gzip/emnist-letters-train-images-idx3-ubyte.gz", images)
        archive.writestr("gzip/emnist-letters-train-labels-idx1-ubyte.gz", labels)
        archive.writestr("gzip/emnist-letters-mapping.txt", mapping)
    return buffer.getvalue()


def test_a_zip_whose_mapping_file_is_a_bomb_is_refused(tmp_path):
    path = tmp_path / "gzip.zip"
    path.write_bytes(emnist_archive(b" " * 50_000_000))
    assert path.stat().st_size < 200_000
    with pytest.raises(DataError, match=r"^emnist-letters-mapping.txt: more than 64 KB; an EMNIST mapping file "
                                        r"may hold at most 64 KB$"):
        load_emnist("letters", path)
    folder = tmp_path / "folder"
    folder.mkdir()
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            (folder / member.removeprefix("gzip/")).write_bytes(archive.read(member))
    with pytest.raises(DataError, match="emnist-letters-mapping.txt: more than 64 KB"):
        load_emnist("letters", folder)


def test_a_zip_member_with_trailing_gigabytes_is_refused_and_the_limits_apply_to_the_zip(tmp_path):
    images = idx_bytes(np.zeros((26, 28, 28), np.uint8))
    path = tmp_path / "gzip.zip"
    path.write_bytes(emnist_archive(LETTERS_MAPPING, gzip.compress(images + bytes(50_000_000))))
    with pytest.raises(DataError, match="emnist-letters-train-images-idx3-ubyte.gz: expected 20384 bytes of "
                                        "pixels, found more than"):
        load_emnist("letters", path)
    path.write_bytes(emnist_archive(LETTERS_MAPPING))
    assert load_emnist("letters", path).n_samples == 26
    with pytest.raises(DataError, match="the header promises 26 images; an IDX file may have at most 25 images"):
        load_emnist("letters", path, max_images=25)


def test_an_uploaded_emnist_pair_has_the_upload_limit():
    header = (0x803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (MAX_IDX_IMAGES + 1, 28, 28))
    labels = idx_bytes(np.ones(3, np.uint8))
    with pytest.raises(DataError, match=f"the header promises {MAX_IDX_IMAGES + 1:,} images"):
        emnist_dataset(io.BytesIO(header), io.BytesIO(labels), "letters", name="upload")
