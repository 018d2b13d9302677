"""Gradient statistics behind the Gradients page: how healthy each layer's gradient is,
a training ``History``'s per-layer records as arrays, and histograms of a layer's values
(the figures are drawn by ``ui/figures/``). Re-exported by ``nn.analysis``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Gradient-norm thresholds for ||dJ/dW[l]|| (Frobenius norm of a whole layer's gradient,
# mean cross-entropy loss). Healthy training on MNIST sits around 1e-3 .. 10.
VANISHING_GRADIENT = 1e-6
EXPLODING_GRADIENT = 1e2
# A step should change a layer's weights by roughly a thousandth of their size.
HEALTHY_UPDATE_RATIO = 1e-3

GRADIENT_EXPLANATIONS = {
    "vanishing": (
        f"Vanishing (< {VANISHING_GRADIENT:g}): the error signal has all but died out on its way "
        "back, so this layer has stopped learning (saturated sigmoid/tanh units, dead ReLUs or "
        "too many layers multiply it by numbers below 1)."
    ),
    "exploding": (
        f"Exploding (> {EXPLODING_GRADIENT:g} or not finite): each step would jump far, so the "
        "loss jumps around or becomes NaN; the learning rate is probably too high."
    ),
    "healthy": (
        f"Healthy ({VANISHING_GRADIENT:g} to {EXPLODING_GRADIENT:g}): the error signal reaches "
        "this layer with a usable size."
    ),
}


def symmetric_zmax(values, percentile: float = 99.5) -> float:
    """A colour limit ``zmax`` for a range ``[-zmax, zmax]`` centred on 0.

    The ``percentile`` of ``|values|`` (finite ones): a few outliers then saturate
    instead of washing every other value out to white. ``percentile=100`` gives the
    exact maximum. Never 0 (an all-zero array gets 1.0), so the range is valid.
    ``values`` may be one array or a list of arrays (e.g. all epochs of a replay).
    """
    if isinstance(values, np.ndarray):
        arrays = [values]
    else:
        arrays = [np.asarray(v) for v in values]
    flat = np.concatenate([np.abs(a, dtype=np.float64).reshape(-1) for a in arrays]) if arrays \
        else np.zeros(0)
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return 1.0
    zmax = float(np.percentile(flat, percentile)) if percentile < 100 else float(flat.max())
    if not zmax > 0:
        zmax = float(flat.max())
    return zmax if zmax > 0 else 1.0


# ---------------------------------------------------------------------------
# Gradients page
# ---------------------------------------------------------------------------


def classify_gradient_norm(norm: float) -> str:
    """"vanishing" (< 1e-6), "exploding" (> 1e2, NaN or infinite) or "healthy"."""
    norm = float(norm)
    if not math.isfinite(norm) or norm > EXPLODING_GRADIENT:
        return "exploding"
    if norm < VANISHING_GRADIENT:
        return "vanishing"
    return "healthy"


@dataclass
class GradientHealth:
    """One layer's latest gradient norm, its class and the one-line explanation."""

    layer: str
    norm: float
    status: str
    explanation: str


def gradient_health(norms, layer_names: Sequence[str] | None = None) -> list[GradientHealth]:
    """Classify each layer's gradient norm (e.g. ``history.layer_grad_norm[-1]``)."""
    norms = [float(n) for n in norms]
    names = list(layer_names) if layer_names is not None else layer_labels(len(norms))
    out = []
    for name, norm in zip(names, norms):
        status = classify_gradient_norm(norm)
        out.append(GradientHealth(name, norm, status, GRADIENT_EXPLANATIONS[status]))
    return out


def layer_labels(n_layers: int, layer_sizes: Sequence[int] | None = None) -> list[str]:
    """``["W1", "W2", ...]``, or ``["W1 784→128", ...]`` when the sizes are given."""
    if layer_sizes is None:
        return [f"W{i}" for i in range(1, n_layers + 1)]
    return [f"W{i} {a}→{b}" for i, (a, b) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:]), 1)]


@dataclass
class StatsArrays:
    """A History's per-layer statistics as arrays, one row per stats record.

    steps: ``(n,)``; grad_norm, weight_norm, update_ratio: ``(n, L)``;
    dead_fraction: ``(n, L - 1)`` (hidden layers; fraction of units that output 0 for
    the whole batch).
    """

    steps: np.ndarray
    grad_norm: np.ndarray
    weight_norm: np.ndarray
    update_ratio: np.ndarray
    dead_fraction: np.ndarray


def stats_arrays(history) -> StatsArrays:
    """Snapshot ``history``'s per-layer lists as arrays (safe while training appends).

    Each list is read up to the shortest length, so a record being appended by the
    training thread is either fully in or left out.
    """
    lists = [history.stats_step, history.layer_grad_norm, history.layer_weight_norm,
             history.layer_update_ratio, history.layer_dead_fraction]
    n = min(len(x) for x in lists)
    steps = np.asarray(history.stats_step[:n], dtype=np.int64)

    def matrix(rows, width=None):
        rows = rows[:n]
        if not rows:
            return np.zeros((0, width or 0))
        return np.asarray(rows, dtype=np.float64).reshape(n, -1)

    grad = matrix(history.layer_grad_norm)
    n_layers = grad.shape[1]
    return StatsArrays(steps, grad, matrix(history.layer_weight_norm, n_layers),
                       matrix(history.layer_update_ratio, n_layers),
                       matrix(history.layer_dead_fraction, max(0, n_layers - 1)))


def value_histogram(values, bins: int = 61, limit: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of ``values`` on bins symmetric around 0: ``(counts (bins,), edges (bins+1,))``.

    limit: the edges span ``[-limit, limit]`` (default: the largest finite ``|value|``);
        values beyond are counted in the outermost bins. An odd ``bins`` puts 0 in the
        middle of a bin. Non-finite values are left out. Binning here (rather than in the
        browser) keeps a 400,000-value layer down to a few dozen numbers.
    """
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    flat = flat[np.isfinite(flat)]
    if limit is None:
        limit = float(np.abs(flat).max()) if flat.size else 1.0
    limit = limit if limit > 0 else 1.0
    edges = np.linspace(-limit, limit, int(bins) + 1)
    counts, _ = np.histogram(np.clip(flat, -limit, limit), bins=edges)
    return counts, edges


def layer_histograms(arrays, bins: int = 61, percentile: float = 99.9):
    """:func:`value_histogram` per layer (e.g. ``history.last_grad_weights``).

    Each layer gets its own symmetric range (its ``percentile`` of ``|values|``),
    since layers' gradients differ by orders of magnitude.
    Returns a list of ``(counts, edges)``.
    """
    return [value_histogram(a, bins, symmetric_zmax(a, percentile)) for a in arrays]
