"""Weight-grid rendering cost: ``python -m bench.figures [--trained] [--repeats N]``.

The targets: the grid of every first-layer unit builds in <= 0.5 s for 512
units and sends <= 150 KiB to the browser for 128 units, <= 400 KiB for 512. This prints,
for 64 / 128 / 512 units:

- build: median wall time of ``weight_grid_figure`` (after one warm-up call),
- json: median time of ``fig.to_json()`` (what Streamlit does before sending),
- payload: ``len(fig.to_json())`` in KiB, with the encoding and colour levels chosen,
- exact heatmap: the payload the float32 heatmap would have needed instead.

Weights are a fresh He initialisation (pure noise, the hardest case to compress) or,
with ``--trained``, a network trained for 2 epochs on the bundled 5,000 images.
The payload sizes are also asserted by ``tests/ui/test_network_figures.py``; times are not
(they depend on the machine).
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.timing import median_seconds
from nn.analysis import unit_order
from nn.network import Network
from ui.figures.weights import payload_budget, weight_grid_figure

SIZES = (64, 128, 512)
BUILD_TARGET_S = 0.5


def _weights(n_units: int, trained: bool) -> list[np.ndarray]:
    if not trained:
        return Network((784, n_units, 10), "relu", seed=0).weights
    from datasets import load_bundled
    from nn.training import TrainConfig, build_network, train

    data = load_bundled()
    config = TrainConfig(hidden_sizes=(n_units,), optimizer="adam", learning_rate=1e-3, epochs=2,
                         batch_size=128, snapshot_every=0)
    return train(build_network(config), data.images, data.labels, config).network.weights


def measure(n_units: int, trained: bool = False, repeats: int = 5) -> dict:
    """Timings and sizes of the weight grid for a ``784 -> n_units -> 10`` network."""
    weights = _weights(n_units, trained)
    order = unit_order(weights, "norm")
    weight_grid_figure(weights[0], order)  # warm-up: Plotly's validators load lazily
    build = median_seconds(lambda: weight_grid_figure(weights[0], order), repeats)
    fig = weight_grid_figure(weights[0], order)
    to_json = median_seconds(fig.to_json, repeats)
    meta = fig.layout.meta["grid"]
    exact = weight_grid_figure(weights[0], order, mode="heatmap")
    return {
        "units": n_units,
        "build_s": build,
        "json_s": to_json,
        "payload_kib": len(fig.to_json()) / 1024,
        "budget_kib": payload_budget(n_units) / 1024,
        "mode": meta["mode"],
        "levels": meta.get("levels"),
        "exact_heatmap_kib": len(exact.to_json()) / 1024,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trained", action="store_true", help="train each network for 2 epochs first")
    parser.add_argument("--repeats", type=int, default=5, help="timed builds per size (median)")
    args = parser.parse_args(argv)
    kind = "trained 2 epochs (Adam)" if args.trained else "He initialisation (noise)"
    print(f"weight grid, 784 -> n -> 10, weights: {kind}, median of {args.repeats}")
    print(f"{'units':>5}  {'build':>8}  {'to_json':>8}  {'payload':>10}  {'budget':>8}  "
          f"{'encoding':<16}  {'exact heatmap':>13}")
    ok = True
    for n in SIZES:
        r = measure(n, args.trained, args.repeats)
        encoding = r["mode"] + (f", {r['levels']} levels" if r["levels"] else "")
        fits = r["payload_kib"] <= r["budget_kib"] and r["build_s"] <= BUILD_TARGET_S
        ok &= fits
        print(f"{n:>5}  {r['build_s'] * 1000:>6.0f}ms  {r['json_s'] * 1000:>6.1f}ms  "
              f"{r['payload_kib']:>6.1f} KiB  {r['budget_kib']:>4.0f} KiB  {encoding:<16}  "
              f"{r['exact_heatmap_kib']:>9.0f} KiB{'' if fits else '  <-- over target'}")
    print(f"targets: build <= {BUILD_TARGET_S} s; payload <= 150 KiB (<= 128 units), <= 400 KiB (512)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
