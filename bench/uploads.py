"""Hostile and legitimate uploads: time, peak memory and what a neighbouring training thread feels.

``python -m bench.uploads [--code DIR] [--cases NAME ...] [--neighbour] [--timeout 600]``

Each case runs in a fresh Python process whose ``datasets`` package comes from ``--code``
(default: this checkout; give an older checkout, e.g. from ``git archive``, to measure
before a change). The child reads the input's bytes into memory first, as the app holds an
upload, then loads it the way the app does (``io.BytesIO`` of the bytes) and prints one JSON
line: wall and CPU seconds, the peak resident memory above the state just before loading
(``/proc/self/clear_refs`` resets the high-water mark, so imports and the input's own bytes
do not count), the memory still held afterwards, and the outcome (the images loaded or the
DataError's message).

``--neighbour`` also runs a small training loop (784-128-10, batches of 64, NumPy, one BLAS
thread) in another thread of the same process, as another session's run on the same server: its steps
per second while the upload is parsed, against the same loop alone for a second before,
and the longest gap a thread sleeping 1 ms at a time saw (a long gap means something held
the GIL, or the machine was busy). The machine is shared: run it a few times.

The inputs are generated once into ``--work`` (default a folder in the temporary directory):
about 40 MB of files, from up to 2 GB of zeros and blank lines that compress to almost nothing.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEADER = ("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n").encode()
ZERO_ROW = ("3" + ",0" * 784 + "\n").encode()
MB = 10**6

# name -> (what it is, how the child loads it)
CASES = {
    "csv_1m_rows_gz": ("gzipped CSV, 1,000,000 rows of zeros (1.57 GB of text)", "csv"),
    "csv_blank_2gb_gz": ("gzipped CSV, a header then 2 GB of blank lines", "csv"),
    "csv_blank_bad_last": ("CSV, 10,000,000 blank lines then one bad row (10 MB)", "csv"),
    "idx_1m_images_gz": ("gzipped IDX pair, 1,000,000 images of zeros", "idx"),
    "idx_trailing_1gb_gz": ("gzipped IDX images, 100 images then 1 GB of trailing zeros", "idx"),
    "zip_mapping_512mb": ("EMNIST gzip.zip whose mapping file is 512 MB of spaces", "zip"),
    "zip_idx_trailing_2gb": ("EMNIST gzip.zip whose images member has 2 GB of trailing zeros", "zip"),
    "kaggle_train_42k": ("legitimate: a 42,000-row train.csv (MNIST test digits repeated)", "csv"),
    "kaggle_train_42k_floats": ("legitimate: the same written as '0.0,255.0,...' (pandas' path)", "csv"),
    "mnist_60k_idx_gz": ("legitimate: a 60,000-image gzipped IDX pair (MNIST test digits x 6)", "idx"),
}


# -- inputs ----------------------------------------------------------------------------------
def _idx_header(magic: int, *shape: int) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in shape)


def _write_repeated(file, block: bytes, total: int) -> None:
    for _ in range(total // len(block)):
        file.write(block)
    file.write(block[: total % len(block)])


def _labels(n: int) -> bytes:
    return bytes(i % 10 for i in range(n))


def _mnist_test_set():
    sys.path.insert(0, str(REPO))
    from datasets import load_mnist_test_set

    return load_mnist_test_set()


def make_input(name: str, work: Path) -> list[Path]:
    """The files of case ``name`` (made once, then reused)."""
    paths = {"idx_1m_images_gz": ["images.gz", "labels.gz"], "idx_trailing_1gb_gz": ["images.gz", "labels.gz"],
             "mnist_60k_idx_gz": ["images.gz", "labels.gz"]}.get(name, ["data"])
    files = [work / f"{name}.{part}" for part in paths]
    if all(path.is_file() for path in files):
        return files
    if name == "csv_1m_rows_gz":
        with gzip.open(files[0], "wb", compresslevel=9) as out:
            out.write(HEADER)
            _write_repeated(out, ZERO_ROW * 1000, len(ZERO_ROW) * 1_000_000)
    elif name == "csv_blank_2gb_gz":
        with gzip.open(files[0], "wb", compresslevel=9) as out:
            out.write(HEADER)
            _write_repeated(out, b"\n" * MB, 2000 * MB)
    elif name == "csv_blank_bad_last":
        files[0].write_bytes(HEADER + b"\n" * 10_000_000 + ("3,x" + ",0" * 783 + "\n").encode())
    elif name in ("idx_1m_images_gz", "idx_trailing_1gb_gz"):
        n = 1_000_000 if name == "idx_1m_images_gz" else 100
        with gzip.open(files[0], "wb", compresslevel=9) as out:
            out.write(_idx_header(0x803, n, 28, 28))
            _write_repeated(out, bytes(MB), n * 784 + (1000 * MB if n == 100 else 0))
        files[1].write_bytes(gzip.compress(_idx_header(0x801, n) + _labels(n)))
    elif name.startswith("zip_"):
        _make_emnist_zip(files[0], mapping_bomb=name == "zip_mapping_512mb")
    elif name == "kaggle_train_42k":
        test = _mnist_test_set()
        table = [[int(label), *row] for label, row in zip(test.labels, test.images.tolist())]
        text = "".join(",".join(map(str, row)) + "\n" for row in table).encode()
        lines = text.splitlines(keepends=True)
        files[0].write_bytes(HEADER + text * 4 + b"".join(lines[:2000]))
    elif name == "kaggle_train_42k_floats":
        plain = make_input("kaggle_train_42k", work)[0].read_bytes()
        header, _, body = plain.partition(b"\n")
        files[0].write_bytes(header + b"\n" + body.replace(b",", b".0,").replace(b"\n", b".0\n"))
    elif name == "mnist_60k_idx_gz":
        test = _mnist_test_set()
        files[0].write_bytes(gzip.compress(_idx_header(0x803, 60_000, 28, 28) + test.images.tobytes() * 6))
        files[1].write_bytes(gzip.compress(_idx_header(0x801, 60_000) + test.labels.tobytes() * 6))
    return files


def _make_emnist_zip(path: Path, mapping_bomb: bool) -> None:
    stem = "gzip/emnist-letters-train"
    n = 100
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(f"{stem}-labels-idx1-ubyte.gz",
                         gzip.compress(_idx_header(0x801, n) + bytes(1 + i % 26 for i in range(n))))
        if mapping_bomb:
            archive.writestr(f"{stem}-images-idx3-ubyte.gz", gzip.compress(_idx_header(0x803, n, 28, 28)
                                                                            + bytes(n * 784)))
            with archive.open("gzip/emnist-letters-mapping.txt", "w", force_zip64=True) as member:
                _write_repeated(member, b" " * MB, 512 * MB)
        else:
            with archive.open(f"{stem}-images-idx3-ubyte", "w", force_zip64=True) as member:
                member.write(_idx_header(0x803, n, 28, 28))
                _write_repeated(member, bytes(MB), n * 784 + 2000 * MB)


# -- the child: one load, measured -----------------------------------------------------------
def _status(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(field)


class Neighbour:
    """Another session's training in a thread: steps per second, and a 1 ms sleeper's gaps."""

    def __init__(self):
        import numpy as np

        rng = np.random.default_rng(0)
        self.np = np
        self.weights = [rng.normal(0, 0.05, (784, 128)).astype(np.float32),
                        rng.normal(0, 0.05, (128, 10)).astype(np.float32)]
        self.batch = rng.random((64, 784), dtype=np.float32)
        self.steps, self.gaps, self.stop = [], [], threading.Event()

    def step(self) -> None:
        np = self.np
        w1, w2 = self.weights
        hidden = np.maximum(self.batch @ w1, 0)
        scores = hidden @ w2
        grad_scores = (scores - scores.mean(axis=1, keepdims=True)) / 64
        grad_hidden = (grad_scores @ w2.T) * (hidden > 0)
        w2 -= 0.01 * (hidden.T @ grad_scores)
        w1 -= 0.01 * (self.batch.T @ grad_hidden)

    def train(self) -> None:
        while not self.stop.is_set():
            self.step()
            self.steps.append(time.perf_counter())

    def sleep(self) -> None:
        last = time.perf_counter()
        while not self.stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            self.gaps.append((now, now - last))
            last = now

    def start(self) -> None:
        self.threads = [threading.Thread(target=self.train, daemon=True),
                        threading.Thread(target=self.sleep, daemon=True)]
        for thread in self.threads:
            thread.start()

    def stats(self, started: float, now: float) -> dict:
        """Steps per second and the longest sleeper gap in the second before ``started`` and since."""
        return {"neighbour_steps_alone": self.rate(started - 1.0, started),
                "neighbour_steps_during": self.rate(started, now),
                "neighbour_max_gap_alone_ms": self.max_gap_ms(started - 1.0, started),
                "neighbour_max_gap_ms": self.max_gap_ms(started, now)}

    def report_every(self, seconds: float, started: float) -> None:
        while not self.stop.wait(seconds):
            now = time.perf_counter()
            print(json.dumps({"partial_seconds": now - started, **self.stats(started, now)}), flush=True)

    def rate(self, start: float, end: float) -> float:
        return sum(start <= t < end for t in self.steps) / max(end - start, 1e-9)

    def max_gap_ms(self, start: float, end: float) -> float:
        return 1000 * max((gap for t, gap in self.gaps if start <= t < end), default=0.0)


def child(code: str, kind: str, files: list[str], neighbour: bool) -> None:
    sys.path.insert(0, code)
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    from nn.errors import DataError

    raws = [Path(path).read_bytes() for path in files]
    if kind == "csv":
        from datasets import load_kaggle_csv

        def load():
            return load_kaggle_csv(io.BytesIO(raws[0]))
    elif kind == "idx":
        from datasets import load_idx_pair

        def load():
            return load_idx_pair(io.BytesIO(raws[0]), io.BytesIO(raws[1]), name="upload")
    else:
        from datasets.emnist import load_emnist

        def load():
            return load_emnist("letters", files[0], "train")

    helper = Neighbour() if neighbour else None
    if helper:
        try:  # one BLAS thread, so the neighbour and the parser each have a core of the two
            from threadpoolctl import threadpool_limits

            threadpool_limits(1)
        except ImportError:
            pass
        helper.start()
        time.sleep(1.0)
    before = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset VmHWM to the current RSS
    started, cpu_started = time.perf_counter(), time.process_time()
    if helper:  # what the neighbour saw so far, every 5 s, in case the parent stops us
        threading.Thread(target=helper.report_every, args=(5.0, started), daemon=True).start()
    try:
        dataset = load()
        outcome = f"loaded {dataset.images.shape[0]:,} images"
    except DataError as error:
        dataset, outcome = None, f"DataError: {error}"
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    result = {"seconds": seconds, "cpu_seconds": cpu, "peak_mb": (_status("VmHWM") - before) / MB,
              "kept_mb": (_status("VmRSS") - before) / MB, "outcome": outcome[:160]}
    if helper:
        ended = time.perf_counter()
        helper.stop.set()
        result.update(helper.stats(started, ended))
    del dataset
    print(json.dumps(result), flush=True)


# -- the parent ------------------------------------------------------------------------------
def run_case(name: str, code: Path, work: Path, neighbour: bool, timeout: float) -> dict:
    files = make_input(name, work)
    kind = CASES[name][1]
    command = [sys.executable, __file__, "--child", str(code), kind, *map(str, files)]
    if neighbour:
        command.append("--neighbour")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired as stopped:
        result = {"outcome": f"still running after {timeout:.0f} s (stopped)"}
        partial = (stopped.stdout or b"").decode().strip().splitlines()
        if partial:
            result.update(json.loads(partial[-1]))
        return result
    if done.returncode != 0:
        return {"outcome": f"child failed: {done.stderr.strip().splitlines()[-1:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose datasets/ is measured")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "digit-lab-bench-uploads")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--neighbour", action="store_true", help="also measure a training thread beside it")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a case is stopped")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"# Uploads benchmark: datasets/ from {args.code}; load average {os.getloadavg()[0]:.1f}")
    print("| case | seconds (CPU) | peak MB | kept MB | outcome |" + (" neighbour steps/s alone -> during,"
                                                                      " max gap ms |" if args.neighbour else ""))
    print("|---|---|---|---|---|" + ("---|" if args.neighbour else ""))
    for name in args.cases:
        result = run_case(name, args.code.resolve(), args.work, args.neighbour, args.timeout)
        if "seconds" not in result:
            row = f"| {name} | | | | {result['outcome']} |"
            if "partial_seconds" in result:
                row += (f" {result['neighbour_steps_alone']:.0f} -> {result['neighbour_steps_during']:.0f}, "
                        f"{result['neighbour_max_gap_alone_ms']:.0f} -> {result['neighbour_max_gap_ms']:.0f} "
                        f"(first {result['partial_seconds']:.0f} s) |")
            print(row, flush=True)
            continue
        row = (f"| {name} | {result['seconds']:.2f} ({result['cpu_seconds']:.2f}) | {result['peak_mb']:.0f} | "
               f"{result['kept_mb']:.0f} | {result['outcome']} |")
        if args.neighbour:
            row += (f" {result['neighbour_steps_alone']:.0f} -> {result['neighbour_steps_during']:.0f}, "
                    f"{result['neighbour_max_gap_alone_ms']:.0f} -> {result['neighbour_max_gap_ms']:.0f} |")
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], [a for a in sys.argv[4:] if a != "--neighbour"], "--neighbour" in sys.argv)
    else:
        sys.exit(main())
