"""What saving a lab costs: checkpoints while a job trains, the finished run, the bytes a lab
takes in the database.

``python -m bench.lab_writes [--database URL] [--rounds 5]`` (default: a temporary SQLite file)

Trains the same runs on the bundled data with and without the lab store recording them
(one BLAS thread, rounds interleaved, medians), as the app's jobs do:

- the default run (784-128-10, Adam, batch 128, 15 epochs, ~1 s);
- a longer one (784-128-10, batch 32, 60 epochs) with the default checkpoint interval
  (``$DIGIT_LAB_CHECKPOINT_SECONDS``, 2 s) and with none (every epoch the 5% rule allows);
- one write of the largest network the Train page makes (784-512-512-512-512-10).

Prints the checkpoints per run, the cost of one and the share of the run's time the training
thread spent writing them (the slowdown they cause: it does nothing else meanwhile), the
wall time per run with and without (noisy on a shared machine), the final write, and the
database bytes of a lab with five default runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from lab import lab_records, storage
from lab.jobs import TrainingJob
from lab.lab_store import LabStore, new_lab_id
from nn.training import TrainConfig, build_network


def _data():
    from datasets import load_bundled
    from lab.data import make_split

    return make_split(load_bundled(), 0.1, "bundled")


def _job(data, config: TrainConfig) -> TrainingJob:
    return TrainingJob(config, data.train_images, data.train_labels,
                       validation=(data.validation_images, data.validation_labels))


def _timed_run(data, config, store: LabStore | None, lab: str | None) -> tuple[float, object]:
    job = _job(data, config)
    started = store.start_run(lab, job, dataset="bundled") if store is not None else None
    began = time.perf_counter()
    job.start()
    job.join()
    return time.perf_counter() - began, started


def measure(config: TrainConfig, url: str, rounds: int, checkpoint_seconds: float | None, data) -> dict:
    """Median seconds per run without and with recording; checkpoints per run and their cost."""
    store = LabStore(url=url, checkpoint_seconds=checkpoint_seconds)
    lab = new_lab_id()
    plain, recorded, counts, costs, shares = [], [], [], [], []
    _timed_run(data, config, None, None)  # warm up (imports, caches)
    for _ in range(rounds):
        plain.append(_timed_run(data, config, None, None)[0])
        seconds, started = _timed_run(data, config, store, lab)
        recorded.append(seconds)
        counts.append(started.checkpoints.count)
        shares.append(started.checkpoints.seconds / seconds)  # time the training thread spent saving
        if started.checkpoints.count:
            costs.append(started.checkpoints.seconds / started.checkpoints.count)
    without, with_ = statistics.median(plain), statistics.median(recorded)
    return {"without": without, "with": with_, "slowdown": with_ / without - 1,
            "checkpoints": statistics.median(counts), "share": statistics.median(shares),
            "checkpoint_ms": 1000 * statistics.median(costs) if costs else None,
            "interval": store.checkpoint_seconds}


def final_write_ms(url: str, hidden: tuple[int, ...], rounds: int = 3) -> tuple[float, int]:
    """(median ms, bytes) of writing one finished run of this shape (serialising included)."""
    from lab.model_files import UPLOADED
    from lab.runs import Run
    from nn.training import History

    store, times = LabStore(url=url), []
    config = TrainConfig(hidden_sizes=hidden, epochs=1)
    network = build_network(config)
    for _ in range(rounds):
        run = Run(1, config, UPLOADED, "", network, History(epoch=[1], train_loss=[1.0]), "x", 0.0)
        began = time.perf_counter()
        store.add_run(new_lab_id(), run)
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times), len(lab_records.weights_bytes(network))


def lab_bytes(url: str, data, runs: int = 5) -> int:
    """Bytes in the database of a lab with ``runs`` default runs (weights, curves, settings)."""
    from sqlalchemy import func, select

    from lab.schema import lab_runs, labs

    store, lab = LabStore(url=url), new_lab_id()
    store.save_settings(lab, {"epochs": 15, "width": 128})
    config = TrainConfig(hidden_sizes=(128,), optimizer="adam", learning_rate=1e-3, epochs=15, batch_size=128)
    for _ in range(runs):
        _timed_run(data, config, store, lab)
    key = lab_records.lab_key(lab)
    run_columns = [lab_runs.c[name] for name in ("weights", "history", "config", "message", "dataset", "class_names")]
    with storage.database(url).read() as connection:
        in_runs = connection.scalar(select(func.sum(sum((func.coalesce(func.length(c), 0) for c in run_columns[1:]),
                                                        func.coalesce(func.length(run_columns[0]), 0))))
                                    .where(lab_runs.c.lab_key == key))
        in_lab = connection.scalar(select(func.length(labs.c.settings) + func.length(labs.c.dataset))
                                   .where(labs.c.lab_key == key))
    return int(in_runs or 0) + int(in_lab or 0)


def main(argv=None) -> int:
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(prog="python -m bench.lab_writes", description=__doc__.split("\n")[0])
    parser.add_argument("--database", default=None, help="a database URL (default: a temporary SQLite file)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    threadpool_limits(1)  # as the server: one BLAS thread per job
    url = args.database or f"sqlite:///{tempfile.mkdtemp(prefix='digit-lab-writes-')}/labs.sqlite3"
    data = _data()
    backend = storage.database_url(url).get_backend_name()
    print(f"Lab writes on {backend} ({args.rounds} rounds, medians, 1 BLAS thread)")
    default = TrainConfig(hidden_sizes=(128,), optimizer="adam", learning_rate=1e-3, epochs=15, batch_size=128)
    longer = TrainConfig(hidden_sizes=(128,), optimizer="adam", learning_rate=1e-3, epochs=60, batch_size=32)
    for name, config, interval in (("default run, 15 epochs", default, None),
                                   ("60 epochs, batch 32", longer, None),
                                   ("60 epochs, batch 32, no interval", longer, 0.0)):
        r = measure(config, url, args.rounds, interval, data)
        cost = "-" if r["checkpoint_ms"] is None else f"{r['checkpoint_ms']:.1f} ms each"
        print(f"  {name:34s} {r['checkpoints']:g} checkpoints per run ({cost}; interval {r['interval']:g} s): "
              f"{100 * r['share']:.1f}% of the run; wall {r['without']:.2f} s -> {r['with']:.2f} s "
              f"({100 * r['slowdown']:+.1f}%)")
    for hidden in ((128,), (512, 512, 512, 512)):
        ms, size = final_write_ms(url, hidden)
        print(f"  one finished run written, 784-{'-'.join(map(str, hidden))}-10: {ms:.1f} ms ({size / 1e6:.2f} MB)")
    print(f"  a lab with 5 default runs: {lab_bytes(url, data) / 1e6:.2f} MB in the database")
    storage.forget(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
