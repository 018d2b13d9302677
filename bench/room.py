"""``python -m bench.room [--entries N] [--rounds R] [--writers W] [--url URL]``: the room, measured.

1. The room map at N leaderboard entries (default 2,000, the board's bound): reading every
   entry from the database, turning them into columns (``lab.room.room_points``), building
   the two figures (``ui.figures.room``) and serialising them as ``st.plotly_chart`` does
   (its size is the payload of one refresh). The median and the
   worst of R rounds. Also the cost of a refresh when nothing changed (the version check).
2. The room's handwriting with W writers at once (default 20): each thread, with its own
   handle (its own pool, as separate server processes have), adds 5 drawings; every add is
   one exclusive transaction. Wall time, the median and p95 time of one add, and a check
   that every drawing landed exactly once.

The database is a fresh SQLite file in a temporary folder, or ``--url`` (e.g. an empty
PostgreSQL database). Numbers are noisy on a shared machine; the medians are what to quote.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import plotly.io
import plotly.tools

from lab import handwriting, storage
from lab.leaderboard import Leaderboard
from lab.room import room_points
from lab.settings import ACTIVATION_CHOICES, BATCH_FULL, BATCH_MINI, GOOD_DEFAULT, LEARNING_RATES, OPTIMIZERS
from ui.figures.room import room_map_figure, settings_parallel_figure


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.room", description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=2000, help="leaderboard entries (default 2000)")
    p.add_argument("--rounds", type=int, default=7, help="rounds of the room map measured (default 7)")
    p.add_argument("--writers", type=int, default=20, help="threads adding drawings at once (default 20)")
    p.add_argument("--url", default=None, help="an empty database to use (default: a temporary SQLite file)")
    return p.parse_args(argv)


def fill_board(board: Leaderboard, n: int) -> None:
    """``n`` plausible runs: random settings, an accuracy that depends on them a little."""
    rng = random.Random(0)
    for index in range(n):
        settings = {**GOOD_DEFAULT, "learning_rate": rng.choice(LEARNING_RATES), "optimizer": rng.choice(OPTIMIZERS),
                    "activation": rng.choice(ACTIVATION_CHOICES), "width": rng.choice([8, 16, 32, 64, 128, 256, 512]),
                    "layers": rng.randint(1, 3), "epochs": rng.randint(1, 30),
                    "batch_mode": rng.choice([BATCH_FULL, BATCH_MINI]), "batch_size": rng.choice([32, 64, 128])}
        accuracy = max(0.05, min(0.99, 0.9 - 0.1 * abs(np.log10(settings["learning_rate"]) + 2.5) + rng.gauss(0, 0.05)))
        board.submit(f"run-{index}", f"participant {index % 60}", accuracy, settings,
                     room_accuracy=max(0.0, accuracy - 0.1), room_images=40)


def sent_json(figure) -> str:
    """The figure as ``st.plotly_chart`` serialises it for the browser."""
    return plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True),
                             validate=False)


def room_map_once(board: Leaderboard) -> dict[str, float]:
    """Seconds of each stage of one full rebuild, and the payload in bytes."""
    started = time.perf_counter()
    entries = board.entries(limit=None)
    read = time.perf_counter()
    points = room_points(entries)
    columns = time.perf_counter()
    figures = (room_map_figure(points), settings_parallel_figure(points))
    built = time.perf_counter()
    payload = sum(len(sent_json(figure)) for figure in figures)
    done = time.perf_counter()
    return {"read": read - started, "columns": columns - read, "figures": built - columns,
            "json": done - built, "total": done - started, "payload": payload, "entries": len(entries)}


def bench_room_map(board: Leaderboard, rounds: int) -> None:
    results = [room_map_once(board) for _ in range(rounds)]
    print(f"Room map, {results[0]['entries']:,} entries, {rounds} rounds (median / worst, seconds):")
    for stage in ("read", "columns", "figures", "json", "total"):
        values = [r[stage] for r in results]
        print(f"  {stage:8s} {statistics.median(values):.3f} / {max(values):.3f}")
    print(f"  payload  {results[0]['payload'] / 1024:.0f} KiB of Plotly JSON (both figures, one refresh)")
    checks = []
    for _ in range(50):
        started = time.perf_counter()
        board.version()
        checks.append(time.perf_counter() - started)
    print(f"  a refresh with nothing new (version check): median {1000 * statistics.median(checks):.2f} ms")


def bench_writers(url: str, writers: int, per_writer: int = 5) -> None:
    start = threading.Barrier(writers)
    latencies, errors = [], []

    def writer(index: int) -> None:
        room = handwriting.RoomHandwriting(url, per_person=per_writer, max_total=writers * per_writer)
        rng = np.random.default_rng(index)
        start.wait()
        for canvas in range(per_writer):
            image = rng.integers(0, 256, 784, dtype=np.uint8)
            began = time.perf_counter()
            try:
                room.add(handwriting.drawing_key(f"lab-{index}", canvas), handwriting.participant_key(f"lab-{index}"),
                         canvas % 10, image)
                room.add(handwriting.drawing_key(f"lab-{index}", canvas), handwriting.participant_key(f"lab-{index}"),
                         canvas % 10, image)  # a retry: must not land twice
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    count = handwriting.RoomHandwriting(url).count()
    p95 = sorted(latencies)[int(0.95 * (len(latencies) - 1))]
    print(f"Room's handwriting, {writers} writers x {per_writer} drawings (each sent twice):")
    print(f"  landed   {count} of {writers * per_writer} (each exactly once: {count == writers * per_writer}), "
          f"errors {len(errors)}")
    print(f"  wall     {wall:.2f} s; one add (and its retry): median {1000 * statistics.median(latencies):.1f} ms, "
          f"p95 {1000 * p95:.1f} ms")


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="digit-lab-bench-room-") as folder:
        url = args.url or str(Path(folder) / "room.sqlite3")
        database = storage.database(url)
        print(f"Database: {storage.describe(database.url)}")
        board = Leaderboard(url=url, max_entries=max(args.entries, 1))
        started = time.perf_counter()
        fill_board(board, args.entries)
        print(f"  (filled with {args.entries:,} entries in {time.perf_counter() - started:.1f} s)")
        bench_room_map(board, args.rounds)
        bench_writers(url, args.writers)
        storage.forget(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
