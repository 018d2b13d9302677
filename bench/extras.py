"""The two goals that are not epoch times: peak memory and time to 90% accuracy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


# -- peak memory of training on a Kaggle CSV ---------------------------------------
def write_kaggle_csv(path: Path, images: np.ndarray, labels: np.ndarray, rows: int) -> None:
    """A Kaggle ``train.csv`` of ``rows`` rows, the given images repeated as needed.

    The text of one pass over ``images`` is formatted once and written repeatedly.
    """
    header = "label," + ",".join(f"pixel{i}" for i in range(images.shape[1])) + "\n"
    table = np.column_stack([labels, images]).astype(np.int64)
    block = "".join(",".join(map(str, row)) + "\n" for row in table.tolist())
    lines = block.splitlines(keepends=True)
    with open(path, "w") as handle:
        handle.write(header)
        whole, rest = divmod(rows, len(lines))
        for _ in range(whole):
            handle.write(block)
        handle.write("".join(lines[:rest]))


def _memory_bytes(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process, from /proc/self/status.

    (Not getrusage's ru_maxrss: on Linux a child started by fork/vfork + exec inherits the
    parent's peak there, so a big parent would inflate the child's number.)
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def memory_child(csv_path: str) -> None:
    """Run in a fresh process: load the CSV, train one epoch as ``train.py`` does, and
    print peak RSS above the state after imports, and the process's absolute peak (JSON)."""
    from datasets import load_kaggle_csv, stratified_split
    from nn.training import TrainConfig, build_network, evaluate, train

    baseline = _memory_bytes("VmRSS")
    dataset = load_kaggle_csv(csv_path)
    after_load = _memory_bytes("VmHWM")
    config = TrainConfig(epochs=1, snapshot_every=0)  # train.py's default: full batch, 784-10-10
    train_idx, val_idx = stratified_split(dataset.labels, config.validation_fraction, config.seed)
    x, y = dataset.images[train_idx], dataset.labels[train_idx]
    xv, yv = dataset.images[val_idx], dataset.labels[val_idx]
    network = build_network(config)
    train(network, x, y, config, validation=(xv, yv))
    evaluate(network, x, y)
    peak = _memory_bytes("VmHWM")
    print(json.dumps({"rows": len(dataset.labels), "load_peak": after_load - baseline,
                      "peak": peak - baseline, "process_peak": peak}))


def peak_memory(images: np.ndarray, labels: np.ndarray, rows: int) -> dict:
    """Peak extra memory (bytes) of loading a ``rows``-row Kaggle CSV and training one
    epoch on it, measured as RSS in a fresh Python process."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.csv"
        write_kaggle_csv(path, images, labels, rows)
        code = f"from bench.extras import memory_child; memory_child({str(path)!r})"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                                           os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["file_bytes"] = path.stat().st_size
        return result


# -- time to 90% on the real test set ------------------------------------------------
TIME_TO_ACCURACY_CONFIG = dict(hidden_sizes=(128,), optimizer="adam", learning_rate=0.003,
                               batch_size=128, epochs=20, validation_fraction=0.0,
                               snapshot_every=0)


def time_to_accuracy(test_images, test_labels, target=0.90, check_every=10) -> dict:
    """Seconds from loading the bundled data to the first check at which the network's
    accuracy on the test set is >= ``target``.

    Loading (``load_bundled``, cache cleared) and training are timed; the checks every
    ``check_every`` steps are not (the clock is paused while they run).
    """
    from datasets import load_bundled
    from nn.training import TrainConfig, build_network, evaluate, train

    load_bundled.cache_clear()
    start = time.perf_counter()
    data = load_bundled()
    loaded = time.perf_counter()
    config = TrainConfig(**TIME_TO_ACCURACY_CONFIG)
    network = build_network(config)
    paused = 0.0
    reached = {}

    def check(progress) -> None:
        nonlocal paused
        if reached or progress.step % check_every:
            return
        now = time.perf_counter()
        accuracy = evaluate(network, test_images, test_labels)[1]
        if accuracy >= target:
            reached.update(seconds=now - start - paused, step=progress.step, epoch=progress.epoch,
                           accuracy=accuracy)
        paused += time.perf_counter() - now

    train(network, data.images, data.labels, config, progress=check, progress_interval=0,
          stop=lambda: bool(reached))
    return {"load_seconds": loaded - start, **reached}
