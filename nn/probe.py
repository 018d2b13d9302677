"""Probing a trained network: what it thinks a class looks like, how to fool it, and
what breaks when parts of it go. NumPy only, through the network's own layers.

Every probe needs one thing backpropagation already computes: how a number at the end
of the network changes with each input pixel. ``Network.backward`` starts from the
loss, ``dJ/dZ[L] = (P - Y) / m``; here the backward pass starts from any ``dS/dZ[L]``
(the logits' gradient of a score S) and runs the same layers in reverse down to the
pixels (:func:`input_gradient`)::

    S = z_c                 dS/dz = onehot(c)          a class's logit (its "score")
    S = log p_c             dS/dz = onehot(c) - p      its log-probability

Dream (:func:`dream`): gradient *ascent* on the image, from a blank field or a chosen
image: ``x <- clip(x + step * g / mean|g|, 0, 1)`` with ``g = dS/dx - l2 * x``, the gradient
blurred every step and the image every few. Unregularised, the ascent finds speckled noise
that excites the class; the L2 term keeps ink where it earns its keep and the blur joins
it into strokes.

Fool (:func:`fgsm`, :func:`iterative_attack`): move each pixel by at most epsilon in the
direction that lowers the loss of a target class (or raises the loss of the true one):
the fast gradient sign method ``x + eps * sign(grad)`` in one step, or in many small steps
kept within ``eps`` of the original (projected gradient descent on the L-infinity ball).

Break (:func:`forward_with_units_off`, :func:`pruned`, :func:`with_weight_noise`,
:func:`unit_importance`): switch hidden units off (their output set to 0), remove the
smallest weights, add noise to the weights, and measure what is left.

(One module of about 500 lines: the three probes share the input gradient and the run
through the layers above, and read best side by side.)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .analysis import as_float_image
from .network import Network
from .speed import NO_BUFFERS

SCORES = ("logit", "log_probability")
ATTACKS = ("fgsm", "iterative")


# -- the gradient of a score with respect to the input ---------------------------------
@dataclass
class Trace:
    """One forward pass that keeps the logits: ``outputs`` = [input, each layer's output]
    (the last, (m, n_classes), are the logits; no softmax applied), ``memos`` per layer."""

    outputs: list[np.ndarray]
    memos: list

    @property
    def logits(self) -> np.ndarray:
        return self.outputs[-1]


def as_float_batch(network: Network, images) -> np.ndarray:
    """``images`` (m, n_inputs) uint8 (0-255) or floats in [0, 1] as the network's float type."""
    images = np.asarray(images)
    if images.ndim == 1:
        images = images[None, :]
    if images.ndim != 2 or images.shape[1] != network.layer_sizes[0]:
        raise ValueError(f"expected images of shape (m, {network.layer_sizes[0]}), got {images.shape}")
    if images.dtype == np.uint8:
        return images.astype(network.dtype) * network.dtype.type(1 / 255)
    return np.array(images, dtype=network.dtype)  # a copy: the probes move it


def run_layers(network: Network, inputs: np.ndarray, start: int = 0,
               units_off: dict[int, Sequence[int]] | None = None) -> Trace:
    """Apply ``network.layers[start:]`` to ``inputs`` (the input of layer ``start``; for
    ``start == 0`` (m, n_inputs)), keeping every output and the logits.

    units_off: hidden layer number (1-based, :func:`hidden_layers`) -> units whose output is
    set to 0 right after that layer's activation (a conv layer's units are its filters).
    """
    m = len(inputs)
    a = inputs.reshape(m, *network.input_shape) if start == 0 and len(network.input_shape) > 1 else inputs
    masks = _unit_masks(network, units_off or {})
    outputs, memos = [a], []
    for index, (layer, params) in enumerate(zip(network.layers[start:], network.layer_parameters()[start:]), start):
        a, memo = layer.forward(a, params)
        if index in masks:
            a = a * masks[index]  # a new array: the layer's own output stays what it computed
        outputs.append(a)
        memos.append(memo)
    return Trace(outputs, memos)


def input_gradient(network: Network, trace: Trace, logit_gradient: np.ndarray) -> np.ndarray:
    """``dS/dX`` (m, n_inputs): the backward pass of ``network`` for the forward pass
    ``trace`` (from layer 0, without unit masks), started from ``dS/dZ[L] = logit_gradient``
    (m, n_classes) instead of the loss's ``(P - Y) / m``. Each layer's own ``backward``."""
    grad = np.array(logit_gradient, dtype=network.dtype)
    params = network.layer_parameters()
    for index, reads in network.backward_order:  # the last layer first, as Network.backward
        grads = (None, None) if params[index] else ()
        grad, _ = network.layers[index].backward(grad, trace.outputs[index], trace.outputs[reads], trace.memos[index],
                                                 params[index], grads, NO_BUFFERS, input_gradient=True)
    return grad.reshape(len(grad), -1)


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (m, k) logits, in float64 (a new array)."""
    shifted = np.asarray(logits, np.float64) - np.max(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def class_score_gradient(network: Network, images, classes, score: str = "logit") -> tuple[np.ndarray, np.ndarray]:
    """(scores (m,), dS/dX (m, n_inputs)): each image's score for its class in ``classes``
    ((m,) or one class for all) and how every pixel changes it.

    score: "logit" (the class's z, before the softmax) or "log_probability" (log p_c).
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    x = as_float_batch(network, images)
    m, n_classes = len(x), network.layer_sizes[-1]
    classes = np.broadcast_to(np.asarray(classes, np.intp), (m,))
    if classes.size and (classes.min() < 0 or classes.max() >= n_classes):
        raise ValueError(f"classes must be 0..{n_classes - 1}")
    trace = run_layers(network, x)
    rows = np.arange(m)
    seed = np.zeros((m, n_classes), np.float64)
    seed[rows, classes] = 1.0
    logits = trace.logits
    if score == "logit":
        values = logits[rows, classes].astype(np.float64)
    else:
        probabilities = softmax_rows(logits)
        shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
        values = shifted[rows, classes] - np.log(np.exp(shifted).sum(axis=1))
        seed -= probabilities
    return values, input_gradient(network, trace, seed)


# -- dream ------------------------------------------------------------------------------
@dataclass
class Dream:
    """The dreamt images and how the network reads them.

    images: (k, n_inputs) floats in [0, 1], one per class of ``classes`` (k,);
    probabilities: (k, n_classes) the network's output for each; steps; seconds.
    """

    images: np.ndarray
    classes: np.ndarray
    probabilities: np.ndarray
    steps: int
    seconds: float

    @property
    def confidence(self) -> np.ndarray:
        """(k,) the probability each image gets for the class it was dreamt for."""
        return self.probabilities[np.arange(len(self.classes)), self.classes]


def smooth(images: np.ndarray, side: int = 28) -> np.ndarray:
    """Each (side x side) image of ``images`` (m, side*side) blurred by the 3 x 3 kernel
    [1 2 1]^T [1 2 1] / 16 (a small Gaussian), paper outside the field: a new array."""
    squares = images.reshape(len(images), side, side)
    padded = np.pad(squares, ((0, 0), (1, 1), (1, 1)))
    rows = padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]
    blurred = (rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:]) / 16
    return blurred.reshape(len(images), -1).astype(images.dtype, copy=False)


def dream(network: Network, classes=None, *, start=None, steps: int = 120, step_size: float = 0.05,
          l2: float = 0.1, blur_every: int = 4, smooth_gradient: bool = True, score: str = "logit",
          progress: Callable[[float], None] | None = None) -> Dream:
    """For every class of ``classes`` (default all), the image that maximises its score:
    gradient ascent on the pixels, all classes at once as one batch.

    start: None (a blank field) or one image (n_inputs,), uint8 or floats in [0, 1],
        that every class starts from.
    steps: ascent steps; step_size: how far each moves a pixel, on average (the gradient
        divided by its mean size, so the step means the same for any network).
    l2: weight of the penalty ``l2/2 ||x||^2``: ink only where it raises the score.
    blur_every: every this many steps the images are smoothed (:func:`smooth`); 0 = never.
    smooth_gradient: smooth each step's gradient too, so that neighbouring pixels move
        together (strokes rather than speckles).
    progress: called with the fraction done (0..1) after every step.
    """
    started = time.perf_counter()
    n_classes, n_inputs = network.layer_sizes[-1], network.layer_sizes[0]
    classes = np.arange(n_classes) if classes is None else np.asarray(classes, np.intp).reshape(-1)
    if start is None:
        x = np.zeros((len(classes), n_inputs), network.dtype)
    else:
        x = np.repeat(as_float_image(start, network.dtype.type)[None, :], len(classes), axis=0)
    side = math.isqrt(n_inputs)
    for step in range(1, steps + 1):
        _, gradient = class_score_gradient(network, x, classes, score)
        if smooth_gradient and side * side == n_inputs:
            gradient = smooth(smooth(gradient, side), side)
        gradient -= network.dtype.type(l2) * x
        size = np.abs(gradient).mean(axis=1, keepdims=True) + 1e-12
        x += network.dtype.type(step_size) * gradient / size
        np.clip(x, 0, 1, out=x)
        if blur_every and step % blur_every == 0 and side * side == n_inputs:
            x = smooth(x, side)
        if progress is not None:
            progress(step / steps)
    probabilities = softmax_rows(run_layers(network, x).logits)
    return Dream(x, classes, probabilities, steps, time.perf_counter() - started)


# -- fool -------------------------------------------------------------------------------
@dataclass
class Attack:
    """What an attack did to a batch.

    originals, adversarial: (m, n_inputs) floats in [0, 1]; labels (m,); target: the class
    aimed at (None: any wrong class); epsilon: the most any pixel moved; method;
    predicted_before / predicted (m,) and probabilities (m, n_classes) of the
    adversarial images; fooled (m,): right before, and now the target (or, with no
    target, anything but the label).
    """

    originals: np.ndarray
    adversarial: np.ndarray
    labels: np.ndarray
    target: int | None
    epsilon: float
    method: str
    predicted_before: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray
    fooled: np.ndarray

    @property
    def perturbation(self) -> np.ndarray:
        """(m, n_inputs) adversarial - original: each pixel's change, in [-epsilon, epsilon]."""
        return self.adversarial - self.originals

    @property
    def n_correct_before(self) -> int:
        return int(np.count_nonzero(self.predicted_before == self.labels))

    @property
    def fooling_rate(self) -> float:
        """The share of the images read right before that the attack fooled."""
        return float(self.fooled.sum() / self.n_correct_before) if self.n_correct_before else float("nan")


def _loss_gradient_sign(network: Network, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """sign(dJ/dX) of the cross-entropy of ``classes``: (m, n_inputs) in {-1, 0, 1}."""
    _, gradients = network.gradients(x, classes, input_gradient=True)
    return np.sign(gradients.inputs)


def _direction(network: Network, x: np.ndarray, labels: np.ndarray, target: int | None) -> np.ndarray:
    """Where each pixel should move: down the loss of the target, or up the loss of the label."""
    if target is None:
        return _loss_gradient_sign(network, x, labels)
    return -_loss_gradient_sign(network, x, np.full(len(x), target, np.intp))


def _checked_attack(network: Network, images, labels, epsilon: float, target: int | None):
    x = as_float_batch(network, images)
    labels = np.asarray(labels, np.intp).reshape(-1)
    if labels.shape != (len(x),):
        raise ValueError(f"expected {len(x)} labels, got shape {labels.shape}")
    if not (math.isfinite(epsilon) and 0 <= epsilon <= 1):
        raise ValueError(f"epsilon must be in [0, 1] (pixel values), got {epsilon}")
    n_classes = network.layer_sizes[-1]
    if target is not None and not 0 <= int(target) < n_classes:
        raise ValueError(f"target must be a class 0..{n_classes - 1}, got {target}")
    return x, labels, None if target is None else int(target)


def _attack_result(network, x, adversarial, labels, target, epsilon, method) -> Attack:
    before = network.predict(x)
    probabilities = network.predict_proba(adversarial)
    predicted = probabilities.argmax(axis=1)
    hit = predicted != labels if target is None else predicted == target
    fooled = (before == labels) & hit & (labels != (target if target is not None else -1))
    return Attack(x, adversarial, labels, target, float(epsilon), method, before, predicted, probabilities, fooled)


def fgsm(network: Network, images, labels, epsilon: float, target: int | None = None) -> Attack:
    """The fast gradient sign method: every pixel moved by ``epsilon`` (then clipped to
    [0, 1]) in the direction that lowers the loss of ``target`` (None: raises the loss of
    the true label), in one step. ``images`` (m, n_inputs) uint8 or [0, 1] floats."""
    x, labels, target = _checked_attack(network, images, labels, epsilon, target)
    adversarial = np.clip(x + network.dtype.type(epsilon) * _direction(network, x, labels, target), 0, 1)
    return _attack_result(network, x, adversarial, labels, target, epsilon, "fgsm")


def iterative_attack(network: Network, images, labels, epsilon: float, target: int | None = None, *,
                     steps: int = 10) -> Attack:
    """Projected gradient descent in the L-infinity ball: ``steps`` FGSM steps of
    2.5 epsilon / steps, each followed by clipping back to within ``epsilon`` of the
    original and to [0, 1]. An image stops moving once it is fooled."""
    x, labels, target = _checked_attack(network, images, labels, epsilon, target)
    epsilons = np.full((len(x), 1), epsilon, network.dtype)
    adversarial = _projected_steps(network, x, labels, epsilons, target, steps)
    return _attack_result(network, x, adversarial, labels, target, epsilon, "iterative")


def _projected_steps(network: Network, x: np.ndarray, labels: np.ndarray, epsilons: np.ndarray,
                     target: int | None, steps: int) -> np.ndarray:
    """The iterative attack's images, each row within its own ``epsilons`` (m, 1) of ``x``."""
    alpha = epsilons * network.dtype.type(2.5 / steps)
    low, high = np.maximum(x - epsilons, 0), np.minimum(x + epsilons, 1)
    adversarial = x.copy()
    moving = np.ones(len(x), bool)
    for _ in range(steps):
        rows = np.flatnonzero(moving)
        if not len(rows):
            break
        step = _direction(network, adversarial[rows], labels[rows], target)
        adversarial[rows] = np.clip(adversarial[rows] + alpha[rows] * step, low[rows], high[rows])
        predicted = network.predict(adversarial[rows])
        moving[rows] = predicted == labels[rows] if target is None else predicted != target
    return adversarial


def attack(network: Network, images, labels, epsilon: float, target: int | None = None,
           method: str = "fgsm") -> Attack:
    """:func:`fgsm` or :func:`iterative_attack` by name."""
    if method not in ATTACKS:
        raise ValueError(f"method must be one of {ATTACKS}, got {method!r}")
    run = fgsm if method == "fgsm" else iterative_attack
    return run(network, images, labels, epsilon, target)


def smallest_epsilon(network: Network, image, label: int, target: int | None = None, method: str = "fgsm",
                     epsilons: Sequence[float] = tuple(np.round(np.arange(1, 51) * 0.005, 3))) -> Attack | None:
    """The attack with the smallest epsilon of ``epsilons`` (increasing) that fools the
    network on one image, or None when none does (or the image was misread already).
    All candidate epsilons are tried as one batch."""
    epsilons = np.asarray(epsilons, np.float64)
    if epsilons.ndim != 1 or not len(epsilons) or np.any(np.diff(epsilons) <= 0):
        raise ValueError("epsilons must be an increasing list of numbers")
    x = as_float_batch(network, image)
    if len(x) != 1:
        raise ValueError("smallest_epsilon takes one image")
    batch = np.repeat(x, len(epsilons), axis=0)
    labels = np.full(len(epsilons), int(label), np.intp)
    x, labels, target = _checked_attack(network, batch, labels, float(epsilons[-1]), target)
    columns = epsilons.astype(network.dtype)[:, None]
    if method == "fgsm":
        adversarial = np.clip(x + columns * _direction(network, x[:1], labels[:1], target), 0, 1)
    elif method == "iterative":
        adversarial = _projected_steps(network, x, labels, columns, target, steps=10)
    else:
        raise ValueError(f"method must be one of {ATTACKS}, got {method!r}")
    results = _attack_result(network, x, adversarial, labels, target, float(epsilons[-1]), method)
    first = np.flatnonzero(results.fooled)
    if not len(first):
        return None
    i = int(first[0])
    return Attack(results.originals[i : i + 1], results.adversarial[i : i + 1], results.labels[i : i + 1],
                  results.target, float(epsilons[i]), method, results.predicted_before[i : i + 1],
                  results.predicted[i : i + 1], results.probabilities[i : i + 1], results.fooled[i : i + 1])


@dataclass
class FoolingCurve:
    """The fooling rate of an attack against epsilon: epsilons (k,), rates (k,) (shares
    of the images read right before), n_images, n_correct (read right before)."""

    method: str
    epsilons: np.ndarray
    rates: np.ndarray
    n_images: int
    n_correct: int


def fooling_curve(network: Network, images, labels, epsilons: Sequence[float], method: str = "fgsm",
                  target: int | None = None, progress: Callable[[float], None] | None = None) -> FoolingCurve:
    """The fooling rate of :func:`attack` at each epsilon on ``images`` (m, n_inputs)."""
    rates, n_correct = [], 0
    for k, epsilon in enumerate(epsilons, 1):
        result = attack(network, images, labels, float(epsilon), target, method)
        rates.append(result.fooling_rate)
        n_correct = result.n_correct_before
        if progress is not None:
            progress(k / len(epsilons))
    return FoolingCurve(method, np.asarray(epsilons, np.float64), np.asarray(rates), len(labels), n_correct)


# -- break it ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HiddenLayer:
    """A hidden layer whose units can be switched off: ``number`` (1-based), the index of
    its activation in ``network.layers``, ``n_units`` (a conv layer's: its filters), ``kind``
    ("dense" or "conv")."""

    number: int
    activation_index: int
    n_units: int
    kind: str

    @property
    def name(self) -> str:
        return f"conv layer {self.number}" if self.kind == "conv" else f"hidden layer {self.number}"


def hidden_layers(network: Network) -> list[HiddenLayer]:
    """Every hidden layer (each activation's output), first to last."""
    layers = []
    for index, layer in enumerate(network.layers):
        if layer.kind == "activation":
            before = network.layers[index - 1]
            kind = "conv" if before.kind == "conv" else "dense"
            n_units = before.filters if kind == "conv" else before.n_outputs
            layers.append(HiddenLayer(len(layers) + 1, index, n_units, kind))
    return layers


def _unit_masks(network: Network, units_off: dict[int, Sequence[int]]) -> dict[int, np.ndarray]:
    """Layer index -> a (n_units,) 0/1 mask to multiply its output by (the last axis)."""
    layers = {layer.number: layer for layer in hidden_layers(network)}
    masks = {}
    for number, units in units_off.items():
        if number not in layers:
            raise ValueError(f"no hidden layer {number}; this network has {len(layers)}")
        layer = layers[number]
        units = np.asarray(list(units), np.intp)
        if units.size and (units.min() < 0 or units.max() >= layer.n_units):
            raise ValueError(f"{layer.name} has units 0..{layer.n_units - 1}, got {units.tolist()}")
        if units.size:
            mask = np.ones(layer.n_units, network.dtype)
            mask[units] = 0
            masks[layer.activation_index] = mask
    return masks


def forward_with_units_off(network: Network, images, units_off: dict[int, Sequence[int]] | None = None,
                           batch_size: int = 512) -> np.ndarray:
    """(m, n_classes) probabilities with the units of ``units_off`` (hidden layer number
    -> unit indices) switched off: their output is 0 for every image."""
    x = as_float_batch(network, images)
    parts = [softmax_rows(run_layers(network, x[start : start + batch_size], 0, units_off).logits)
             for start in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, network.layer_sizes[-1]))


def accuracy(network: Network, images, labels, units_off: dict[int, Sequence[int]] | None = None) -> float:
    """The share of ``images`` read as their ``labels``, with ``units_off`` switched off."""
    predicted = forward_with_units_off(network, images, units_off).argmax(axis=1)
    return float(np.mean(predicted == np.asarray(labels)))


def pruned(network: Network, fraction: float) -> Network:
    """A copy with the ``fraction`` (0..1) smallest weights (by size) of every weight
    matrix or kernel set to 0; the biases are kept. ``pruned(net, 0)`` equals ``net``."""
    if not (math.isfinite(fraction) and 0 <= fraction <= 1):
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    copy = network.copy()
    for weights in copy.weights:
        flat = weights.reshape(-1)
        n_off = int(round(fraction * flat.size))
        if n_off:
            flat[np.argsort(np.abs(flat), kind="stable")[:n_off]] = 0
    return copy


def with_weight_noise(network: Network, relative_std: float, seed: int = 0) -> Network:
    """A copy with Gaussian noise added to every weight: of standard deviation
    ``relative_std`` times the root mean square of its own layer's weights (so 0.5 means
    "half the typical weight" in every layer). Biases are kept."""
    if not (math.isfinite(relative_std) and relative_std >= 0):
        raise ValueError(f"the noise must be a number >= 0, got {relative_std}")
    copy = network.copy()
    rng = np.random.default_rng(seed)
    for weights in copy.weights:
        rms = float(np.sqrt(np.mean(np.square(weights, dtype=np.float64))))
        weights += (rng.standard_normal(weights.shape) * relative_std * rms).astype(weights.dtype)
    return copy


@dataclass
class UnitImportance:
    """Per unit of one hidden layer, the accuracy lost when it alone is switched off.

    layer: its ``HiddenLayer``; baseline: the accuracy with every unit on; drops (n_units,):
    baseline minus the accuracy without that unit (negative: it helps to lose it);
    ranking: units, the largest drop first."""

    layer: HiddenLayer
    baseline: float
    drops: np.ndarray

    @property
    def ranking(self) -> np.ndarray:
        return np.argsort(-self.drops, kind="stable")


def unit_importance(network: Network, images, labels, layer_number: int,
                    progress: Callable[[float], None] | None = None) -> UnitImportance:
    """How much the accuracy on ``images`` falls when each unit of hidden layer
    ``layer_number`` alone is switched off. The layers below it run once; only the rest
    of the network runs again for each unit."""
    layers = {layer.number: layer for layer in hidden_layers(network)}
    if layer_number not in layers:
        raise ValueError(f"no hidden layer {layer_number}; this network has {len(layers)}")
    layer = layers[layer_number]
    x, labels = as_float_batch(network, images), np.asarray(labels)
    below = run_layers(network, x).outputs[layer.activation_index + 1]  # that layer's activations
    baseline = float(np.mean(run_layers(network, below, layer.activation_index + 1).logits.argmax(axis=1) == labels))
    drops = np.empty(layer.n_units)
    for unit in range(layer.n_units):
        silenced = below.copy()
        silenced[..., unit] = 0
        logits = run_layers(network, silenced, layer.activation_index + 1).logits
        drops[unit] = baseline - float(np.mean(logits.argmax(axis=1) == labels))
        if progress is not None:
            progress((unit + 1) / layer.n_units)
    return UnitImportance(layer, baseline, drops)
