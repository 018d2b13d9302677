"""``python -m bench.conv [--quick] [--no-torch] [--rounds N]``: the NumPy conv network
against the same network in PyTorch on the CPU.

Network: 28×28 → conv 8@5×5 valid → ReLU → 2×2 max pool → 10 softmax, Adam, trained on
the bundled 5,000 MNIST images, 1 BLAS thread for NumPy and ``torch.set_num_threads(1)``.
Engines run in alternating rounds (the order rotates); each run trains a fresh network
for a few epochs and its first epoch (warm-up) is dropped; the tables give medians.

Then accuracy on the real 10,000 MNIST test images: the same network at its best
settings found, and the recommended conv preset (``nn.conv.RECOMMENDED_CONV_CONFIG``) with
its time to reach 97% (training time only; the test evaluations between epochs are not
counted), in both engines.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from nn.conv import RECOMMENDED_CONV_CONFIG
from nn.training import TrainConfig, build_network, evaluate, train

from .engines import clock, since, to_float, torch_available
from .report import describe_environment, load_average

NETWORK = "conv 8@5×5 valid → ReLU → max-pool 2×2 → dense 10"
CONV_LAYERS = ((8, 5),)
BATCH_SIZES = (128, 64)
LEARNING_RATE = 1e-3  # Adam; it does not change the work per step
# The conv 8@5x5 network's best settings found for accuracy (see the README's Convolution section).
BEST_SMALL_CONFIG = dict(conv_layers=CONV_LAYERS, hidden_sizes=(), optimizer="momentum", learning_rate=0.1,
                         batch_size=64, epochs=15)
TARGET_ACCURACY = 0.97
ENGINES = ("ours", "ours, no history", "PyTorch")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.conv", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one round, 2 epochs, no accuracy runs (a smoke test)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument("--rounds", type=int, help="alternating rounds (default 5, quick 1)")
    return p.parse_args(argv)


# -- the engines ----------------------------------------------------------------------------
def time_ours(images, labels, batch_size, epochs, *, history=True) -> list[tuple[float, float]]:
    """(wall, CPU) seconds per epoch of ``nn.training.train``, with the dashboard's history
    at its defaults or (history=False) no snapshots and stats only at the first step."""
    extra = {} if history else {"snapshot_every": 0, "stats_every": 10**9}
    config = TrainConfig(conv_layers=CONV_LAYERS, hidden_sizes=(), optimizer="adam", learning_rate=LEARNING_RATE,
                         batch_size=batch_size, epochs=epochs, validation_fraction=0.0, seed=0, **extra)
    network = build_network(config)
    stamps = [clock()]
    train(network, images, labels, config, progress=lambda _: stamps.append(clock()),
          progress_interval=float("inf"))
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(stamps, stamps[1:])]


def torch_model(conv_layers, padding="valid", pool=True, hidden_sizes=(), n_classes=10, side=28):
    """The convolutional Network's architecture in PyTorch (NCHW, its default initialisation)."""
    import torch

    layers, channels = [], 1
    for filters, kernel in conv_layers:
        layers += [torch.nn.Conv2d(channels, filters, kernel, padding="same" if padding == "same" else 0),
                   torch.nn.ReLU()]
        side = side if padding == "same" else side - kernel + 1
        if pool:
            layers.append(torch.nn.MaxPool2d(2))
            side //= 2
        channels = filters
    layers.append(torch.nn.Flatten())
    width = channels * side * side
    for hidden in hidden_sizes:
        layers += [torch.nn.Linear(width, hidden), torch.nn.ReLU()]
        width = hidden
    layers.append(torch.nn.Linear(width, n_classes))
    return torch.nn.Sequential(*layers)


def torch_optimizer(model, name, learning_rate, momentum=0.9):
    import torch

    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=learning_rate)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum, nesterov=name == "nesterov")
    if name == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=learning_rate, alpha=0.9, eps=1e-8)
    return torch.optim.SGD(model.parameters(), lr=learning_rate)


def torch_epochs(model, optimizer, x, y, batch_size, epochs, after_epoch=None) -> list[tuple[float, float]]:
    """The plain PyTorch loop (randperm, index, step) for ``epochs``; (wall, CPU) per epoch.
    ``after_epoch(epoch)`` runs between epochs, outside the timing."""
    import torch

    loss_fn = torch.nn.CrossEntropyLoss()
    n, times = len(x), []
    for epoch in range(epochs):
        start = clock()
        model.train()
        order = torch.randperm(n)
        for first in range(0, n, batch_size):
            index = order[first : first + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x[index]), y[index]).backward()
            optimizer.step()
        times.append(since(start))
        if after_epoch is not None:
            after_epoch(epoch + 1)
    return times


def torch_tensors(images, labels):
    import torch

    return (torch.from_numpy(to_float(images).reshape(-1, 1, 28, 28)),
            torch.from_numpy(np.asarray(labels, dtype=np.int64)))


def time_torch(images, labels, batch_size, epochs) -> list[tuple[float, float]]:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = torch_tensors(images, labels)
    model = torch_model(CONV_LAYERS)
    return torch_epochs(model, torch_optimizer(model, "adam", LEARNING_RATE), x, y, batch_size, epochs)


def torch_accuracy(model, images, labels) -> float:
    import torch

    x, y = torch_tensors(images, labels)
    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return float((predictions == y).float().mean())


# -- accuracy ---------------------------------------------------------------------------------
def accuracy_run_ours(config_kwargs, images, labels, test) -> dict:
    """Train with ``config_kwargs`` on all the bundled images; test accuracy after every
    epoch; training seconds until the first epoch at >= 97%."""
    config = TrainConfig(**config_kwargs, validation_fraction=0.0, snapshot_every=0, seed=0)
    network = build_network(config)
    accuracies, seconds = [], []

    def after_epoch(progress):
        seconds.append(progress.elapsed - evaluation_seconds[0])
        started = time.perf_counter()
        accuracies.append(evaluate(network, test.images, test.labels)[1])
        evaluation_seconds[0] += time.perf_counter() - started

    evaluation_seconds = [0.0]
    train(network, images, labels, config, progress=after_epoch, progress_interval=float("inf"))
    return summarise(accuracies, seconds)


def accuracy_run_torch(config_kwargs, images, labels, test) -> dict:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    c = {**TrainConfig().to_dict(), **config_kwargs}
    model = torch_model(c["conv_layers"], c["conv_padding"], c["conv_pool"], c["hidden_sizes"])
    optimizer = torch_optimizer(model, c["optimizer"], c["learning_rate"], c["momentum"])
    x, y = torch_tensors(images, labels)
    accuracies = []
    times = torch_epochs(model, optimizer, x, y, c["batch_size"], c["epochs"],
                         after_epoch=lambda _: accuracies.append(torch_accuracy(model, test.images, test.labels)))
    return summarise(accuracies, list(np.cumsum([wall for wall, _ in times])))


def summarise(accuracies, seconds) -> dict:
    reached = next((i for i, a in enumerate(accuracies) if a >= TARGET_ACCURACY), None)
    return {"final": accuracies[-1], "best": max(accuracies), "epochs": len(accuracies),
            "seconds": seconds[-1], "epoch_to_target": None if reached is None else reached + 1,
            "seconds_to_target": None if reached is None else seconds[reached]}


def describe_config(c: dict) -> str:
    layers = " → ".join(f"conv {f}@{k}×{k}" for f, k in c["conv_layers"])
    hidden = "".join(f" → {h}" for h in c.get("hidden_sizes", ()))
    return (f"{layers} ({c.get('conv_padding', 'valid')}, max-pool){hidden} → 10; {c['optimizer']} "
            f"lr {c['learning_rate']:g}, batch {c['batch_size']}, {c['epochs']} epochs")


# -- the report ---------------------------------------------------------------------------------
def main(argv=None) -> int:
    """A benchmark's main: its options, the runs in the order they are timed, then the printed
    tables; one piece so that it reads top to bottom like the report it prints."""
    args = parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 5)
    epochs = 2 if args.quick else 4
    use_torch = not args.no_torch and torch_available()

    def say(text=""):
        print(text, flush=True)

    from datasets import load_bundled, load_mnist_test_set

    started = time.perf_counter()
    say("# Digit Lab convolution benchmark" + (" (--quick: a smoke test, not the official numbers)"
                                                if args.quick else ""))
    for line in describe_environment(use_torch):
        say(line)
    if not use_torch:
        say("PyTorch: absent (or --no-torch): its column and the ratio are skipped")
    bundled = load_bundled()
    images, labels = bundled.images, bundled.labels
    say(f"network: {NETWORK}; Adam; the bundled {len(labels):,} MNIST images; 1 thread")
    say(f"load average at start: {load_average()}; {rounds} alternating round(s) of {epochs} epochs per run; "
        "medians of per-epoch times, the first epoch of each run dropped")
    say()

    engines = [e for e in ENGINES if use_torch or e != "PyTorch"]
    samples: dict = {}
    for round_index in range(rounds):
        say(f"  round {round_index + 1}/{rounds} (load average {load_average()})")
        for batch_size in BATCH_SIZES:
            shift = round_index % len(engines)
            for name in engines[shift:] + engines[:shift]:
                with threadpool_limits(1):
                    if name == "PyTorch":
                        times = time_torch(images, labels, batch_size, epochs)
                    else:
                        times = time_ours(images, labels, batch_size, epochs, history=name == "ours")
                samples.setdefault((batch_size, name), []).extend(times[1:])
                time.sleep(0.05)

    def median_ms(batch_size, name, cpu=False):
        values = samples.get((batch_size, name))
        return 1000 * statistics.median(v[1 if cpu else 0] for v in values) if values else None

    def cell(value):
        return "—" if value is None else f"{value:.1f}"

    ratios = {}
    for title, cpu in (("ms per epoch (median of wall time)", False), ("ms per epoch (median of process CPU time)",
                                                                       True)):
        say()
        say(f"## {title}")
        say()
        say("| configuration | " + " | ".join(engines) + " | ours / PyTorch |")
        say("|---|" + "---|" * (len(engines) + 1))
        for batch_size in BATCH_SIZES:
            values = [median_ms(batch_size, name, cpu) for name in engines]
            torch_ms = median_ms(batch_size, "PyTorch", cpu)
            ratio = None if torch_ms is None else median_ms(batch_size, "ours", cpu) / torch_ms
            ratios[(batch_size, cpu)] = ratio
            say(f"| {NETWORK}, batch {batch_size}, {len(labels):,} images | " + " | ".join(map(cell, values))
                + f" | {'—' if ratio is None else f'{ratio:.2f}'} |")

    say()
    say("## goal: ours <= 1.5 x PyTorch's epoch time")
    say()
    say("| batch | ours / PyTorch (wall) | result | from CPU time |")
    say("|---|---|---|---|")
    for batch_size in BATCH_SIZES:
        wall, cpu = ratios[(batch_size, False)], ratios[(batch_size, True)]
        if wall is None:
            say(f"| {batch_size} | n/a | SKIP | — |")
        else:
            say(f"| {batch_size} | {wall:.2f} | {'PASS' if wall <= 1.5 else 'FAIL'} | "
                f"{cpu:.2f} {'PASS' if cpu <= 1.5 else 'FAIL'} |")

    test = load_mnist_test_set()
    say()
    if args.quick:
        say("accuracy runs: skipped in --quick")
    else:
        say(f"## accuracy on the real MNIST test set ({len(test.labels):,} images), training on the bundled "
            f"{len(labels):,}; time to {TARGET_ACCURACY:.0%} = training time up to the end of the first epoch "
            "at or above it (test evaluations not counted)")
        say()
        say("| network and settings | engine | final | best | first epoch >= 97% | seconds to 97% | "
            "seconds in all |")
        say("|---|---|---|---|---|---|---|")
        for config in (BEST_SMALL_CONFIG, RECOMMENDED_CONV_CONFIG):
            for name in ("ours", "PyTorch") if use_torch else ("ours",):
                with threadpool_limits(1):
                    run = (accuracy_run_ours if name == "ours" else accuracy_run_torch)(config, images, labels,
                                                                                       test)
                to_target = "never" if run["epoch_to_target"] is None else str(run["epoch_to_target"])
                seconds = "—" if run["seconds_to_target"] is None else f"{run['seconds_to_target']:.2f}"
                preset = " (recommended preset)" if config is RECOMMENDED_CONV_CONFIG else ""
                say(f"| {describe_config(config)}{preset} | {name} | {run['final']:.2%} | {run['best']:.2%} | "
                    f"{to_target} | {seconds} | {run['seconds']:.2f} |")
    say()
    say(f"load average at end: {load_average()}; the benchmark took {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
