"""The Train page's settings: allowed values, defaults, and the TrainConfig they make.

Plain Python (no Streamlit), so the translation from the page's controls to a
training configuration can be tested on its own.
"""

from __future__ import annotations

import logging
import os

from nn.activations import ACTIVATIONS
from nn.training import TrainConfig

logger = logging.getLogger(__name__)

# Log-spaced 1-2-5 steps from 1e-4 to 10 (rounded so they print cleanly).
LEARNING_RATES = tuple(
    round(mantissa * 10.0**exponent, 6)
    for exponent in range(-4, 1)
    for mantissa in (1, 2, 5)
) + (10.0,)  # ... 2, 5, 10 (not 20 and 50: the slider ends at 10)
L2_VALUES = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam")
OPTIMIZER_LABELS = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov momentum",
                    "rmsprop": "RMSprop", "adam": "Adam"}
ACTIVATION_CHOICES = tuple(sorted(ACTIVATIONS))
ACTIVATION_LABELS = {"relu": "ReLU", "leaky_relu": "Leaky ReLU", "sigmoid": "Sigmoid", "tanh": "tanh"}
BATCH_FULL, BATCH_MINI = "Full batch", "Mini-batch"

MAX_EPOCHS = 500
MAX_WIDTH = 512
MAX_LAYERS = 4
MAX_SEED = 2**31 - 1
# Share of each class held out for validation (the split is made once per dataset).
VALIDATION_FRACTION = 0.1

# A network that trains in a few seconds on the bundled 4,500 training images and
# reaches about 93% on the real 10,000-image MNIST test set (checked by a test).
GOOD_DEFAULT = {
    "epochs": 15,
    "learning_rate": 1e-3,
    "width": 128,
    "layers": 1,
    "activation": "relu",
    "optimizer": "adam",
    "batch_mode": BATCH_MINI,
    "batch_size": 128,
    "l2": 0.0,
    "seed": 0,
}
DEFAULT_SETTINGS = dict(GOOD_DEFAULT)


SNAPSHOT_BUDGET_BYTES = 32 * 2**20  # weight snapshots kept per run (the Weights page replays them)
MAX_SNAPSHOTS = 50


def n_parameters(hidden_sizes, n_inputs: int = 784, n_classes: int = 10) -> int:
    sizes = (n_inputs, *hidden_sizes, n_classes)
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def snapshot_interval(epochs: int, hidden_sizes=(10,)) -> int:
    """Epochs between weight snapshots: at most 50 per run, and at most 32 MB of them."""
    bytes_per_snapshot = 4 * n_parameters(hidden_sizes)  # float32
    keep = max(2, min(MAX_SNAPSHOTS, SNAPSHOT_BUDGET_BYTES // bytes_per_snapshot))
    return max(1, -(-epochs // keep))


def _positive_from_env(name: str, default, kind, environ=None, low=None, high=None):
    environ = os.environ if environ is None else environ
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not value > 0 or (low is not None and value < low) or \
            (high is not None and value > high):
        logger.warning("%s must be a number in [%s, %s], got %r; using %s",
                       name, low or "> 0", high or "...", text, default)
        return default
    return value


# A server-wide cap on the work one run may ask for: epochs x training images
# ("sample passes"). 5,000,000 lets every run on the bundled 4,500 images through
# (500 epochs = 2,250,000) and about 90 epochs of the full 54,000-image MNIST training
# split; at width 128 one sample pass costs ~15 us on one core, so the longest allowed
# run holds a slot for about a minute and a queue of 20 such runs on 2 cores clears in
# about 10 minutes. A facilitator can lower or raise it.
MAX_SAMPLE_EPOCHS_ENV = "DIGIT_LAB_MAX_SAMPLE_EPOCHS"
DEFAULT_MAX_SAMPLE_EPOCHS = 5_000_000


def max_sample_epochs_from_env(environ=None) -> int:
    """``$DIGIT_LAB_MAX_SAMPLE_EPOCHS`` (a positive whole number), else 5,000,000."""
    return _positive_from_env(MAX_SAMPLE_EPOCHS_ENV, DEFAULT_MAX_SAMPLE_EPOCHS, int, environ)


def run_size_problem(epochs: int, n_train: int, limit: int | None = None) -> str | None:
    """The message for a run larger than the server allows, else None."""
    limit = max_sample_epochs_from_env() if limit is None else limit
    passes = int(epochs) * int(n_train)
    if passes <= limit:
        return None
    most = max(1, limit // max(int(n_train), 1))
    return (f"{epochs} epochs x {n_train:,} training images = {passes:,} sample passes, more "
            f"than this server allows per run ({limit:,}). Choose at most {most:,} epochs "
            f"for this dataset (the limit is set with ${MAX_SAMPLE_EPOCHS_ENV}).")


# How often a page polls a running job (seconds). Each poll reruns a fragment on the
# server; see README "Workshop server" for the measurements behind the default.
POLL_SECONDS_ENV = "DIGIT_LAB_POLL_SECONDS"
DEFAULT_POLL_SECONDS = 0.5
MIN_POLL_SECONDS, MAX_POLL_SECONDS = 0.1, 10.0


def poll_seconds_from_env(environ=None) -> float:
    """``$DIGIT_LAB_POLL_SECONDS`` (0.1 ... 10), else the default."""
    return _positive_from_env(POLL_SECONDS_ENV, DEFAULT_POLL_SECONDS, float, environ,
                              MIN_POLL_SECONDS, MAX_POLL_SECONDS)


def to_config(settings: dict, n_train: int | None = None,
              max_sample_epochs: int | None = None) -> TrainConfig:
    """The TrainConfig for the page's settings; ValueError with a message if one is wrong.

    With ``n_train`` (training images), a run over the server's sample-pass cap
    (:func:`run_size_problem`) is refused too.
    """
    try:
        epochs = int(settings["epochs"])
        width = int(settings["width"])
        layers = int(settings["layers"])
        batch_size = None if settings["batch_mode"] == BATCH_FULL else int(settings["batch_size"])
        config = TrainConfig(
            hidden_sizes=(width,) * layers,
            activation=settings["activation"],
            optimizer=settings["optimizer"],
            learning_rate=float(settings["learning_rate"]),
            epochs=epochs,
            batch_size=batch_size,
            l2=float(settings["l2"]),
            seed=int(settings["seed"]),
            validation_fraction=VALIDATION_FRACTION,
            snapshot_every=snapshot_interval(epochs, (width,) * layers),
        )
    except KeyError as missing:
        raise ValueError(f"missing setting {missing}") from None
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid settings: {error}") from None
    if not 1 <= epochs <= MAX_EPOCHS:
        raise ValueError(f"epochs must be between 1 and {MAX_EPOCHS}, got {epochs}")
    if not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"hidden width must be between 1 and {MAX_WIDTH}, got {width}")
    if not 1 <= layers <= MAX_LAYERS:
        raise ValueError(f"hidden layers must be between 1 and {MAX_LAYERS}, got {layers}")
    if n_train is not None:
        problem = run_size_problem(epochs, n_train, max_sample_epochs)
        if problem:
            raise ValueError(problem)
    return config


def describe_config(config: TrainConfig, n_inputs: int = 784, n_classes: int = 10) -> str:
    """E.g. ``784-128-10 ReLU, Adam lr 0.001, batch 128, 15 epochs``."""
    sizes = "-".join(str(n) for n in (n_inputs, *config.hidden_sizes, n_classes))
    batch = "full batch" if config.batch_size is None else f"batch {config.batch_size}"
    return (f"{sizes} {ACTIVATION_LABELS.get(config.activation, config.activation)}, "
            f"{OPTIMIZER_LABELS.get(config.optimizer, config.optimizer)} lr {config.learning_rate:g}, "
            f"{batch}, {config.epochs} epochs")


# -- values that did not come from the controls (issue 7: bad input) ------------------
# The controls only offer allowed values, but a setting can arrive otherwise (a restored
# lab, an address, a test). Each is brought into the controls' range with a message
# rather than crashing the page (Streamlit refuses a slider value outside its range).
_RANGES = {"epochs": (1, MAX_EPOCHS), "width": (1, MAX_WIDTH), "layers": (1, MAX_LAYERS),
           "batch_size": (1, 4500), "seed": (0, MAX_SEED)}
_NAMES = {"epochs": "Epochs", "width": "Hidden width", "layers": "Hidden layers",
          "batch_size": "Batch size", "seed": "Seed", "learning_rate": "Learning rate",
          "l2": "L2 weight decay"}


def clamp_setting(name: str, value):
    """(a value the control accepts, a message if ``value`` had to change, else None)."""
    default = DEFAULT_SETTINGS.get(name)
    label = _NAMES.get(name, name)
    try:
        if name in ("learning_rate", "l2"):
            options = LEARNING_RATES if name == "learning_rate" else L2_VALUES
            number = float(value)
            if number in options:
                return number, None
            if number != number:  # NaN
                raise ValueError
            nearest = min(options, key=lambda option: abs(_log(option) - _log(number)))
            return nearest, (f"{label} {number:g} is not one of the choices "
                             f"({min(options):g} … {max(options):g}); using {nearest:g}.")
        if name in _RANGES:
            low, high = _RANGES[name]
            number = int(value)
            if number != float(value):
                raise ValueError
            clamped = min(max(number, low), high)
            if clamped == number:
                return number, None
            return clamped, f"{label} {number} is outside {low} … {high}; using {clamped}."
        if name == "activation" and value not in ACTIVATION_CHOICES or \
                name == "optimizer" and value not in OPTIMIZERS or \
                name == "batch_mode" and value not in (BATCH_FULL, BATCH_MINI):
            raise ValueError
        return value, None
    except (TypeError, ValueError, OverflowError):
        return default, f"{label} {value!r} is not a valid value; using {default!r}."


def _log(value: float) -> float:
    import math

    return math.log10(value) if value > 0 else -99.0
