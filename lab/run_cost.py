"""What a run costs, and the server's caps on it (no Streamlit).

- memory: a network's parameter count (:func:`n_parameters`) and how often a run keeps a
  copy of its weights for the Weights page's replay (:func:`snapshot_interval`);
- time: what a run costs, from a cost model of one training step (steps x parameters, plus
  the conv layers' own work): :func:`run_seconds` on a free core, and :func:`run_cost` in
  *default runs* (the Home page's run: 15 epochs of 784-128-10, Adam, batch 128, on the
  4,500 bundled training images); what one training image costs a conv network relative to
  the default dense network (:func:`relative_cost`);
- the server's caps on one run: ``$DIGIT_LAB_MAX_SAMPLE_EPOCHS`` sample passes
  (:func:`run_size_problem`), ``$DIGIT_LAB_MAX_RUN_COST`` default runs and
  ``$DIGIT_LAB_MAX_RUN_SECONDS`` of training (:func:`run_cost_problem`; the job itself stops
  at that wall time, see ``lab.jobs.TrainingJob``), so that one participant cannot hold a
  training slot for an hour.

The cost model's coefficients and the measurements behind them are in the README ("Run size
limit"); ``python -m bench.run_cost`` measures them again.
"""

from __future__ import annotations

import math

from nn.conv import ConvSpec, conv_shapes
from nn.training import TrainConfig

from . import config

# Weight snapshots kept per run: bounded in count and in bytes, so that a wide network's
# replay does not hold hundreds of megabytes per session.
SNAPSHOT_BUDGET_BYTES = 32 * 2**20
MAX_SNAPSHOTS = 50

MAX_SAMPLE_EPOCHS_ENV = config.MAX_SAMPLE_EPOCHS
DEFAULT_MAX_SAMPLE_EPOCHS = config.VARIABLES[config.MAX_SAMPLE_EPOCHS].default
MAX_RUN_COST_ENV, MAX_RUN_SECONDS_ENV = config.MAX_RUN_COST, config.MAX_RUN_SECONDS

# The cost model of one training step (one core, one BLAS thread), in microseconds: a fixed
# part (the batch, the loop), a part per weight layer (its forward, backward and activation
# in Python), a part per parameter for the optimiser's update, whatever the batch, and per
# image a fixed part (its pixels to floats, its scores) and a part per parameter of the dense
# layers (the matrix products); conv layers add their own part per image (below). Fitted by
# `python -m bench.run_cost` (README "Run size limit": within about 2x of every measured step).
STEP_MICROSECONDS = 60.0
LAYER_MICROSECONDS = 40.0
UPDATE_MICROSECONDS_PER_PARAMETER = {"sgd": 0.003, "momentum": 0.004, "nesterov": 0.004,
                                     "rmsprop": 0.005, "adam": 0.006}
IMAGE_MICROSECONDS = 2.0
MICROSECONDS_PER_PARAMETER_IMAGE = 0.00008
EVALUATION_SHARE = 1 / 3  # a validation image: the forward pass only
# The unit of run_cost: the Home page's run (lab.settings.GOOD_DEFAULT; a test checks they
# agree) on the bundled images' 4,500 training and 500 validation images.
DEFAULT_RUN = TrainConfig(hidden_sizes=(128,), optimizer="adam", learning_rate=1e-3, epochs=15, batch_size=128,
                          snapshot_every=0)
DEFAULT_RUN_IMAGES = (4500, 500)

# The cost model of one training image (batch 64, Adam, one core), in microseconds:
# a fixed part, a part per multiply-add of the conv layers and a part per entry of their
# im2col matrices (k*k*C_in per output position); the dense default's time is the unit.
CONV_FIXED_MICROSECONDS = 100.0
CONV_MICROSECONDS_PER_MULTIPLY_ADD = 1.3e-4
CONV_MICROSECONDS_PER_IM2COL_ENTRY = 5e-3
DENSE_MICROSECONDS_PER_IMAGE = 11.0


def conv_map_shapes(conv_layers, padding: str, pool: bool, side: int = 28):
    """``nn.conv.conv_shapes`` for (filters, kernel) pairs: per block ((H, W, F) after the
    convolution, (H', W', F) after the pool). ValueError when the maps shrink to nothing."""
    return conv_shapes([ConvSpec(int(f), int(k), padding, bool(pool)) for f, k in conv_layers], (side, side))


def n_parameters(hidden_sizes, n_inputs: int = 784, n_classes: int = 10, conv_layers=(),
                 conv_padding: str = "valid", conv_pool: bool = True) -> int:
    """Weights and biases of the network: dense layers ``n_inputs -> hidden_sizes ->
    n_classes``, after the conv blocks ``conv_layers`` ((filters, kernel) each) if any,
    whose flattened maps are then the dense layers' inputs."""
    conv = 0
    if conv_layers:
        channels = 1
        for filters, kernel in conv_layers:
            conv += kernel * kernel * channels * filters + filters
            channels = filters
        side = math.isqrt(n_inputs)
        n_inputs = math.prod(conv_map_shapes(conv_layers, conv_padding, conv_pool, side)[-1][1])
    sizes = (n_inputs, *hidden_sizes, n_classes)
    return conv + sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def config_parameters(train_config: TrainConfig, n_inputs: int = 784, n_classes: int = 10) -> int:
    """Parameters of the network ``train_config`` builds (see :func:`n_parameters`)."""
    return n_parameters(train_config.hidden_sizes, n_inputs, n_classes, train_config.conv_layers,
                        train_config.conv_padding, train_config.conv_pool)


def snapshot_interval(epochs: int, hidden_sizes=(10,), n_params: int | None = None) -> int:
    """Epochs between weight snapshots: at most MAX_SNAPSHOTS per run, and at most
    SNAPSHOT_BUDGET_BYTES of them.

    n_params: the network's parameter count (default: a dense 784-hidden-10 network's).
    """
    bytes_per_snapshot = 4 * (n_params or n_parameters(hidden_sizes))  # float32
    keep = max(2, min(MAX_SNAPSHOTS, SNAPSHOT_BUDGET_BYTES // bytes_per_snapshot))
    return max(1, -(-epochs // keep))


def max_sample_epochs(environ=None) -> int:
    """The server's cap on one run: ``$DIGIT_LAB_MAX_SAMPLE_EPOCHS`` (see :mod:`lab.config`)."""
    return config.get(config.MAX_SAMPLE_EPOCHS, environ)


def conv_image_microseconds(train_config: TrainConfig, side: int = 28) -> float:
    """What one training image costs the conv layers of ``train_config`` (0 without any)."""
    if not train_config.conv_layers:
        return 0.0
    multiply_adds = im2col = 0
    channels = 1
    shapes = conv_map_shapes(train_config.conv_layers, train_config.conv_padding, train_config.conv_pool, side)
    for (filters, kernel), ((height, width, _), _) in zip(train_config.conv_layers, shapes):
        im2col += height * width * kernel * kernel * channels
        multiply_adds += height * width * kernel * kernel * channels * filters
        channels = filters
    return (CONV_FIXED_MICROSECONDS + CONV_MICROSECONDS_PER_MULTIPLY_ADD * multiply_adds
            + CONV_MICROSECONDS_PER_IM2COL_ENTRY * im2col)


def relative_cost(train_config: TrainConfig, side: int = 28) -> float:
    """How many times the default dense network's time one training image costs with
    ``train_config`` (1.0 for every dense network: the sample-pass cap was set for those)."""
    if not train_config.conv_layers:
        return 1.0
    return max(1.0, conv_image_microseconds(train_config, side) / DENSE_MICROSECONDS_PER_IMAGE)


def run_size_problem(epochs: int, n_train: int, limit: int | None = None, cost: float = 1.0) -> str | None:
    """The message for a run larger than the server allows, else None.

    limit: the cap in dense sample passes (default :func:`max_sample_epochs`);
    cost: how many sample passes one image counts for (:func:`relative_cost`).
    """
    limit = max_sample_epochs() if limit is None else limit
    passes = int(epochs) * int(n_train)
    if passes * cost <= limit:
        return None
    most = max(1, int(limit / cost) // max(int(n_train), 1))
    if cost > 1:
        fewer = (f"Choose at most {most:,} epoch{'s' if most > 1 else ''} for this dataset, or "
                 if int(limit / cost) >= int(n_train) else "Even one epoch is too much: choose ")
        return (f"{epochs} epochs x {n_train:,} training images = {passes:,} sample passes, and one "
                f"image costs this convolutional network about {cost:.0f} times what it costs the "
                f"default dense network: more than this server allows per run ({limit:,} dense sample "
                f"passes). {fewer}fewer or smaller filters, or max-pooling "
                f"(the limit is set with ${MAX_SAMPLE_EPOCHS_ENV}).")
    return (f"{epochs} epochs x {n_train:,} training images = {passes:,} sample passes, more "
            f"than this server allows per run ({limit:,}). Choose at most {most:,} epochs "
            f"for this dataset (the limit is set with ${MAX_SAMPLE_EPOCHS_ENV}).")


# -- the run-cost model: steps x parameters, in default runs ---------------------------------


def _conv_parameters(conv_layers) -> int:
    channels, total = 1, 0
    for filters, kernel in conv_layers:
        total += kernel * kernel * channels * filters + filters
        channels = filters
    return total


def run_seconds(train_config: TrainConfig, n_train: int, n_validation: int = 0, n_classes: int = 10,
                n_inputs: int = 784) -> float:
    """What the cost model expects ``train_config`` to take on ``n_train`` training images
    (and ``n_validation`` evaluated after each epoch), on a free core, in seconds."""
    n_train = max(int(n_train), 1)
    batch = n_train if train_config.batch_size is None else min(int(train_config.batch_size), n_train)
    steps_per_epoch = math.ceil(n_train / batch)
    total = config_parameters(train_config, n_inputs, n_classes)
    dense = total - _conv_parameters(train_config.conv_layers)
    weight_layers = len(train_config.conv_layers) + len(train_config.hidden_sizes) + 1
    updates = UPDATE_MICROSECONDS_PER_PARAMETER
    update = updates.get(train_config.optimizer, max(updates.values()))
    per_step = STEP_MICROSECONDS + LAYER_MICROSECONDS * weight_layers + update * total
    per_image = (IMAGE_MICROSECONDS + MICROSECONDS_PER_PARAMETER_IMAGE * dense
                 + conv_image_microseconds(train_config, math.isqrt(n_inputs)))
    evaluated = EVALUATION_SHARE * max(int(n_validation), 0)
    per_epoch = steps_per_epoch * per_step + (n_train + evaluated) * per_image
    return int(train_config.epochs) * per_epoch / 1e6


def default_run_seconds() -> float:
    """What the cost model expects the default run to take (the unit of :func:`run_cost`)."""
    return run_seconds(DEFAULT_RUN, *DEFAULT_RUN_IMAGES)


def run_cost(train_config: TrainConfig, n_train: int, n_validation: int = 0, n_classes: int = 10) -> float:
    """How many default runs ``train_config`` costs on these images (see :func:`run_seconds`)."""
    return run_seconds(train_config, n_train, n_validation, n_classes) / default_run_seconds()


def max_run_cost(environ=None) -> float:
    """The server's cap on one run in default runs: ``$DIGIT_LAB_MAX_RUN_COST`` (see :mod:`lab.config`)."""
    return config.get(config.MAX_RUN_COST, environ)


def max_run_seconds(environ=None) -> float:
    """How long one run may train: ``$DIGIT_LAB_MAX_RUN_SECONDS`` (see :mod:`lab.config`)."""
    return config.get(config.MAX_RUN_SECONDS, environ)


def time_text(seconds: float) -> str:
    """"under 1 s", "45 s", "4 min", "2 h 05 min": a duration as a person reads an estimate."""
    seconds = max(0.0, float(seconds))
    if seconds < 0.5:
        return "under 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60:02d} min"


def run_cost_problem(train_config: TrainConfig, n_train: int, n_validation: int = 0, n_classes: int = 10, *,
                     limit: float | None = None, max_seconds: float | None = None) -> str | None:
    """The message for a run the cost model prices over the server's caps, else None: more
    than ``limit`` default runs (default :func:`max_run_cost`), or longer than ``max_seconds``
    of training (default :func:`max_run_seconds`) on a free core."""
    limit = max_run_cost() if limit is None else float(limit)
    max_seconds = max_run_seconds() if max_seconds is None else float(max_seconds)
    seconds = run_seconds(train_config, n_train, n_validation, n_classes)
    cost = seconds / default_run_seconds()
    if cost <= limit and seconds <= max_seconds:
        return None
    epochs = max(int(train_config.epochs), 1)
    per_epoch = seconds / epochs
    most = int(min(limit * default_run_seconds(), max_seconds) / per_epoch) if per_epoch > 0 else epochs
    batch = "the full batch" if train_config.batch_size is None else f"batches of {train_config.batch_size:,}"
    steps = epochs * math.ceil(max(int(n_train), 1) / min(train_config.batch_size or n_train, max(int(n_train), 1)))
    what = (f"{epochs:,} epochs of {batch} on {n_train:,} images = {steps:,} steps of a network with "
            f"{config_parameters(train_config, n_classes=n_classes):,} parameters: about {cost:,.0f} times the "
            f"default run, {time_text(seconds)} of training on a free core")
    caps = (f"this server allows {limit:g} default runs (`{MAX_RUN_COST_ENV}`) and stops a run after "
            f"{time_text(max_seconds)} of training (`{MAX_RUN_SECONDS_ENV}`)")
    fewer = (f"Choose at most {most:,} epoch{'s' if most != 1 else ''}, or " if most >= 1 else
             "Even one epoch is too much: choose ")
    return f"{what}; {caps}. {fewer}larger batches or a smaller network."
