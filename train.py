"""Train a digit classifier from the command line.

With no arguments this is the classic exercise: 784 → 10 ReLU → 10 softmax, trained
by full-batch gradient descent on the bundled 5,000 MNIST images::

    python train.py
    python train.py --hidden 128 --optimizer adam --lr 0.001 --batch-size 128 --epochs 10
    python train.py --conv 8x5                 # conv 8@5x5 -> ReLU -> max pool -> 10 softmax
    python train.py --data train.csv --save model.npz
    python train.py --load model.npz --predict test.csv --submission submission.csv
    python train.py --preset mlp               # 512-512, augmented, 80 epochs: >= 96% on the test set
    python train.py --preset cnn               # conv 32@3x3, 64@3x3, 128, augmented: >= 98.5%

Bad arguments or bad data print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import csv
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from datasets import (
    DIGIT_CLASS_NAMES,
    Dataset,
    download_mnist,
    load_data,
    load_idx_dir,
    load_kaggle_csv,
    load_mnist_test_set,
    stratified_split,
)
from datasets.emnist import emnist_source, has_emnist_part, load_emnist, load_emnist_source
from nn.activations import ACTIVATIONS
from nn.conv import MAX_CONV_BATCH, PADDINGS, RECOMMENDED_CONV_CONFIG, conv_config_problems
from nn.errors import DataError
from nn.model_io import load_model, save_model
from nn.optimizers import SCHEDULES
from nn.training import TrainConfig, build_network, evaluate, predict_proba, train

DEFAULTS = TrainConfig()
CONV_PRESET = RECOMMENDED_CONV_CONFIG
UNSET = object()  # an option the user did not give
# The settings chosen for the accuracy goals on the bundled 5,000 images (README, "Probe it"):
# picked by their accuracy on the validation split (python -m bench.accuracy_goals), never
# on the test set. Options given on the command line win over a preset's.
TRAIN_PRESETS = {
    "mlp": {"hidden": (512, 512), "optimizer": "adam", "lr": 1e-3, "batch_size": 128, "epochs": 80,
            "schedule": "cosine", "augment": True},
    "cnn": {"conv": [[(32, 3), (64, 3)]], "hidden": (128,), "optimizer": "adam", "lr": 2e-3, "batch_size": 64,
            "epochs": 30, "schedule": "cosine", "augment": True},
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are one line on stderr (exit code 2), no usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def hidden_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 128 or 256,128, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive integers, got {text!r}")
    return widths


def conv_layers(text: str) -> list[tuple[int, int]]:
    """'8x5' or '8x5,16x3': FILTERSxKERNEL per conv layer."""
    layers = []
    for part in filter(None, (p.strip() for p in text.lower().split(","))):
        filters, _, kernel = part.partition("x")
        if not (filters.isdigit() and kernel.isdigit()):
            raise argparse.ArgumentTypeError(f"expected FILTERSxKERNEL like 8x5 or 8x5,16x3, got {text!r}")
        layers.append((int(filters), int(kernel)))
    if not layers:
        raise argparse.ArgumentTypeError(f"expected FILTERSxKERNEL like 8x5, got {text!r}")
    return layers


def batch_size(text: str) -> int | None:
    if text.lower() == "full":
        return None
    try:
        return positive_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'full' or a positive integer, got {text!r}") from None


def fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="train.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="bundled",
                   help="'bundled' (5,000 MNIST images, offline), a Kaggle train.csv, "
                        "a folder of MNIST IDX files, 'mnist' to download all 70,000, "
                        "'emnist-letters' / 'emnist-balanced' (any EMNIST split: downloaded "
                        "once into the cache), or a folder (or gzip.zip) of EMNIST files")
    p.add_argument("--test", default="auto",
                   help="labelled test set to report accuracy on: a Kaggle-format CSV with "
                        "labels, an IDX folder (t10k files), 'auto' (EMNIST data: its split's "
                        "test part; digits: the real MNIST test set that ships with the app) "
                        "or 'none'")
    p.add_argument("--hidden", type=hidden_widths, default=None,
                   help="hidden layer widths, e.g. 10 or 256,128 (default: 10; none after --conv)")
    p.add_argument("--preset", choices=sorted(TRAIN_PRESETS),
                   help="the settings chosen for the accuracy goals: 'mlp' (512-512 ReLU, Adam, augmented, "
                        "80 epochs, cosine schedule) or 'cnn' (conv 32@3x3 -> pool -> 64@3x3 -> pool -> 128, "
                        "Adam, augmented, 30 epochs, cosine); options given as well win")
    p.add_argument("--conv", type=conv_layers, action="append", default=[],
                   help="a convolutional layer FILTERSxKERNEL (e.g. 8x5), repeatable or comma-separated, "
                        "each followed by the activation and a 2x2 max pool; with --conv, unset options "
                        "default to the recommended conv preset (Adam, batch 64, ...)")
    p.add_argument("--padding", choices=PADDINGS, default="valid",
                   help="conv padding: 'valid' (maps shrink by kernel-1) or 'same' (odd kernels)")
    p.add_argument("--no-pool", action="store_true", help="no max pool after the conv layers")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default=DEFAULTS.activation)
    p.add_argument("--optimizer", choices=["sgd", "momentum", "nesterov", "rmsprop", "adam"],
                   default=None, help=f"default: {DEFAULTS.optimizer} ({CONV_PRESET['optimizer']} with --conv)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help=f"learning rate (default: {DEFAULTS.learning_rate} for sgd, "
                        "0.001 for adam/rmsprop, 0.05 for momentum)")
    p.add_argument("--epochs", type=non_negative_int, default=None,
                   help=f"passes over the data (default: {DEFAULTS.epochs}; 0 with --load)")
    p.add_argument("--batch-size", type=batch_size, default=UNSET,
                   help="'full' (batch gradient descent, default) or N (1 = stochastic; "
                        f"{CONV_PRESET['batch_size']} with --conv)")
    p.add_argument("--l2", type=non_negative_float, default=0.0, help="L2 weight decay")
    p.add_argument("--momentum", type=fraction, default=DEFAULTS.momentum)
    p.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help="learning-rate schedule (default: constant, also with --conv unless the preset has one)")
    p.add_argument("--augment", action="store_true",
                   help="move every training batch's images by random shifts and rotations (each image "
                        "its own, every epoch)")
    p.add_argument("--augment-shift", type=non_negative_float, default=None, metavar="PIXELS",
                   help=f"with --augment: shifts of at most this many pixels (default {DEFAULTS.augment_shift:g})")
    p.add_argument("--augment-degrees", type=non_negative_float, default=None, metavar="DEGREES",
                   help=f"with --augment: rotations of at most this many degrees either way "
                        f"(default {DEFAULTS.augment_degrees:g})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation", type=fraction, default=DEFAULTS.validation_fraction,
                   help="fraction held out for validation (default 0.1)")
    p.add_argument("--save", type=Path, help="write the trained model to this .npz")
    p.add_argument("--load", type=Path, help="start from this .npz model")
    p.add_argument("--predict", type=Path, help="Kaggle test.csv to predict")
    p.add_argument("--submission", type=Path, help="where to write the Kaggle submission CSV")
    p.add_argument("--quiet", action="store_true", help="only print the final results")
    return p


def default_learning_rate(optimizer: str) -> float:
    return {"adam": 0.001, "rmsprop": 0.001, "momentum": 0.05, "nesterov": 0.05}.get(
        optimizer, DEFAULTS.learning_rate)


def load_training_data(spec: str, quiet: bool) -> Dataset:
    emnist = emnist_source(spec)  # ("letters", folder or None for the cache), or None
    if spec != "mnist" and emnist is None:
        return load_data(spec)
    shown = []

    def show(file_name, done, total):
        if not quiet:
            shown.append(file_name)
            size = f"{done / 2**20:.1f}/{total / 2**20:.1f} MiB" if total else f"{done / 2**20:.1f} MiB"
            print(f"\rdownloading {file_name}: {size}", end="", file=sys.stderr, flush=True)

    if emnist is not None:
        train_set = load_emnist_source(*emnist, progress=show)
    else:
        train_set, _ = download_mnist(progress=show)
    if shown:
        print(file=sys.stderr)
    return train_set


def load_test_data(spec: str, data_spec: str = "bundled", dataset: Dataset | None = None) -> Dataset | None:
    if spec == "none":
        return None
    if spec == "auto":
        emnist = emnist_source(data_spec)
        if emnist is not None:  # the split's own test part, when its files are there
            split, location = emnist
            return load_emnist(split, location, "test") if has_emnist_part(split, location, "test") else None
        if dataset is not None and dataset.class_names != DIGIT_CLASS_NAMES:
            return None  # MNIST's test digits say nothing about other classes
        return load_mnist_test_set()
    emnist = emnist_source(spec)
    if emnist is not None:
        return load_emnist_source(*emnist, part="test")
    path = Path(spec)
    if path.is_dir():
        return load_idx_dir(path, split="t10k")
    dataset = load_kaggle_csv(path)
    if dataset.labels is None:
        raise DataError(f"{spec}: a test set for --test needs a label column")
    return dataset


def write_submission(path: Path, labels: np.ndarray) -> None:
    """Kaggle's format: header ImageId,Label; ImageId counts from 1."""
    temp = path.with_name(f".{path.name}.part")
    with open(temp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ImageId", "Label"])
        writer.writerows(zip(range(1, len(labels) + 1), labels.tolist()))
    temp.replace(path)


def apply_preset(args) -> None:
    """Fill the options left unset from ``--preset`` (``TRAIN_PRESETS``)."""
    if not args.preset:
        return
    for name, value in TRAIN_PRESETS[args.preset].items():
        current = getattr(args, name)
        if current is None or current is UNSET or current == [] or current is False:
            setattr(args, name, value)


def apply_conv_defaults(args) -> None:
    """Fill the options left unset: the dense defaults, or with --conv the recommended
    conv preset's (``nn.conv.RECOMMENDED_CONV_CONFIG``)."""
    args.conv = [layer for group in args.conv for layer in group]
    preset = CONV_PRESET if args.conv and not args.load else {}
    if args.hidden is None:
        args.hidden = preset.get("hidden_sizes", DEFAULTS.hidden_sizes)
    if args.optimizer is None:
        args.optimizer = preset.get("optimizer", DEFAULTS.optimizer)
        if args.lr is None and preset:
            args.lr = preset["learning_rate"]
    if args.batch_size is UNSET:
        args.batch_size = preset.get("batch_size", DEFAULTS.batch_size)
    if args.epochs is None and preset:
        args.epochs = preset["epochs"]
    if args.schedule is None:
        args.schedule = preset.get("schedule", DEFAULTS.schedule)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.submission and not args.predict:
        parser.error("--submission needs --predict test.csv")
    if args.preset and args.load:
        parser.error("--preset builds a new network; --load takes the loaded model's layers")
    apply_preset(args)
    apply_conv_defaults(args)
    if (args.augment_shift is not None or args.augment_degrees is not None) and not args.augment:
        parser.error("--augment-shift and --augment-degrees need --augment")
    if args.conv and args.load:
        parser.error("--conv builds a new network; --load takes the loaded model's layers")
    if args.conv:
        problems = conv_config_problems(args.conv, args.padding, not args.no_pool)
        if args.batch_size is None or args.batch_size > MAX_CONV_BATCH:
            problems.append(f"conv layers train on batches of at most {MAX_CONV_BATCH} images, "
                            f"not {args.batch_size or 'full'}")
        if problems:
            parser.error(f"--conv: {'; '.join(problems)}")
    try:
        return run(args)
    except DataError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"train.py: error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 2


def run(args) -> int:
    """Load the data (and a model), train, print the accuracies, then save and predict."""
    say = (lambda *a, **k: None) if args.quiet else print
    dataset = load_training_data(args.data, args.quiet)
    if dataset.labels is None:
        raise DataError(f"{args.data}: training data needs a label column")
    test_set = load_test_data(args.test, args.data, dataset)
    if test_set is not None and test_set.class_names != dataset.class_names:
        raise DataError(f"{args.test}: its classes ({', '.join(test_set.class_names[:12])}...) are not "
                        f"the training data's ({', '.join(dataset.class_names[:12])}...)")
    network, metadata = None, {}
    if args.load:
        network, metadata = load_model(args.load)
        say(f"loaded {args.load}: {network.describe()}")
        check_model_fits(args.load, network, dataset)
    config = make_config(args, network)
    network = network or build_network(config, n_classes=dataset.n_classes)
    if config.conv_layers:
        # A conv network's matrix products are long and thin (k*k*C_in x m*Ho*Wo times F): BLAS
        # threads only add synchronisation there (several times slower with 2 on 2 busy cores).
        threadpool_limits(1, user_api="blas")

    train_idx, val_idx = stratified_split(dataset.labels, config.validation_fraction, config.seed)
    train_images, train_labels = dataset.images[train_idx], dataset.labels[train_idx]
    validation = dataset.images[val_idx], dataset.labels[val_idx]
    batch = "full batch" if config.batch_size is None else f"batch {config.batch_size}"
    say(f"data: {dataset.name}: {len(train_idx)} training, {len(val_idx)} validation images")
    say(f"model: {network.describe()}, {config.optimizer} lr={config.learning_rate:g}, {batch}, "
        f"{config.epochs} epochs" + (f", augmented (shifts up to {config.augment_shift:g} px, rotations up to "
                                     f"{config.augment_degrees:g}°)" if config.augment else ""))

    started = time.perf_counter()
    result = train_until_done_or_interrupted(network, train_images, train_labels, config, validation, say)
    seconds = time.perf_counter() - started
    if result.status != "completed":
        print(f"train.py: {result.status}: {result.message}", file=sys.stderr)
    say()
    test_summary = print_accuracies(network, (train_images, train_labels), validation, test_set)
    if result.history.epoch_seconds:
        per_epoch = float(np.median(result.history.epoch_seconds))
        print(f"time per epoch      {per_epoch * 1000:.1f} ms (median of {len(result.history.epoch_seconds)}; "
              f"{seconds:.2f} s in all)")

    if args.save:
        save_model(args.save, network, config=config.to_dict(), status=result.status,
                   history=result.history.summary(), test=test_summary,
                   data={"name": dataset.name, "n_samples": dataset.n_samples,
                         "class_names": list(dataset.class_names)},
                   trained_before=metadata.get("history"))
        say(f"saved {args.save}")
    if args.predict:
        write_predictions(args, network, dataset.class_names, say)
    return 0 if result.status != "diverged" else 1


def check_model_fits(path, network, dataset) -> None:
    """DataError unless the loaded ``network`` takes the data's images and gives its classes."""
    if network.layer_sizes[0] != dataset.images.shape[1]:
        raise DataError(f"{path}: model expects {network.layer_sizes[0]} inputs")
    if network.layer_sizes[-1] != dataset.n_classes:
        raise DataError(f"{path}: model gives {network.layer_sizes[-1]} scores, but "
                        f"{dataset.name} has {dataset.n_classes} classes")


def make_config(args, network) -> TrainConfig:
    """The TrainConfig of the options; a loaded ``network`` fixes its own layers (and its
    conv layers' settings: full batch is not offered for those). DataError if one is wrong."""
    if network is not None:
        epochs = args.epochs if args.epochs is not None else 0
    else:
        epochs = args.epochs if args.epochs is not None else DEFAULTS.epochs
    if network is not None and network.conv_specs:
        conv = [(spec.filters, spec.kernel) for spec in network.conv_specs]
        padding, pool = network.conv_specs[0].padding, network.conv_specs[0].pool
        batch = args.batch_size if args.batch_size is not None else CONV_PRESET["batch_size"]
    else:
        conv, padding, pool, batch = args.conv, args.padding, not args.no_pool, args.batch_size
    try:
        return TrainConfig(
            hidden_sizes=network.hidden_sizes if network else args.hidden,
            activation=network.activation if network else args.activation,
            optimizer=args.optimizer,
            learning_rate=args.lr or default_learning_rate(args.optimizer),
            epochs=epochs, batch_size=batch, l2=args.l2, momentum=args.momentum,
            schedule=args.schedule, seed=args.seed, validation_fraction=args.validation,
            snapshot_every=0, dtype=network.dtype.name if network else "float32",
            conv_layers=conv, conv_padding=padding, conv_pool=pool,
            augment=args.augment,
            augment_shift=DEFAULTS.augment_shift if args.augment_shift is None else args.augment_shift,
            augment_degrees=DEFAULTS.augment_degrees if args.augment_degrees is None else args.augment_degrees,
        )
    except ValueError as error:
        raise DataError(str(error)) from None


def train_until_done_or_interrupted(network, images, labels, config, validation, say):
    """``train`` with a progress line about 20 times per run; Ctrl-C stops it after the
    current step (the run keeps what it learned)."""
    stop = threading.Event()
    previous_handler = signal.signal(signal.SIGINT, lambda *_: stop.set())
    every = max(1, config.epochs // 20)

    def show(progress):
        # An epoch's end reports its accuracy; a report within the epoch (accuracy None)
        # can land exactly on the boundary too.
        if progress.accuracy is not None and progress.epoch == int(progress.epoch) and (
                int(progress.epoch) % every == 0 or progress.epoch == progress.epochs):
            history = progress.history
            val = history.validation_accuracy[-1] if history.validation_accuracy else float("nan")
            say(f"epoch {int(progress.epoch):4d}/{progress.epochs}  loss {progress.loss:.4f}  "
                f"train acc {progress.accuracy:.4f}  val acc {val:.4f}  "
                f"[{progress.elapsed:.1f} s, ~{progress.eta or 0:.1f} s left]")

    try:
        return train(network, images, labels, config, validation=validation, progress=show, stop=stop)
    finally:
        signal.signal(signal.SIGINT, previous_handler)


def print_accuracies(network, training, validation, test_set) -> dict | None:
    """Print the accuracy on the training, validation and test images; the test's summary
    for the model file (None without a test set)."""
    train_loss, train_acc = evaluate(network, *training)
    print(f"train accuracy      {train_acc:.4f}  (loss {train_loss:.4f}, {len(training[1])} images)")
    if len(validation[1]):
        val_loss, val_acc = evaluate(network, *validation)
        print(f"validation accuracy {val_acc:.4f}  (loss {val_loss:.4f}, {len(validation[1])} images)")
    if test_set is None:
        return None
    test_loss, test_acc = evaluate(network, test_set.images, test_set.labels)
    print(f"test accuracy       {test_acc:.4f}  (loss {test_loss:.4f}, {test_set.name})")
    return {"test_accuracy": test_acc, "test_loss": test_loss, "test_set": test_set.name}


def write_predictions(args, network, class_names, say) -> None:
    """Predict ``args.predict`` (a Kaggle test.csv) into ``args.submission``, or print them."""
    unlabelled = load_kaggle_csv(args.predict)
    # Class names, not numbers: "7" for digits (as Kaggle expects), "A" for EMNIST letters.
    predictions = np.asarray(class_names)[predict_proba(network, unlabelled.images).argmax(axis=1)]
    if args.submission:
        write_submission(args.submission, predictions)
        say(f"wrote {len(predictions)} predictions to {args.submission}")
    else:
        print("ImageId,Label")
        for image_id, label in enumerate(predictions.tolist(), start=1):
            print(f"{image_id},{label}")

if __name__ == "__main__":
    sys.exit(main())
