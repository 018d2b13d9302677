"""How the settings of ``train.py --preset mlp`` and ``--preset cnn`` were chosen: candidate
settings trained on the bundled 5,000 images' training split (4,500) and judged by their
accuracy on the validation split (500), as ``train.py`` splits them. The test set is never
read here: it is only measured afterwards, once, by ``train.py`` with the chosen settings.

    python -m bench.accuracy_goals mlp         # about 15 minutes on one core
    python -m bench.accuracy_goals cnn         # about 40 minutes
    python -m bench.accuracy_goals mlp --seeds 1 2 --only "512, augment, 80 epochs cosine"

Each candidate trains with every given seed (the seed also draws the split, as in
``train.py``); the table gives the final validation accuracy per seed, their mean, and the
seconds per run. One BLAS thread (the machine is shared).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from datasets import load_bundled, stratified_split
from nn.training import TrainConfig, build_network, evaluate, train

ADAM = dict(optimizer="adam", learning_rate=1e-3, batch_size=128)
CONV = dict(optimizer="adam", learning_rate=2e-3, batch_size=64)
AUGMENT = dict(augment=True, augment_shift=2.0, augment_degrees=15.0)

CANDIDATES = {
    "mlp": {
        "128, 15 epochs (the Home page's default)": dict(hidden_sizes=(128,), epochs=15, **ADAM),
        "512, 40 epochs cosine": dict(hidden_sizes=(512,), epochs=40, schedule="cosine", **ADAM),
        "256, augment, 40 epochs cosine": dict(hidden_sizes=(256,), epochs=40, schedule="cosine",
                                               **ADAM, **AUGMENT),
        "512, augment, 40 epochs cosine": dict(hidden_sizes=(512,), epochs=40, schedule="cosine",
                                               **ADAM, **AUGMENT),
        "512, augment 2 px 10°, 40 epochs cosine": dict(hidden_sizes=(512,), epochs=40, schedule="cosine",
                                                        **ADAM, augment=True, augment_shift=2.0,
                                                        augment_degrees=10.0),
        "512, augment 3 px 15°, 40 epochs cosine": dict(hidden_sizes=(512,), epochs=40, schedule="cosine",
                                                        **ADAM, augment=True, augment_shift=3.0,
                                                        augment_degrees=15.0),
        "512-512, augment, 40 epochs cosine": dict(hidden_sizes=(512, 512), epochs=40, schedule="cosine",
                                                   **ADAM, **AUGMENT),
        "1024, augment, 40 epochs cosine": dict(hidden_sizes=(1024,), epochs=40, schedule="cosine",
                                                **ADAM, **AUGMENT),
        "512, augment, 80 epochs cosine": dict(hidden_sizes=(512,), epochs=80, schedule="cosine",
                                               **ADAM, **AUGMENT),
        "512-512, augment, 80 epochs cosine": dict(hidden_sizes=(512, 512), epochs=80, schedule="cosine",
                                                   **ADAM, **AUGMENT),
    },
    "cnn": {
        "16@3, 32@3, 15 epochs (the small CNN preset)": dict(conv_layers=((16, 3), (32, 3)), hidden_sizes=(),
                                                             epochs=15, **CONV),
        "16@3, 32@3, augment, 30 epochs cosine": dict(conv_layers=((16, 3), (32, 3)), hidden_sizes=(),
                                                      epochs=30, schedule="cosine", **CONV, **AUGMENT),
        "32@3, 64@3, augment, 30 epochs cosine": dict(conv_layers=((32, 3), (64, 3)), hidden_sizes=(),
                                                      epochs=30, schedule="cosine", **CONV, **AUGMENT),
        "32@3, 64@3, 128, augment, 30 epochs cosine": dict(conv_layers=((32, 3), (64, 3)), hidden_sizes=(128,),
                                                           epochs=30, schedule="cosine", **CONV, **AUGMENT),
        "32@5 same, 64@5 same, 128, augment, 30 epochs cosine": dict(
            conv_layers=((32, 5), (64, 5)), conv_padding="same", hidden_sizes=(128,), epochs=30,
            schedule="cosine", **CONV, **AUGMENT),
    },
}


def run_candidate(settings: dict, seed: int, images, labels) -> tuple[float, float]:
    """(final validation accuracy, seconds) of one training run, split as train.py splits."""
    config = TrainConfig(**settings, seed=seed, snapshot_every=0)
    train_idx, val_idx = stratified_split(labels, config.validation_fraction, config.seed)
    started = time.perf_counter()
    network = build_network(config)
    train(network, images[train_idx], labels[train_idx], config)
    seconds = time.perf_counter() - started
    _, accuracy = evaluate(network, images[val_idx], labels[val_idx])
    return accuracy, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("family", choices=sorted(CANDIDATES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="run only the candidates whose name is one of these")
    args = parser.parse_args(argv)
    threadpool_limits(1)
    data = load_bundled()
    images, labels = data.images, data.labels.astype(np.intp)
    seeds = ", ".join(f"seed {s}" for s in args.seeds)
    print(f"| candidate ({args.family}) | validation accuracy ({seeds}) | mean | seconds per run |")
    print("|---|---|---|---|")
    for name, settings in CANDIDATES[args.family].items():
        if args.only and name not in args.only:
            continue
        results = [run_candidate(settings, seed, images, labels) for seed in args.seeds]
        accuracies = [100 * accuracy for accuracy, _ in results]
        print(f"| {name} | {', '.join(f'{a:.1f}%' for a in accuracies)} | {np.mean(accuracies):.2f}% | "
              f"{np.mean([s for _, s in results]):.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
