"""What a run costs, and the server's cap on it (no Streamlit).

- memory: a network's parameter count (:func:`n_parameters`) and how often a run keeps a
  copy of its weights for the Weights page's replay (:func:`snapshot_interval`);
- time: what one training image costs a network, relative to the default dense network
  (:func:`relative_cost`), from a cost model of the conv layers;
- the server's cap on one run, ``$DIGIT_LAB_MAX_SAMPLE_EPOCHS`` sample passes
  (:func:`run_size_problem`), so that one participant cannot hold a training slot for an hour.

The cost model's coefficients and the measurements behind them are in the README ("Run size
limit").
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


def relative_cost(train_config: TrainConfig, side: int = 28) -> float:
    """How many times the default dense network's time one training image costs with
    ``train_config`` (1.0 for every dense network: the cap was set for those)."""
    if not train_config.conv_layers:
        return 1.0
    multiply_adds = im2col = 0
    channels = 1
    shapes = conv_map_shapes(train_config.conv_layers, train_config.conv_padding, train_config.conv_pool, side)
    for (filters, kernel), ((height, width, _), _) in zip(train_config.conv_layers, shapes):
        im2col += height * width * kernel * kernel * channels
        multiply_adds += height * width * kernel * kernel * channels * filters
        channels = filters
    microseconds = (CONV_FIXED_MICROSECONDS + CONV_MICROSECONDS_PER_MULTIPLY_ADD * multiply_adds
                    + CONV_MICROSECONDS_PER_IM2COL_ENTRY * im2col)
    return max(1.0, microseconds / DENSE_MICROSECONDS_PER_IMAGE)


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
