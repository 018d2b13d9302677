"""What one poll of the Train page costs after a long batch-1 run, by the number of steps.

``python -m bench.poll_cost [--code DIR] [--steps 10 10000 2250000 10000000]``

For each step count, in a fresh Python process whose code comes from ``--code`` (default
this checkout; give an older checkout, e.g. from ``git archive``, to measure before a
change), a History is filled as the trainer fills it (one loss per step), then it times
what the server does for a running job:

- ``curves``: the job's copy of the history for the page (``Curves.from_history``), made in
  the training thread at every progress report (5 a second) while holding the GIL;
- ``chart``: the loss chart built from those curves (``loss_figure``), every poll;
- ``json``: the chart serialised as Plotly JSON (what ``st.plotly_chart`` sends), every poll,
  and its size;
- ``checkpoint``: the curves as the lab store writes them (``history_json``), per checkpoint.

Each is the median of several repetitions (milliseconds). The machine is shared: run it twice.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.timing import median_seconds

REPO = Path(__file__).resolve().parent.parent


def child(code: str, steps: int, repeat: int) -> None:
    sys.path.insert(0, code)
    import numpy as np

    from lab import lab_records
    from lab.jobs import Curves
    from nn.training import History
    from ui.figures.training import loss_figure

    history = History()
    losses = (2.3 * np.exp(-np.arange(steps) / max(steps / 5, 1)) + 0.1).tolist()
    record = getattr(history, "add_step_loss", None) or history.step_loss.append  # the trainer's way
    began = time.perf_counter()
    for loss in losses:
        record(loss)
    fill = time.perf_counter() - began
    epochs = max(1, steps // 4500)
    for epoch in range(1, epochs + 1):
        history.epoch.append(epoch)
        history.train_loss.append(0.5)
        history.train_accuracy.append(0.9)
        history.validation_loss.append(0.6)
        history.validation_accuracy.append(0.88)
    curves = Curves.from_history(history, 4500)
    per_point = {"steps_per_point": curves.steps_per_point} if hasattr(curves, "steps_per_point") else {}

    def chart():
        return loss_figure(curves.epoch, curves.train_loss, curves.validation_loss, curves.step_loss,
                           curves.steps_per_epoch, **per_point)

    figure = chart()
    text = figure.to_json()
    result = {
        "steps": steps,
        "points": len(history.step_loss),
        "record_us_per_step": 1e6 * fill / steps,
        "curves_ms": 1000 * median_seconds(lambda: Curves.from_history(history, 4500), repeat),
        "chart_ms": 1000 * median_seconds(chart, repeat),
        "json_ms": 1000 * median_seconds(figure.to_json, repeat),
        "json_kb": len(text) / 1000,
        "checkpoint_ms": 1000 * median_seconds(lambda: lab_records.history_json(history, epochs_only=True), repeat),
    }
    print(json.dumps(result), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.poll_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose code is measured")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 10_000, 2_250_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"# Poll cost after a long batch-1 run: code from {args.code}")
    print("| steps | points kept | curves copy ms | chart ms | chart JSON ms (KB) | checkpoint ms |")
    print("|---|---|---|---|---|---|")
    for steps in args.steps:
        done = subprocess.run([sys.executable, __file__, "--child", str(args.code.resolve()), str(steps),
                               str(args.repeat)], capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            print(f"| {steps:,} | child failed: {done.stderr.strip().splitlines()[-1:]} |")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {r['steps']:,} | {r['points']:,} | {r['curves_ms']:.2f} | {r['chart_ms']:.1f} | "
              f"{r['json_ms']:.1f} ({r['json_kb']:.0f}) | {r['checkpoint_ms']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(main())
