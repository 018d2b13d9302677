"""Peak memory of loading uploads, measured in a fresh process: a gzipped CSV of a million
rows, a gzipped IDX pair of a million images and a zip whose mapping file unpacks to 100 MB
(each about 1-3 MB to upload) are refused with little memory spent, and legitimate files cost
about their pixels."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent('''
    import gzip, io, json, sys, zipfile
    import numpy, pandas  # noqa: F401  (their import is not the upload's memory)
    from datasets import load_idx_pair, load_kaggle_csv
    from datasets.emnist import load_emnist
    from nn.errors import DataError

    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

    def idx_header(magic, *shape):
        return magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in shape)

    # Concatenated gzip members: a million rows (1.57 GB of text) from one compressed block.
    header = ("label," + ",".join(f"pixel{i}" for i in range(784)) + "\\n").encode()
    rows = gzip.compress(("3" + ",0" * 784 + "\\n").encode() * 1000)
    csv_bomb = gzip.compress(header) + rows * 1000
    images_bomb = gzip.compress(idx_header(0x803, 1_000_000, 28, 28)) + gzip.compress(bytes(784_000)) * 1000
    labels_bomb = gzip.compress(idx_header(0x801, 1_000_000) + bytes(range(10)) * 100_000)
    with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("gzip/emnist-letters-train-images-idx3-ubyte.gz",
                         gzip.compress(idx_header(0x803, 3, 28, 28) + bytes(3 * 784)))
        archive.writestr("gzip/emnist-letters-train-labels-idx1-ubyte.gz",
                         gzip.compress(idx_header(0x801, 3) + bytes([1, 2, 3])))
        archive.writestr("gzip/emnist-letters-mapping.txt", b" " * 100_000_000)
    # Legitimate: Kaggle train.csv's size (42,000 rows, plain) and full MNIST's training pair.
    kaggle_train = header + ("3" + ",0" * 390 + ",255" * 394 + "\\n").encode() * 42_000
    mnist_images = gzip.compress(idx_header(0x803, 60_000, 28, 28)) + gzip.compress(bytes(784_000)) * 60
    mnist_labels = gzip.compress(idx_header(0x801, 60_000) + bytes(range(10)) * 6_000)
    loads = {
        "kaggle": lambda: load_kaggle_csv(io.BytesIO(kaggle_train)),
        "mnist": lambda: load_idx_pair(io.BytesIO(mnist_images), io.BytesIO(mnist_labels), name="mnist"),
        "csv": lambda: load_kaggle_csv(io.BytesIO(csv_bomb)),
        "idx": lambda: load_idx_pair(io.BytesIO(images_bomb), io.BytesIO(labels_bomb), name="upload"),
        "zip": lambda: load_emnist("letters", sys.argv[1]),
    }
    results = {"sizes": [len(csv_bomb), len(images_bomb), len(labels_bomb)]}
    for name, load in loads.items():
        baseline = status("VmRSS")
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # the high-water mark starts again from here
        try:
            dataset = load()
            message = f"{dataset.n_samples} images"
        except DataError as error:
            message = str(error)
        results[name] = {"peak": status("VmHWM") - baseline, "message": message}
        dataset = None
    print(json.dumps(results))
''')


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """The child's results: {case: {"peak": bytes, "message": str}, "sizes": [...]}."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs")
    archive = tmp_path_factory.mktemp("memory") / "gzip.zip"
    done = subprocess.run([sys.executable, "-c", CHILD, str(archive)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_hostile_uploads_are_refused_within_a_small_peak_of_memory(measured):
    results = measured
    assert all(size < 3_000_000 for size in results["sizes"])  # small to upload
    assert results["csv"]["message"] == ("<uploaded file>: more than 100,000 rows; a CSV may have at most "
                                         "100,000 rows")
    assert results["idx"]["message"] == ("<uploaded file>: the header promises 1,000,000 images; an IDX file "
                                         "may have at most 150,000 images")
    assert results["zip"]["message"] == ("emnist-letters-mapping.txt: more than 64 KB; an EMNIST mapping file "
                                         "may hold at most 64 KB")
    # Generous bounds: the CSV keeps 100,000 rows of pixels (78 MB) until the row after them;
    # the others stop at their header.
    assert results["csv"]["peak"] < 200e6
    assert results["idx"]["peak"] < 50e6
    assert results["zip"]["peak"] < 50e6


def test_legitimate_files_cost_little_more_than_their_pixels(measured):
    """42,000 CSV rows are 33 MB of pixels, 60,000 IDX images 47 MB: the loaders add blocks
    of a few MB, not a second copy of everything."""
    results = measured
    assert results["kaggle"]["message"] == "42000 images" and results["mnist"]["message"] == "60000 images"
    assert results["kaggle"]["peak"] < 33e6 + 30e6
    assert results["mnist"]["peak"] < 47e6 + 15e6
