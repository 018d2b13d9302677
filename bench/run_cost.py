"""The run-cost model against measured runs: seconds per training step by width, depth,
batch size and optimiser, and the model's coefficients fitted to them.

``python -m bench.run_cost [--quick]``

Each case trains on the bundled images (one BLAS thread, as the server's jobs do) for a
fixed number of steps and reports microseconds per step, measured and as ``lab.run_cost``
prices it (the ratio shows how far the model is off), then a least-squares fit of the
model's four dense coefficients (fixed, per weight layer, per parameter for the update, per
parameter and image) on these measurements, Adam and SGD apart. The default run is timed
too: it is the unit of ``run_cost`` (default runs). The machine is shared: its load shifts
every number, run it twice.
"""

from __future__ import annotations

import argparse
import os
import time

WIDTHS_LAYERS = ((16, 1), (128, 1), (512, 1), (32, 2), (128, 4), (512, 4))
BATCHES = (1, 8, 64, 512)


def measure(config, images, labels, steps: int) -> float:
    """Microseconds per step of ``steps`` steps of ``config`` (after one warm-up step)."""
    import dataclasses

    from nn.training import build_network, train

    batch = config.batch_size or len(images)
    n = min(len(images), steps * batch)
    epochs = max(1, steps * batch // n)
    config = dataclasses.replace(config, epochs=epochs, snapshot_every=0)
    network = build_network(config)
    began = time.perf_counter()
    result = train(network, images[:n], labels[:n], config)
    return 1e6 * (time.perf_counter() - began) / result.history.n_steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps per case")
    args = parser.parse_args(argv)
    import numpy as np
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # after numpy: it limits the libraries already loaded
    from datasets import load_bundled
    from lab import run_cost
    from nn.training import TrainConfig

    data = load_bundled()
    images, labels = data.images[:4500], data.labels[:4500]
    print(f"# Run-cost model against measured steps; load average {os.getloadavg()[0]:.1f}")
    began = time.perf_counter()
    from nn.training import build_network, train

    train(build_network(run_cost.DEFAULT_RUN), images, labels, run_cost.DEFAULT_RUN,
          validation=(data.images[4500:], data.labels[4500:]))
    print(f"default run: {time.perf_counter() - began:.2f} s measured, {run_cost.default_run_seconds():.2f} s "
          "by the model")
    print("| optimiser | network | batch | parameters | µs/step measured | model | measured / model |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for optimizer in ("adam", "sgd"):
        for width, layers in WIDTHS_LAYERS:
            for batch in BATCHES:
                config = TrainConfig(hidden_sizes=(width,) * layers, optimizer=optimizer, learning_rate=1e-3,
                                     batch_size=batch, epochs=1)
                steps = (100 if batch <= 8 else 30) if args.quick else (400 if batch <= 8 else 100)
                measured = measure(config, images, labels, steps)
                predicted = 1e6 * run_cost.run_seconds(config, batch, 0)  # one step of `batch` images
                parameters = run_cost.config_parameters(config)
                rows.append((optimizer, layers + 1, parameters, batch, measured))
                print(f"| {optimizer} | 784-{'-'.join([str(width)] * layers)}-10 | {batch} | {parameters:,} | "
                      f"{measured:,.0f} | {predicted:,.0f} | {measured / predicted:.2f} |", flush=True)
    for optimizer in ("adam", "sgd"):
        chosen = [r for r in rows if r[0] == optimizer]
        features = np.array([[1.0, r[1], r[2], r[2] * r[3]] for r in chosen])
        measured = np.array([r[4] for r in chosen])
        weights = 1 / measured  # relative errors count alike
        fit, *_ = np.linalg.lstsq(features * weights[:, None], measured * weights, rcond=None)
        print(f"fit, {optimizer}: {fit[0]:.0f} µs per step + {fit[1]:.0f} µs per weight layer + "
              f"{1000 * fit[2]:.2f} ns per parameter + {1000 * fit[3]:.3f} ns per parameter and image")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
