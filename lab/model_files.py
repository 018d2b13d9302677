"""Model files in the lab: a run saved as ``.npz`` (with its settings and curves in the
metadata), and an uploaded ``.npz`` turned back into a run. Files are read with
``allow_pickle=False``; a malformed one raises ``ModelFileError`` with a clear message.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from datasets import DIGIT_CLASS_NAMES, class_noun
from nn.conv import MAX_CONV_BATCH
from nn.model_io import ModelFileError, load_model, model_to_bytes
from nn.network import Network
from nn.training import History, TrainConfig, evaluate, predict_proba

from .data import N_CLASSES, N_INPUTS, display_name

MAX_CURVE_POINTS = 10_000  # epochs read back from a model file's metadata
# Weights and biases an uploaded model may have: above every network the Train page builds
# (784-512-512-512-512-10: 1,195,018), far below what its pages could not draw.
MAX_UPLOAD_PARAMETERS = 2_000_000


UPLOADED = "uploaded"  # the status of a Run that came from a model file


CURVE_FIELDS = ("epoch", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy")


def _finite_or_none(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def model_file_bytes(run) -> bytes:
    """A Run's network as a ``.npz`` model file: weights plus metadata (settings, final
    numbers, the per-epoch curves, the dataset it was trained on)."""
    history = run.history
    curves = {name: [_finite_or_none(v) for v in getattr(history, name)] for name in CURVE_FIELDS}
    summary = {k: (_finite_or_none(v) if isinstance(v, float) else v)
               for k, v in history.summary().items()}
    return model_to_bytes(
        run.network, app="Digit Lab", run=run.number, status=run.status,
        config=run.config.to_dict(), history=summary, curves=curves, dataset=run.dataset,
        test_accuracy=_finite_or_none(run.test_accuracy), seconds=_finite_or_none(run.seconds),
        class_names=list(run.class_names),
    )


def class_names_from_metadata(meta: dict, n_outputs: int, default=None) -> tuple[str, ...]:
    """What a model file's output units stand for: its ``class_names`` (saved by the app;
    ``data.class_names`` by train.py) when they are ``n_outputs`` short strings, else
    ``default`` (e.g. the data's names) when it has ``n_outputs`` names, else the digits for
    10 outputs, else "0", "1", ..."""
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    for names in (meta.get("class_names"), data.get("class_names")):
        if (isinstance(names, list) and len(names) == n_outputs and len(set(names)) == n_outputs
                and all(isinstance(n, str) and 0 < len(n) <= 12 and n.isprintable() for n in names)):
            return tuple(names)
    if default is not None and len(default) == n_outputs:
        return tuple(default)
    return DIGIT_CLASS_NAMES if n_outputs == 10 else tuple(str(k) for k in range(n_outputs))


def model_from_upload(raw: bytes, name: str | None, n_classes: int = N_CLASSES,
                      class_names=None) -> tuple[Network, dict]:
    """(network, metadata) of an uploaded ``.npz``; ModelFileError for anything unusable
    here (corrupt, pickled, wrong shapes, more than MAX_UPLOAD_PARAMETERS parameters (told by
    the file's headers, before any array is read), or not 784 inputs and one output per class
    of the data in use: ``n_classes``, named ``class_names``)."""
    label = display_name(name, "model file")
    try:
        network, meta = load_model(bytes(raw), max_parameters=MAX_UPLOAD_PARAMETERS)
    except ModelFileError as error:
        raise ModelFileError(str(error).replace("model file:", f"{label}:", 1)) from None
    sizes = network.layer_sizes
    if sizes[0] != N_INPUTS or sizes[-1] != n_classes:
        names = tuple(class_names) if class_names is not None else DIGIT_CLASS_NAMES
        theirs = class_names_from_metadata(meta, sizes[-1])
        raise ModelFileError(
            f"{label}: a {'-'.join(map(str, sizes))} network ({sizes[-1]} scores, for "
            f"{class_noun(theirs, plural=True)}); models here take {N_INPUTS} pixels and give "
            f"{n_classes} scores, one per {class_noun(names)} of the data in use. Load data with "
            "its classes on the Data page first.")
    if len(sizes) < 3:
        raise ModelFileError(f"{label}: a network without a hidden layer; the app's pages need "
                             "at least one")
    return network, meta


def _config_from_metadata(meta: dict, network: Network) -> TrainConfig:
    """The training settings stored in the file, or a plain config of the right shape."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    stored = meta.get("config")
    summary = meta.get("history") if isinstance(meta.get("history"), dict) else {}
    # The architecture always comes from the network itself. A convolutional one's conv
    # layers are listed too (the app makes them all alike; a file from elsewhere may mix
    # paddings or pools: then the first layer's stand for all, in the settings only).
    shape = {"hidden_sizes": tuple(network.hidden_sizes), "activation": network.activation}
    specs = network.conv_specs
    if specs:
        shape.update(conv_layers=tuple((s.filters, s.kernel) for s in specs), conv_padding=specs[0].padding,
                     conv_pool=specs[0].pool, batch_size=MAX_CONV_BATCH)
    if isinstance(stored, dict):
        values = {k: v for k, v in stored.items() if k in known}
        batch = values.get("batch_size")
        values.update(shape)
        if specs and isinstance(batch, int) and 1 <= batch <= MAX_CONV_BATCH:
            values["batch_size"] = batch
        try:
            return TrainConfig(**values)
        except (TypeError, ValueError, OverflowError):
            pass
    epochs = summary.get("epochs")
    return TrainConfig(**shape, epochs=epochs if isinstance(epochs, int) and 0 <= epochs <= 100_000 else 0)


def _history_from_metadata(meta: dict) -> History:
    """The per-epoch curves stored in the file (checked), else none."""
    curves = meta.get("curves")
    history = History()
    if not isinstance(curves, dict):
        return history
    columns = {}
    for name in CURVE_FIELDS:
        values = curves.get(name)
        if not isinstance(values, list) or len(values) > MAX_CURVE_POINTS:
            return History()
        converted = [_finite_or_none(v) for v in values]
        columns[name] = [float("nan") if v is None else v for v in converted]
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        return History()
    history.epoch = [int(v) if math.isfinite(v) else i + 1 for i, v in enumerate(columns["epoch"])]
    for name in CURVE_FIELDS[1:]:
        setattr(history, name, columns[name])
    return history


def run_from_model(network: Network, meta: dict, number: int, *, name: str | None = None,
                   test: tuple[np.ndarray, np.ndarray] | None = None, default_names=None):
    """A ``lab.runs.Run`` for an uploaded model: its stored settings, curves and class names
    (``default_names`` for a file without them), status "uploaded", and its accuracy on
    ``test`` (measured now, not trusted from the file)."""
    from .runs import Run

    history = _history_from_metadata(meta)
    summary = meta.get("history") if isinstance(meta.get("history"), dict) else {}
    dataset = meta.get("dataset")
    test_accuracy = evaluate(network, *test[:2])[1] if test is not None else None
    label = display_name(name, "model file")
    return Run(
        number=number,
        config=_config_from_metadata(meta, network),
        status=UPLOADED,
        message=f"Loaded from {label}.",
        network=network,
        history=history,
        dataset=(dataset[:200] if isinstance(dataset, str) else "unknown") + f" · from {label}",
        seconds=_finite_or_none(summary.get("seconds")) or 0.0,
        test_accuracy=test_accuracy,
        class_names=class_names_from_metadata(meta, network.layer_sizes[-1], default_names),
    )


def same_predictions(a: Network, b: Network, images) -> bool:
    """True when both networks give identical probabilities on ``images``."""
    return bool(np.array_equal(predict_proba(a, images), predict_proba(b, images)))
