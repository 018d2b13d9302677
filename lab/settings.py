"""The Train page's settings: allowed values, defaults, ranges, labels, and the TrainConfig they make.

A settings dict (``{"epochs": 15, "learning_rate": 0.001, ...}``, see :data:`ALL_DEFAULTS`)
is what the page's controls, a link, a preset, a challenge and a saved lab hold;
:func:`to_config` turns it into an :class:`nn.training.TrainConfig` (or says what is wrong)
and :func:`clamp_setting` brings a value that did not come from the controls into their
range. What a run costs and the server's cap on it are in :mod:`lab.run_cost`; the
server's limits from the environment in :mod:`lab.config`. Plain Python (no Streamlit), so
the translation from the page's controls to a training configuration is tested on its own.
"""

from __future__ import annotations

import math

from nn.activations import ACTIVATIONS
from nn.conv import MAX_CONV_BATCH, PADDINGS, RECOMMENDED_CONV_CONFIG
from nn.training import TrainConfig

from . import jobs, run_cost
from .run_cost import conv_map_shapes, n_parameters, relative_cost, run_size_problem, snapshot_interval

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

# A network that trains in a few seconds on the bundled training images and is the Home
# page's one-button run (its accuracy on the MNIST test set is checked by a test).
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

# Convolution: conv blocks (conv -> activation -> optional 2x2 max pool) before the dense
# layers, each with its own number of filters and all with the same kernel size, padding and
# pooling. These settings are optional in a settings dict: one without them (an older lab,
# link, preset or challenge) describes a dense network, exactly as before they existed.
# Read them with `setting`.
MAX_CONV_LAYERS = 2
# The Train page's filters slider stops here, below the engine's own bound
# (nn.conv.MAX_FILTERS): the run-size cap prices a conv run with lab.run_cost's model, which
# was fitted on networks of up to this many filters per layer.
FILTERS_SLIDER_MAX = 32
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
# Augmentation (nn/augment.py): each batch's images moved by random shifts (up to 2 px) and
# rotations (up to 15°). Optional like the conv knobs: a dict without it trains without.
AUGMENT_DEFAULTS = {"augment": False}
ALL_DEFAULTS = {**DEFAULT_SETTINGS, **CONV_DEFAULTS, **AUGMENT_DEFAULTS}


def setting(settings: dict, name: str):
    """``settings[name]``, or its default when the dict predates that setting."""
    return settings.get(name, ALL_DEFAULTS[name])


def recommended_conv_settings() -> dict:
    """The engine's recommended small CNN (``nn.conv.RECOMMENDED_CONV_CONFIG``) as Train
    page settings, e.g. conv 16@3x3 -> pool -> conv 32@3x3 -> pool -> 10, Adam.

    The page has no learning-rate schedule knob: should the engine's preset ever decay the
    rate, the page's run keeps it constant (the README's "Run size limit and the cost of a
    conv run" compares the two).
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


def to_config(settings: dict, n_train: int | None = None,
              max_sample_epochs: int | None = None) -> TrainConfig:
    """The TrainConfig for the page's settings; ValueError with a message if one is wrong.

    With ``n_train`` (training images), a run over the server's sample-pass cap
    (:func:`lab.run_cost.run_size_problem`) is refused too.
    """
    try:
        epochs = int(settings["epochs"])
        width = int(settings["width"])
        layers = int(settings["layers"])
        batch_size = None if settings["batch_mode"] == BATCH_FULL else int(settings["batch_size"])
        n_conv = int(setting(settings, "conv_layers"))
        conv_layers = conv_layers_of(settings)
        padding, pool = str(setting(settings, "conv_padding")), setting(settings, "conv_pool")
        augment = setting(settings, "augment")
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
            augment=augment,
            validation_fraction=VALIDATION_FRACTION,
            snapshot_every=snapshot_interval(
                epochs, n_params=n_parameters((width,) * layers, conv_layers=conv_layers, conv_padding=padding,
                                              conv_pool=pool)),
        )
    except KeyError as missing:
        raise ValueError(f"missing setting {missing}") from None
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid settings: {error}") from None
    problem = range_problem(epochs, width, layers, n_conv)
    if problem:
        raise ValueError(problem)
    if n_train is not None:
        problem = run_size_problem(epochs, n_train, max_sample_epochs, relative_cost(config))
        if problem:
            raise ValueError(problem)
    return config


def range_problem(epochs: int, width: int, layers: int, n_conv: int) -> str | None:
    """What is out of the Train page's ranges in these settings, or None."""
    if not 1 <= epochs <= MAX_EPOCHS:
        return f"epochs must be between 1 and {MAX_EPOCHS}, got {epochs}"
    if not 1 <= width <= MAX_WIDTH:
        return f"hidden width must be between 1 and {MAX_WIDTH}, got {width}"
    lowest = 0 if n_conv else 1
    if not lowest <= layers <= MAX_LAYERS:
        return (f"hidden layers must be between {lowest} and {MAX_LAYERS}"
                + ("" if n_conv else " (0 needs a convolution layer)") + f", got {layers}")
    return None


def conv_problem(n_conv: int, conv_layers, padding: str, pool, batch_size: int | None) -> str | None:
    """Why the convolution settings cannot make a network, in the Train page's words, else None."""
    if not 0 <= n_conv <= MAX_CONV_LAYERS:
        return f"convolution layers must be between 0 and {MAX_CONV_LAYERS}, got {n_conv}"
    if not n_conv:
        return None
    for number, (filters, kernel) in enumerate(conv_layers, start=1):
        if not 1 <= filters <= FILTERS_SLIDER_MAX:
            return f"conv layer {number}'s filters must be between 1 and {FILTERS_SLIDER_MAX}, got {filters}"
        if kernel not in CONV_KERNELS:
            return f"the kernel size must be one of {', '.join(map(str, CONV_KERNELS))}, got {kernel}"
    if padding not in CONV_PADDINGS or not isinstance(pool, bool):
        return f"padding must be 'valid' or 'same' and max-pool on or off, got {padding!r} and {pool!r}"
    if batch_size is None or batch_size > MAX_CONV_BATCH:
        return (f"a convolutional network trains on mini-batches of at most {MAX_CONV_BATCH:,} images "
                f"(got {'the full batch' if batch_size is None else f'batch size {batch_size:,}'}): "
                "choose Mini-batch with a smaller batch size")
    try:
        conv_map_shapes(conv_layers, padding, pool)
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
        blocks = conv_map_shapes(config.conv_layers, config.conv_padding, config.conv_pool, side)
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
            f"{batch}, {config.epochs} epochs" + (", augmented" if config.augment else ""))


# -- values that did not come from the controls ----------------------------------------
# The controls only offer allowed values, but a setting can arrive otherwise (a restored
# lab, an address, a test). Each is brought into the controls' range with a message
# rather than crashing the page (Streamlit refuses a slider value outside its range).
# "layers" may be 0 here: with a convolution layer no dense hidden layer is needed (the
# Train page raises it to 1 when there is none).
_RANGES = {"epochs": (1, MAX_EPOCHS), "width": (1, MAX_WIDTH), "layers": (0, MAX_LAYERS),
           "batch_size": (1, 4500), "seed": (0, MAX_SEED), "conv_layers": (0, MAX_CONV_LAYERS),
           "conv_filters": (1, FILTERS_SLIDER_MAX), "conv_filters_2": (1, FILTERS_SLIDER_MAX)}
SETTING_LABELS = {"epochs": "Epochs", "width": "Hidden width", "layers": "Hidden layers",
          "batch_size": "Batch size", "seed": "Seed", "learning_rate": "Learning rate",
          "l2": "L2 weight decay", "conv_layers": "Convolution layers", "conv_filters": "Filters (conv layer 1)",
          "conv_filters_2": "Filters (conv layer 2)",
          "conv_kernel": "Kernel size", "conv_padding": "Padding", "conv_pool": "Max-pool",
          "augment": "Augment"}


def clamp_setting(name: str, value):
    """(a value the control accepts, a message if ``value`` had to change, else None)."""
    default = ALL_DEFAULTS.get(name)
    label = SETTING_LABELS.get(name, name)
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
        if name in ("conv_pool", "augment") and not isinstance(value, bool):
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
    return math.log10(value) if value > 0 else -99.0


# -- names that moved out of this module ------------------------------------------------
# Still importable from here, so that callers outside lab/ keep working until they import
# them from where they now live (lab.run_cost, lab.jobs, lab.config).
MAX_FILTERS = FILTERS_SLIDER_MAX  # the slider's limit; the engine's own is nn.conv.MAX_FILTERS
config_parameters = run_cost.config_parameters
SNAPSHOT_BUDGET_BYTES, MAX_SNAPSHOTS = run_cost.SNAPSHOT_BUDGET_BYTES, run_cost.MAX_SNAPSHOTS
MAX_SAMPLE_EPOCHS_ENV = run_cost.MAX_SAMPLE_EPOCHS_ENV
DEFAULT_MAX_SAMPLE_EPOCHS = run_cost.DEFAULT_MAX_SAMPLE_EPOCHS
max_sample_epochs_from_env = run_cost.max_sample_epochs
POLL_SECONDS_ENV, DEFAULT_POLL_SECONDS = jobs.POLL_SECONDS_ENV, jobs.DEFAULT_POLL_SECONDS
poll_seconds_from_env = jobs.poll_seconds
