"""The Train page's settings: allowed values, defaults, and the TrainConfig they make.

Plain Python (no Streamlit), so the translation from the page's controls to a
training configuration can be tested on its own.
"""

from __future__ import annotations

import logging
import math
import os

from nn.activations import ACTIVATIONS
from nn.conv import MAX_CONV_BATCH, PADDINGS, RECOMMENDED_CONV_CONFIG, ConvSpec, conv_shapes
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

# Convolution (issue 9): conv blocks (conv -> activation -> optional 2x2 max pool) before
# the dense layers, each with its own number of filters and all with the same kernel size,
# padding and pooling. These settings are
# optional in a settings dict: one without them (an older lab, link, preset or challenge)
# describes a dense network, exactly as before they existed. Read them with `setting`.
MAX_CONV_LAYERS = 2
MAX_FILTERS = 32
CONV_KERNELS = (3, 5, 7)
CONV_PADDINGS = PADDINGS  # "valid", "same"
PADDING_LABELS = {"valid": "valid (maps shrink)", "same": "same (maps keep their size)"}
CONV_DEFAULTS = {
    "conv_layers": 0,
    "conv_filters": 8,  # in the first conv layer
    "conv_filters_2": 16,  # in the second (when there are two)
    "conv_kernel": 5,
    "conv_padding": "valid",
    "conv_pool": True,
}
ALL_DEFAULTS = {**DEFAULT_SETTINGS, **CONV_DEFAULTS}


def setting(settings: dict, name: str):
    """``settings[name]``, or its default when the dict predates that setting."""
    return settings.get(name, ALL_DEFAULTS[name])


def recommended_conv_settings() -> dict:
    """The engine's recommended small CNN (``nn.conv.RECOMMENDED_CONV_CONFIG``) as Train
    page settings, e.g. conv 16@3x3 -> pool -> conv 32@3x3 -> pool -> 10, Adam.

    The page has no learning-rate schedule knob: should the engine's preset ever decay the
    rate, the page's run keeps it constant (measured for conv 16@3x3 + 32@3x3, Adam lr
    0.002, 10 epochs on the 4,500 bundled training images: 97.3% (seed 0) and 97.4% (seed 1)
    on the real MNIST test set at a constant rate, 97.2% and 97.1% with a cosine decay).
    """
    config = RECOMMENDED_CONV_CONFIG
    layers = [tuple(layer) for layer in config["conv_layers"]]
    return {
        **DEFAULT_SETTINGS,
        "epochs": config["epochs"], "learning_rate": config["learning_rate"],
        "layers": len(config["hidden_sizes"]), "width": max(config["hidden_sizes"], default=DEFAULT_SETTINGS["width"]),
        "activation": config["activation"], "optimizer": config["optimizer"],
        "batch_mode": BATCH_MINI, "batch_size": config["batch_size"],
        "conv_layers": len(layers), "conv_filters": layers[0][0],
        "conv_filters_2": layers[1][0] if len(layers) > 1 else CONV_DEFAULTS["conv_filters_2"],
        "conv_kernel": layers[0][1], "conv_padding": config["conv_padding"], "conv_pool": config["conv_pool"],
    }


def conv_layers_of(settings: dict) -> tuple[tuple[int, int], ...]:
    """TrainConfig's ``conv_layers``, ((filters, kernel), ...), for the page's settings."""
    n_conv = int(setting(settings, "conv_layers"))
    kernel = int(setting(settings, "conv_kernel"))
    filters = (int(setting(settings, "conv_filters")), int(setting(settings, "conv_filters_2")))
    return tuple((filters[min(i, 1)], kernel) for i in range(max(0, n_conv)))


SNAPSHOT_BUDGET_BYTES = 32 * 2**20  # weight snapshots kept per run (the Weights page replays them)
MAX_SNAPSHOTS = 50


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
        n_inputs = math.prod(_conv_shapes(conv_layers, conv_padding, conv_pool, side)[-1][1])
    sizes = (n_inputs, *hidden_sizes, n_classes)
    return conv + sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def _conv_shapes(conv_layers, padding: str, pool: bool, side: int = 28):
    """``nn.conv.conv_shapes`` for (filters, kernel) pairs: per block ((H, W, F) after the
    convolution, (H', W', F) after the pool). ValueError when the maps shrink to nothing."""
    return conv_shapes([ConvSpec(int(f), int(k), padding, bool(pool)) for f, k in conv_layers], (side, side))


def config_parameters(config: TrainConfig, n_inputs: int = 784, n_classes: int = 10) -> int:
    """Parameters of the network ``config`` builds (see :func:`n_parameters`)."""
    return n_parameters(config.hidden_sizes, n_inputs, n_classes, config.conv_layers, config.conv_padding,
                        config.conv_pool)


def snapshot_interval(epochs: int, hidden_sizes=(10,), n_params: int | None = None) -> int:
    """Epochs between weight snapshots: at most 50 per run, and at most 32 MB of them.

    n_params: the network's parameter count (default: a dense 784-hidden-10 network's).
    """
    bytes_per_snapshot = 4 * (n_params or n_parameters(hidden_sizes))  # float32
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


# A convolutional network costs far more per image than a dense one: measured on one core
# (bundled images, batch 64, Adam), a training pass over one image took about
#     100 us + 0.13 ns per multiply-add of the conv layers + 5 ns per entry of their im2col
#     matrices (k*k*C_in per output position),
# within 25% for 1-2 conv layers of 4-32 filters of 3x3-7x7 (e.g. conv 8@5x5 + pool: ~150 us,
# 2 x conv 32@7x7 'same', no pool: ~9 ms), while the default dense 784-128-10 takes ~11 us.
# So a conv run's sample passes count that many times over (the small CNN: about 17).
DENSE_MICROSECONDS_PER_IMAGE = 11.0


def relative_cost(config: TrainConfig, side: int = 28) -> float:
    """How many times the default dense network's time one training image costs with
    ``config`` (1.0 for every dense network: the cap was set for those)."""
    if not config.conv_layers:
        return 1.0
    multiply_adds = im2col = 0
    channels = 1
    shapes = _conv_shapes(config.conv_layers, config.conv_padding, config.conv_pool, side)
    for (filters, kernel), ((height, width, _), _) in zip(config.conv_layers, shapes):
        im2col += height * width * kernel * kernel * channels
        multiply_adds += height * width * kernel * kernel * channels * filters
        channels = filters
    microseconds = 100 + 1.3e-4 * multiply_adds + 5e-3 * im2col
    return max(1.0, microseconds / DENSE_MICROSECONDS_PER_IMAGE)


def run_size_problem(epochs: int, n_train: int, limit: int | None = None, cost: float = 1.0) -> str | None:
    """The message for a run larger than the server allows, else None.

    cost: how many sample passes one image counts for (:func:`relative_cost`).
    """
    limit = max_sample_epochs_from_env() if limit is None else limit
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
        n_conv = int(setting(settings, "conv_layers"))
        conv_layers = conv_layers_of(settings)
        padding, pool = str(setting(settings, "conv_padding")), setting(settings, "conv_pool")
    except KeyError as missing:
        raise ValueError(f"missing setting {missing}") from None
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid settings: {error}") from None
    problem = conv_problem(n_conv, conv_layers, padding, pool, batch_size)
    if problem:
        raise ValueError(problem)
    if not n_conv:  # the other conv knobs mean nothing then (and may hold anything)
        padding, pool = CONV_DEFAULTS["conv_padding"], CONV_DEFAULTS["conv_pool"]
    try:
        config = TrainConfig(
            conv_layers=conv_layers,
            conv_padding=padding,
            conv_pool=pool,
            hidden_sizes=(width,) * layers,
            activation=settings["activation"],
            optimizer=settings["optimizer"],
            learning_rate=float(settings["learning_rate"]),
            epochs=epochs,
            batch_size=batch_size,
            l2=float(settings["l2"]),
            seed=int(settings["seed"]),
            validation_fraction=VALIDATION_FRACTION,
            snapshot_every=snapshot_interval(
                epochs, n_params=n_parameters((width,) * layers, conv_layers=conv_layers, conv_padding=padding,
                                              conv_pool=pool)),
        )
    except KeyError as missing:
        raise ValueError(f"missing setting {missing}") from None
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid settings: {error}") from None
    if not 1 <= epochs <= MAX_EPOCHS:
        raise ValueError(f"epochs must be between 1 and {MAX_EPOCHS}, got {epochs}")
    if not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"hidden width must be between 1 and {MAX_WIDTH}, got {width}")
    lowest = 0 if n_conv else 1
    if not lowest <= layers <= MAX_LAYERS:
        raise ValueError(f"hidden layers must be between {lowest} and {MAX_LAYERS}"
                         + ("" if n_conv else " (0 needs a convolution layer)") + f", got {layers}")
    if n_train is not None:
        problem = run_size_problem(epochs, n_train, max_sample_epochs, relative_cost(config))
        if problem:
            raise ValueError(problem)
    return config


def conv_problem(n_conv: int, conv_layers, padding: str, pool, batch_size: int | None) -> str | None:
    """Why the convolution settings cannot make a network, in the Train page's words, else None."""
    if not 0 <= n_conv <= MAX_CONV_LAYERS:
        return f"convolution layers must be between 0 and {MAX_CONV_LAYERS}, got {n_conv}"
    if not n_conv:
        return None
    for number, (filters, kernel) in enumerate(conv_layers, start=1):
        if not 1 <= filters <= MAX_FILTERS:
            return f"conv layer {number}'s filters must be between 1 and {MAX_FILTERS}, got {filters}"
        if kernel not in CONV_KERNELS:
            return f"the kernel size must be one of {', '.join(map(str, CONV_KERNELS))}, got {kernel}"
    if padding not in CONV_PADDINGS or not isinstance(pool, bool):
        return f"padding must be 'valid' or 'same' and max-pool on or off, got {padding!r} and {pool!r}"
    if batch_size is None or batch_size > MAX_CONV_BATCH:
        return (f"a convolutional network trains on mini-batches of at most {MAX_CONV_BATCH:,} images "
                f"(got {'the full batch' if batch_size is None else f'batch size {batch_size:,}'}): "
                "choose Mini-batch with a smaller batch size")
    try:
        _conv_shapes(conv_layers, padding, pool)
    except ValueError as error:
        return f"{error}: use fewer conv layers, a smaller kernel, 'same' padding or no pooling"
    return None


def architecture_text(config: TrainConfig, n_inputs: int = 784, n_classes: int = 10, *,
                      shapes: bool = False) -> str:
    """The layers ``config`` builds: ``784-128-10`` for a dense network; for a conv one
    ``28×28 → conv 8@5×5 → pool → 10`` (``shapes``: with each block's map sizes,
    ``28×28 → conv 8@5×5 → 24×24×8 → pool → 12×12×8 → 10``)."""
    if not config.conv_layers:
        return "-".join(str(n) for n in (n_inputs, *config.hidden_sizes, n_classes))
    side = math.isqrt(n_inputs)
    parts = [f"{side}×{side}"]
    try:
        blocks = _conv_shapes(config.conv_layers, config.conv_padding, config.conv_pool, side)
    except ValueError:
        blocks = [None] * len(config.conv_layers)
    same = " same" if config.conv_padding == "same" else ""
    for (filters, kernel), block in zip(config.conv_layers, blocks):
        parts.append(f"conv {filters}@{kernel}×{kernel}{same}")
        if shapes and block:
            parts.append("×".join(map(str, block[0])))
        if config.conv_pool:
            parts.append("pool")
            if shapes and block:
                parts.append("×".join(map(str, block[1])))
    parts += [str(n) for n in (*config.hidden_sizes, n_classes)]
    return " → ".join(parts)


def describe_config(config: TrainConfig, n_inputs: int = 784, n_classes: int = 10) -> str:
    """E.g. ``784-128-10 ReLU, Adam lr 0.001, batch 128, 15 epochs`` (a conv network:
    ``28×28 → conv 8@5×5 → pool → 10 ReLU, ...``)."""
    sizes = architecture_text(config, n_inputs, n_classes)
    batch = "full batch" if config.batch_size is None else f"batch {config.batch_size}"
    return (f"{sizes} {ACTIVATION_LABELS.get(config.activation, config.activation)}, "
            f"{OPTIMIZER_LABELS.get(config.optimizer, config.optimizer)} lr {config.learning_rate:g}, "
            f"{batch}, {config.epochs} epochs")


# -- values that did not come from the controls (issue 7: bad input) ------------------
# The controls only offer allowed values, but a setting can arrive otherwise (a restored
# lab, an address, a test). Each is brought into the controls' range with a message
# rather than crashing the page (Streamlit refuses a slider value outside its range).
# "layers" may be 0 here: with a convolution layer no dense hidden layer is needed (the
# Train page raises it to 1 when there is none, see ui.train_panel).
_RANGES = {"epochs": (1, MAX_EPOCHS), "width": (1, MAX_WIDTH), "layers": (0, MAX_LAYERS),
           "batch_size": (1, 4500), "seed": (0, MAX_SEED), "conv_layers": (0, MAX_CONV_LAYERS),
           "conv_filters": (1, MAX_FILTERS), "conv_filters_2": (1, MAX_FILTERS)}
_NAMES = {"epochs": "Epochs", "width": "Hidden width", "layers": "Hidden layers",
          "batch_size": "Batch size", "seed": "Seed", "learning_rate": "Learning rate",
          "l2": "L2 weight decay", "conv_layers": "Convolution layers", "conv_filters": "Filters (conv layer 1)",
          "conv_filters_2": "Filters (conv layer 2)",
          "conv_kernel": "Kernel size", "conv_padding": "Padding", "conv_pool": "Max-pool"}


def clamp_setting(name: str, value):
    """(a value the control accepts, a message if ``value`` had to change, else None)."""
    default = ALL_DEFAULTS.get(name)
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
        if name == "conv_kernel":
            number = int(value)
            if number != float(value) or not number > 0:
                raise ValueError
            if number in CONV_KERNELS:
                return number, None
            nearest = min(CONV_KERNELS, key=lambda k: (abs(k - number), k))
            return nearest, f"{label} {number} is not one of {', '.join(map(str, CONV_KERNELS))}; using {nearest}."
        if name == "conv_pool" and not isinstance(value, bool):
            raise ValueError
        if name == "activation" and value not in ACTIVATION_CHOICES or \
                name == "optimizer" and value not in OPTIMIZERS or \
                name == "conv_padding" and value not in CONV_PADDINGS or \
                name == "batch_mode" and value not in (BATCH_FULL, BATCH_MINI):
            raise ValueError
        return value, None
    except (TypeError, ValueError, OverflowError):
        return default, f"{label} {value!r} is not a valid value; using {default!r}."


def _log(value: float) -> float:
    import math

    return math.log10(value) if value > 0 else -99.0
