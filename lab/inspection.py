"""What the pages that look at a model compute before they draw it: the gradient check and
its verdicts, the unit orderings offered, how many images a filter search can afford, the
misclassified images, layer names, the strongest contributions, the most frequent
mistake, an uploaded model's metadata, runs' curves for comparison.

No Streamlit and no figures: plain functions of networks, arrays and runs, tested
directly (the NumPy analysis itself is ``nn/analysis.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from datasets import class_noun
from lab.display_text import percent
from nn.analysis import layer_names, n_conv_layers
from nn.gradcheck import gradient_check
from nn.training import predict_proba

TOP_IMAGES = 9  # training images shown for a unit or a filter
TOP_UNITS = 8  # contributing units shown (and their weight maps)
GRADCHECK_BATCH = 8
GRADCHECK_SECONDS = 1.0  # time budget of the finite differences (the check stays under 2 s)
GRADCHECK_ENTRIES = (4, 40)  # bounds of the entries checked per array
GRADCHECK_RIGHT, GRADCHECK_SUSPICIOUS = 1e-6, 1e-4  # relative errors: below right, above a bug
FILTER_IMAGES_SECONDS = 1.0  # time budget for finding the images a filter responds to most
MIN_FILTER_IMAGES = 500  # ... scanning at least this many training images


# -- the gradient check -------------------------------------------------------------------


@dataclass
class GradcheckResult:
    relative_errors: dict[str, float]
    checked_entries: dict[str, int]
    seconds: float
    batch: int
    run: tuple  # run_key of the model it checked
    skipped_entries: dict[str, int] = field(default_factory=dict)  # ±ε straddled a kink


def gradcheck_entries(network, inputs, labels, n_arrays: int,
                      budget: float = GRADCHECK_SECONDS) -> int:
    """How many entries per array the check can afford within ``budget`` seconds
    (two float64 loss evaluations each), within :data:`GRADCHECK_ENTRIES`."""
    net = network.copy(np.float64)
    x = np.asarray(inputs, dtype=np.float64)
    start = time.perf_counter()
    repeats = 3
    for _ in range(repeats):
        net.loss(x, labels)
    per_loss = max((time.perf_counter() - start) / repeats, 1e-6)
    entries = int(budget / (2 * per_loss * n_arrays))
    low, high = GRADCHECK_ENTRIES
    return max(low, min(high, entries))


def run_gradient_check(network, images, labels, batch: int = GRADCHECK_BATCH,
                       run: tuple = ()) -> GradcheckResult:
    """Backprop vs central differences on a float64 copy, ``batch`` images, bounded time.
    ``run``: the :func:`run_key` of the model, kept with the result."""
    x = np.asarray(images[:batch], dtype=np.float64)
    if np.asarray(images).dtype == np.uint8:
        x = x / 255.0
    y = np.asarray(labels[:batch])
    n_arrays = 2 * len(network.weights) + 1
    start = time.perf_counter()
    entries = gradcheck_entries(network, x, y, n_arrays)
    # Entries whose ±ε straddles a ReLU or max-pool kink are left out (and counted): a
    # conv layer's tens of thousands of z per batch put some within ε of 0 for most
    # weights, and a blank background ties many pools (relative errors up to ~0.3 on conv
    # networks without this; measured 0 of 48 checks above 1e-6 with it).
    result = gradient_check(network, x, y, max_entries=entries, skip_kinks=True)
    return GradcheckResult(result.relative_errors, result.checked_entries,
                           time.perf_counter() - start, len(y), run, result.skipped_entries)


def gradcheck_verdict(error: float) -> str:
    return "right" if error <= GRADCHECK_RIGHT else ("suspicious" if error <= GRADCHECK_SUSPICIOUS else "a bug")


def gradcheck_rows(result: GradcheckResult) -> list[dict]:
    """The check's table: one row per array (W1, b1, ..., X)."""
    return [{"array": name, "entries checked": result.checked_entries[name],
             "left out (kink)": result.skipped_entries.get(name, 0),
             "relative error": f"{error:.2e}", "verdict": gradcheck_verdict(error)}
            for name, error in result.relative_errors.items()]


# -- orderings of a layer's units ---------------------------------------------------------

ORDER_LABELS = {"index": "unit index", "norm": "weight norm (largest first)",
                "digit": "how strongly it drives digit…"}  # "digit" stands for any class here


def order_labels(names) -> dict[str, str]:
    """The orderings offered, with the class noun of ``names`` ("letter"...)."""
    return {**ORDER_LABELS, "digit": f"how strongly it drives {class_noun(names)}…"}


def order_spec(by: str, order_class: int = 0) -> str:
    """``nn.analysis.unit_order``'s ``by`` for a choice: "index", "norm" or "digit:K"
    (K a class number)."""
    return f"digit:{int(order_class)}" if by == "digit" else by


def usable_order(spec: str, n_outputs: int) -> str:
    """``spec``, or "index" when it names a class the model does not have (a choice
    remembered from a model with more outputs)."""
    if spec.startswith("digit:") and int(spec.split(":")[1]) >= n_outputs:
        return "index"
    return spec


def order_label(spec: str, names) -> str:
    """E.g. "weight norm (largest first)", "drive towards digit 7"."""
    if spec.startswith("digit:"):
        k = int(spec.split(":")[1])
        name = names[k] if 0 <= k < len(names) else str(k)
        return f"drive towards {class_noun(names)} {name}"
    return ORDER_LABELS.get(spec, spec)


# -- layers, filters, images --------------------------------------------------------------


def hidden_layer_names(network) -> list[str]:
    """A name per hidden layer (every layer but the output): ``hidden layer 1``... for a
    dense network; ``conv1 (8@5×5)``..., then ``dense layer 1``... for a convolutional one."""
    n_conv = n_conv_layers(network)
    if not n_conv:
        return [f"hidden layer {i}" for i in range(1, len(network.weights))]
    return layer_names(network)[:n_conv] + [f"dense layer {i}" for i in range(1, len(network.weights) - n_conv)]


def dead_units_text(network, hidden_names, fractions) -> str:
    """The latest share of dead units per hidden layer, e.g. "layer 1: 3%, layer 2: 0%"
    (conv layers by their names)."""
    if n_conv_layers(network):
        return ", ".join(f"{name}: {100 * f:.0f}%" for name, f in zip(hidden_names, fractions))
    return ", ".join(f"layer {i}: {100 * f:.0f}%" for i, f in enumerate(fractions, 1))


def filter_image_count(network, images) -> int:
    """How many training images ``nn.analysis.top_filter_images`` can scan within
    FILTER_IMAGES_SECONDS (all of them for small networks; measured on 64 images).
    The biggest conv network the page allows takes ~5 ms an image: all 4,500 would take 22 s."""
    sample = np.asarray(images[:64], dtype=network.dtype) / network.dtype.type(255)
    start = time.perf_counter()
    network.forward(sample, record=True)
    per_image = max((time.perf_counter() - start) / max(len(sample), 1), 1e-7)
    return int(min(len(images), max(MIN_FILTER_IMAGES, FILTER_IMAGES_SECONDS / per_image)))


def misclassified(network, images, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices, predictions, confidence) of the images the network gets wrong."""
    probabilities = predict_proba(network, images)
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    return wrong, predicted[wrong], probabilities[wrong, predicted[wrong]]


def top_contributions(contributions, target_name: str, k: int = TOP_UNITS):
    """(units, contributions, table rows) of the ``k`` units that move one class's score most
    (``contributions``: ``nn.analysis.unit_contributions``)."""
    pick = np.argsort(-np.abs(contributions.contributions), kind="stable")[:k]
    units, values = contributions.units[pick], contributions.contributions[pick]
    rows = [{"unit": int(u), "activation a": round(float(a), 4), f"weight to {target_name}": round(float(w), 4),
             "contribution a × w": round(float(c), 4)}
            for u, a, w, c in zip(units, contributions.activations[pick], contributions.weights[pick], values)]
    return units, values, rows


# -- evaluation and models ----------------------------------------------------------------


def most_frequent_mistake(counts: np.ndarray) -> tuple[int, int]:
    """(true, predicted) of the most frequent mistake of a confusion matrix ((0, 0) when there
    is none)."""
    off = np.asarray(counts).astype(np.int64).copy()
    np.fill_diagonal(off, -1)
    t, p = np.unravel_index(int(np.argmax(off)), off.shape)
    return (int(t), int(p)) if off[t, p] > 0 else (0, 0)


def model_metadata_rows(meta: dict) -> list[dict]:
    """An uploaded model file's metadata as ``{"what", "value"}`` rows (odd values shortened,
    missing ones left out)."""
    rows = []
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    summary = meta.get("history") if isinstance(meta.get("history"), dict) else {}
    for key in ("app", "run", "status", "dataset"):
        if key in meta:
            rows.append({"what": key, "value": str(meta[key])[:200]})
    for key in ("optimizer", "learning_rate", "epochs", "batch_size", "l2", "seed"):
        if key in config:
            rows.append({"what": key.replace("_", " "), "value": str(config[key])[:200]})
    for key in ("train_accuracy", "validation_accuracy"):
        if isinstance(summary.get(key), int | float):
            rows.append({"what": key.replace("_", " ") + " (when saved)", "value": percent(summary[key])})
    if isinstance(meta.get("test_accuracy"), int | float):
        rows.append({"what": "test accuracy (when saved)", "value": percent(meta["test_accuracy"])})
    return rows


def run_curves(runs, field_name: str, *, dash: str = "solid", suffix: str = "") -> list[dict]:
    """One curve per run that trained an epoch: ``{"name", "group", "epoch", "values",
    "dash"}`` for ``ui.figures.models.run_curves_figure``."""
    return [{"name": f"run {r.number}{suffix}", "group": f"run {r.number}", "epoch": r.history.epoch,
             "values": getattr(r.history, field_name), "dash": dash}
            for r in runs if r.history.epoch]
