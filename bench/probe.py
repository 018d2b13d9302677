"""The Probe page's numbers for the README: dream time, fooling-rate curves, robustness
with and without augmentation, and what pruning costs.

    python -m bench.probe            # about 5 minutes on one core
    python -m bench.probe --seeds 0 1 2

The network is the Home page's default, 784-128-10 ReLU, Adam 0.001, batch 128, 15 epochs,
trained on the bundled training split (4,500 images) without and with ``augment`` (random
shifts up to 2 px and rotations up to 15°, ``nn/augment.py``). Robustness is measured on
all 10,000 real MNIST test images, the fooling rate on the first 500 validation images.
One BLAS thread (the machine is shared).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from datasets import load_bundled, load_mnist_test_set, stratified_split
from lab import robustness
from nn import probe
from nn.training import TrainConfig, build_network, evaluate, train

EPSILONS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25)
PRUNING = (0, 50, 70, 80, 90, 95, 99)


def trained(images, labels, augment: bool, seed: int):
    config = TrainConfig(hidden_sizes=(128,), optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=15,
                         seed=seed, augment=augment, snapshot_every=0)
    network = build_network(config)
    started = time.perf_counter()
    train(network, images, labels, config)
    return network, time.perf_counter() - started


def dream_seconds(network, repeats: int = 5) -> tuple[float, float]:
    """(median seconds for all 10 classes, lowest confidence) over ``repeats`` dreams."""
    times, lowest = [], 1.0
    for _ in range(repeats):
        dreamt = probe.dream(network)
        times.append(dreamt.seconds)
        lowest = min(lowest, float(dreamt.confidence.min()))
    return statistics.median(times), lowest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args(argv)
    threadpool_limits(1)
    data, test = load_bundled(), load_mnist_test_set()
    train_idx, val_idx = stratified_split(data.labels, 0.1, 0)
    images, labels = data.images[train_idx], data.labels[train_idx].astype(np.intp)
    val_images, val_labels = data.images[val_idx][:500], data.labels[val_idx][:500].astype(np.intp)
    curves = {False: [], True: []}
    for seed in args.seeds:
        for augment in (False, True):
            network, seconds = trained(images, labels, augment, seed)
            clean = evaluate(network, test.images, test.labels)[1]
            print(f"seed {seed}, augment {augment}: {seconds:.1f} s to train, test accuracy {clean:.2%}", flush=True)
            curves[augment].append(robustness.robustness_curves(network, test.images, test.labels))
            if seed == args.seeds[0] and not augment:
                plain = network
    median, lowest = dream_seconds(plain)
    print(f"\ndream: all 10 classes, 120 steps, median of 5: {median:.2f} s; lowest confidence {lowest:.4f}")

    print("\n## fooling rate (untargeted), 500 validation images, 784-128-10 without augmentation\n")
    fgsm = probe.fooling_curve(plain, val_images, val_labels, EPSILONS, "fgsm")
    iterative = probe.fooling_curve(plain, val_images, val_labels, EPSILONS, "iterative")
    print(f"| ε | {' | '.join(f'{e:g}' for e in EPSILONS)} |")
    print(f"|---|{'---|' * len(EPSILONS)}")
    for curve, name in ((fgsm, "FGSM"), (iterative, "iterative, 10 steps")):
        print(f"| {name} | {' | '.join(f'{r:.0%}' for r in curve.rates)} |")
    print(f"({fgsm.n_correct} of 500 read right before the attack)")

    print(f"\n## accuracy on the 10,000 test images, changed (mean of seeds {args.seeds})\n")
    print("| change | strength | without augment | with augment | gain (points) |")
    print("|---|---|---|---|---|")
    for key, perturbation in robustness.PERTURBATIONS.items():
        for k, value in enumerate(perturbation.values):
            without = np.mean([c[key].accuracies[k] for c in curves[False]])
            with_ = np.mean([c[key].accuracies[k] for c in curves[True]])
            print(f"| {perturbation.label} | {perturbation.describe(value)} | {without:.1%} | {with_:.1%} | "
                  f"{100 * (with_ - without):+.1f} |")

    print("\n## pruning the smallest weights of every layer, 784-128-10, 500 validation images\n")
    print(f"| pruned | {' | '.join(f'{p}%' for p in PRUNING)} |")
    print(f"|---|{'---|' * len(PRUNING)}")
    accuracies = [probe.accuracy(probe.pruned(plain, p / 100), val_images, val_labels) for p in PRUNING]
    print(f"| validation accuracy | {' | '.join(f'{a:.1%}' for a in accuracies)} |")
    importance = probe.unit_importance(plain, val_images, val_labels, 1)
    top = importance.ranking[:5]
    print(f"\nunits that matter most (accuracy lost alone): "
          f"{', '.join(f'{u} ({100 * importance.drops[u]:.1f})' for u in top)}; "
          f"{int(np.sum(importance.drops <= 0))} of 128 cost nothing; all 128 off: "
          f"{probe.accuracy(plain, val_images, val_labels, {1: range(128)}):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
