"""Run every engine on every configuration, alternating, and print the tables."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from . import engines, extras


@dataclass(frozen=True)
class Case:
    """One row of the epoch-time table."""

    label: str
    layer_sizes: tuple[int, ...]
    optimizer: str
    batch_size: int | None  # None = full batch
    n: int
    threads: int
    epochs: int  # per run, the first one dropped as warm-up
    with_sklearn: bool


@dataclass(frozen=True)
class Plan:
    n_minibatch: int
    n_fullbatch: int
    rounds: int
    epochs_minibatch: int
    epochs_fullbatch: int
    csv_rows: int
    accuracy_runs: int


FULL = Plan(n_minibatch=60_000, n_fullbatch=42_000, rounds=5, epochs_minibatch=3,
            epochs_fullbatch=9, csv_rows=42_000, accuracy_runs=3)
QUICK = Plan(n_minibatch=6_000, n_fullbatch=6_000, rounds=1, epochs_minibatch=2,
             epochs_fullbatch=3, csv_rows=2_000, accuracy_runs=1)

ENGINE_COLUMNS = ("ours", "ours, no history", "PyTorch", "scikit-learn", "matmuls alone")


def make_cases(plan: Plan) -> list[Case]:
    mini = dict(layer_sizes=(784, 128, 10), batch_size=128, n=plan.n_minibatch, threads=1,
                epochs=plan.epochs_minibatch, with_sklearn=True)
    return [
        Case(f"784-128-10 SGD, batch 128, {plan.n_minibatch:,} samples, 1 thread", optimizer="sgd",
             **mini),
        Case(f"784-128-10 Adam, batch 128, {plan.n_minibatch:,} samples, 1 thread", optimizer="adam",
             **mini),
        Case(f"784-10-10 SGD, full batch, {plan.n_fullbatch:,} samples, 2 threads",
             layer_sizes=(784, 10, 10), optimizer="sgd", batch_size=None, n=plan.n_fullbatch,
             threads=2, epochs=plan.epochs_fullbatch, with_sklearn=False),
    ]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small data, one round (a smoke test)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument("--rounds", type=int, help="alternating rounds (default 5, quick 1)")
    return p.parse_args(argv)


# -- environment -----------------------------------------------------------------
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_environment(use_torch: bool, use_sklearn: bool = True) -> list[str]:
    lines = [f"machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}"]
    versions = [f"numpy {np.__version__}"]
    if use_sklearn:
        import sklearn

        versions.append(f"scikit-learn {sklearn.__version__}")
    else:
        versions.append(f"scikit-learn: not installed ({engines.SKLEARN_HINT})")
    if use_torch:
        import torch

        versions.append(f"torch {torch.__version__}")
    else:
        versions.append("torch: not installed or --no-torch (pip install torch==2.13.0)")
    lines.append("versions: " + ", ".join(versions))
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            path = pool.get("filepath", "")
            if f"numpy{os.sep}" in path or "numpy.libs" in path:
                user = "numpy"
            elif "scipy" in path:
                user = "scipy (MLPClassifier multiplies with numpy's)"
            else:
                user = "torch" if "torch" in path else "another library"
            lines.append(
                f"BLAS used by {user}: {pool.get('internal_api')} {pool.get('version')}, kernel "
                f"{pool.get('architecture', '?')}, {pool.get('num_threads')} threads by default "
                f"({os.path.basename(pool.get('filepath', ''))})"
            )
    if use_torch:
        import torch

        blas = "MKL" if torch.backends.mkl.is_available() else "its own BLAS"
        lines.append(f"BLAS used by torch: {blas} (linked in), threads set per configuration "
                     "with torch.set_num_threads")
    tuning = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                         "OMP_NUM_THREADS") if k in os.environ}
    lines.append("environment: " + (", ".join(f"{k}={v}" for k, v in tuning.items()) or
                                    "no OPENBLAS_*/OMP_* variables set"))
    return lines


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


# -- running -----------------------------------------------------------------------
def run_engine(name: str, case: Case, images, labels, float_images) -> list[float]:
    args = (images, labels, case.layer_sizes, case.optimizer, case.batch_size, case.epochs)
    with threadpool_limits(case.threads):
        if name == "ours":
            times = engines.time_ours(*args)
        elif name == "ours, no history":
            times = engines.time_ours(*args, history=False)
        elif name == "PyTorch":
            times = engines.time_torch(*args, threads=case.threads, float_images=float_images)
        elif name == "scikit-learn":
            times = engines.time_sklearn(*args, float_images=float_images)
        else:
            times = engines.time_matmuls(*args)
    return times[1:]  # the first epoch of a run is a warm-up


def measure_epochs(cases, datasets, use_torch: bool, rounds: int, say, use_sklearn: bool = True) -> dict:
    """{(case, engine): [seconds per epoch, ...]} over all rounds."""
    samples: dict = {}
    plan = []
    for case in cases:
        names = ["ours", "ours, no history", "matmuls alone"]
        if use_torch:
            names.append("PyTorch")
        if case.with_sklearn and use_sklearn:
            names.append("scikit-learn")
        plan.append((case, names))
    for round_index in range(rounds):
        say(f"  round {round_index + 1}/{rounds} (load average {load_average()})")
        for case, names in plan:
            images, labels, float_images = datasets[case.n]
            shift = round_index % len(names)  # rotate the order: no engine always goes first
            for name in names[shift:] + names[:shift]:
                if name == "matmuls alone" and case.optimizer == "adam":
                    continue  # the same products as SGD: measured once, in the SGD row
                times = run_engine(name, case, images, labels, float_images)
                samples.setdefault((case, name), []).extend(times)
                time.sleep(0.05)  # let idle BLAS/OpenMP threads stop spinning
    for case, _ in plan:  # the Adam row shows the SGD row's matmuls
        if case.optimizer == "adam":
            twin = next(c for c, _ in plan if c.layer_sizes == case.layer_sizes
                        and c.batch_size == case.batch_size and c.optimizer == "sgd")
            samples[(case, "matmuls alone")] = samples[(twin, "matmuls alone")]
    return samples


def median_ms(samples, case, name, cpu=False) -> float | None:
    """Median ms per epoch, of wall time (default) or of process CPU time."""
    values = samples.get((case, name))
    return 1000 * statistics.median(v[1 if cpu else 0] for v in values) if values else None


def format_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def ratio(a, b):
    return None if a is None or b is None else a / b


def main(argv=None) -> int:
    """A benchmark's main: its options, the engines alternated round by round, then the printed
    tables and goals; one piece so that it reads top to bottom like the report it prints."""
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    rounds = args.rounds or plan.rounds
    use_torch = not args.no_torch and engines.torch_available()

    def say(text=""):
        print(text, flush=True)

    from datasets import load_bundled, load_mnist_test_set

    started = time.perf_counter()
    say("# Digit Lab training benchmark" + (" (--quick: small data, not the official numbers)"
                                             if args.quick else ""))
    use_sklearn = engines.sklearn_available()
    for line in describe_environment(use_torch, use_sklearn):
        say(line)
    if not use_torch:
        say("PyTorch: absent (or --no-torch): its columns and ratios are skipped")
    if not use_sklearn:
        say(f"scikit-learn: absent, its columns and ratios are skipped; to compare: {engines.SKLEARN_HINT}")
    bundled = load_bundled()
    say(f"data: no full MNIST offline, so the bundled {len(bundled.labels):,} real MNIST images "
        f"are tiled to {plan.n_minibatch:,} and {plan.n_fullbatch:,} samples")
    say(f"load average at start: {load_average()}; {rounds} alternating round(s); "
        "medians of per-epoch times, first epoch of each run dropped")
    say()

    cases = make_cases(plan)
    datasets = {}
    for n in {case.n for case in cases}:
        images, labels = engines.tile_bundled(bundled.images, bundled.labels, n)
        datasets[n] = (images, labels, engines.to_float(images))
    samples = measure_epochs(cases, datasets, use_torch, rounds, say, use_sklearn)

    say()
    say("## ms per epoch (median of wall time)")
    say()
    say("| configuration | " + " | ".join(ENGINE_COLUMNS) + " |")
    say("|---|" + "---|" * len(ENGINE_COLUMNS))
    for case in cases:
        cells = [format_ms(median_ms(samples, case, name)) for name in ENGINE_COLUMNS]
        say(f"| {case.label} | " + " | ".join(cells) + " |")
    say()
    say("process CPU time, 1-thread rows (steadier than wall time when other programs run):")
    say()
    say("| configuration | " + " | ".join(ENGINE_COLUMNS) + " |")
    say("|---|" + "---|" * len(ENGINE_COLUMNS))
    for case in cases:
        if case.threads == 1:
            cells = [format_ms(median_ms(samples, case, name, cpu=True)) for name in ENGINE_COLUMNS]
            say(f"| {case.label} | " + " | ".join(cells) + " |")

    sgd, adam, full = cases
    # (goal, (case, engine) measured, (case, engine) it is divided by, target ratio)
    ratio_goals = [
        ("784-128-10 SGD: ours / PyTorch", (sgd, "ours"), (sgd, "PyTorch"), 0.70),
        ("784-128-10 Adam: ours / PyTorch", (adam, "ours"), (adam, "PyTorch"), 0.70),
        ("784-128-10 SGD: ours / scikit-learn", (sgd, "ours"), (sgd, "scikit-learn"), 0.60),
        ("784-128-10 Adam: ours / scikit-learn", (adam, "ours"), (adam, "scikit-learn"), 0.60),
        ("784-10-10 full batch: ours / PyTorch", (full, "ours"), (full, "PyTorch"), 0.85),
        ("784-128-10 SGD: ours / matmuls alone", (sgd, "ours"), (sgd, "matmuls alone"), 1.15),
        ("784-128-10 Adam: ours / matmuls alone", (adam, "ours"), (adam, "matmuls alone"), 1.15),
        ("784-10-10 full batch: ours / matmuls alone", (full, "ours"), (full, "matmuls alone"), 1.15),
        ("784-128-10: Adam / SGD (ours)", (adam, "ours"), (sgd, "ours"), 1.15),
        ("history recording, 784-128-10 SGD", (sgd, "ours"), (sgd, "ours, no history"), 1.10),
        ("history recording, 784-128-10 Adam", (adam, "ours"), (adam, "ours, no history"), 1.10),
        ("history recording, 784-10-10 full batch", (full, "ours"), (full, "ours, no history"), 1.10),
    ]
    goals = []  # (goal, measured, target, unit, measured from CPU time or None)
    for name, top, bottom, target in ratio_goals:
        wall = ratio(median_ms(samples, *top), median_ms(samples, *bottom))
        cpu = ratio(median_ms(samples, *top, cpu=True), median_ms(samples, *bottom, cpu=True)) \
            if top[0].threads == 1 else None
        goals.append((name, wall, target, "x", cpu))

    say()
    say(f"peak memory: writing a {plan.csv_rows:,}-row Kaggle train.csv (tiled bundled data) ...")
    memory = extras.peak_memory(bundled.images, bundled.labels, plan.csv_rows)
    memory_mb = memory["peak"] / 1e6
    say(f"  {memory['file_bytes'] / 1e6:.0f} MB file; RSS above the imports: "
        f"{memory['load_peak'] / 1e6:.0f} MB after load_kaggle_csv, "
        f"{memory_mb:.0f} MB peak after splitting, one epoch of train.py's default "
        f"(784-10-10, full batch) and evaluating; whole process peak {memory['process_peak'] / 1e6:.0f} MB")
    goals.append((f"peak memory, {plan.csv_rows:,}-row Kaggle CSV: load + 1 epoch (MB)", memory_mb,
                  400, "MB", None))

    test = load_mnist_test_set()
    config = extras.TIME_TO_ACCURACY_CONFIG
    say(f"time to 90% on the real test set ({len(test.labels):,} images), training on the "
        f"bundled data: 784-{config['hidden_sizes'][0]}-10, {config['optimizer']} "
        f"lr {config['learning_rate']}, batch {config['batch_size']}, 1 thread; "
        "load + training, test checks every 10 steps not counted")
    runs = []
    for _ in range(plan.accuracy_runs):
        with threadpool_limits(1):
            runs.append(extras.time_to_accuracy(test.images, test.labels))
    reached = [r for r in runs if "seconds" in r]
    for r in runs:
        if "seconds" in r:
            say(f"  {r['seconds']:.3f} s (of which loading {r['load_seconds']:.3f} s): "
                f"{r['accuracy']:.2%} after {r['step']} steps ({r['epoch']:.2f} epochs)")
        else:
            say("  never reached 90%")
    seconds = statistics.median(r["seconds"] for r in reached) if len(reached) == len(runs) \
        else None
    goals.append(("time to >= 90% on the real test set (s)", seconds, 1.0, "s", None))

    say()
    say("## goals (ratios measured in this run)")
    say()
    say("| goal | measured | target | result | from CPU time |")
    say("|---|---|---|---|---|")
    for name, value, target, unit, cpu in goals:
        if value is None:
            measured, result = "n/a", "SKIP"
        else:
            measured = f"{value:.2f}" if unit == "x" else (f"{value:.0f}" if unit == "MB" else
                                                          f"{value:.3f}")
            result = "PASS" if value <= target else "FAIL"
        target_text = f"<= {target:.2f}" if unit == "x" else f"<= {target:g} {unit}"
        cpu_text = "—" if cpu is None else f"{cpu:.2f} {'PASS' if cpu <= target else 'FAIL'}"
        say(f"| {name} | {measured} | {target_text} | {result} | {cpu_text} |")
    say()
    say(f"load average at end: {load_average()}; the benchmark took "
        f"{time.perf_counter() - started:.0f} s. Timings on a shared machine are noisy: rerun when "
        "it is quiet, and compare ratios, not absolute times.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
