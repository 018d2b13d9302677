"""Looking inside a trained network: pure NumPy analysis behind the Weights, Gradients
and Activations pages (the figures are drawn by ``ui/figures/``, which also lays tiles out).

Shapes follow ``nn/network.py``: ``W[l]`` is ``(n[l-1], n[l])`` (inputs x units), so
column ``j`` of ``W[1]`` holds the 784 incoming weights of first-layer unit ``j``, a
28 x 28 picture of what that unit looks for.

What is here, by page:

- Weights: :func:`unit_order` / :func:`unit_scores` (sort units by index, weight norm
  or how strongly they drive a digit), :func:`unit_drive`, :func:`linear_templates`
  (each digit's "template" seen through the hidden layers), :func:`composed_input_weights`
  (a deeper unit's linear 28 x 28 view), :func:`top_exciting_images`,
  :func:`symmetric_zmax` (one symmetric range for a colour scale or a histogram).
- Gradients: :func:`classify_gradient_norm` and :func:`gradient_health` (vanishing /
  healthy / exploding, thresholds :data:`VANISHING_GRADIENT` and
  :data:`EXPLODING_GRADIENT`), :func:`value_histogram` / :func:`layer_histograms`,
  :func:`stats_arrays` (a training ``History``'s per-layer lists as arrays) -- these
  live in ``nn/gradient_stats.py`` and are re-exported here -- and :func:`saliency`
  (dJ/dX for one image).
- Convolutional networks: :func:`n_conv_layers`, :func:`layer_names`,
  :func:`conv_layer_name`, :func:`filter_contributions`, :func:`top_filter_images`.
- Activations: :func:`trace_image` (every layer's ``z`` and ``a`` for one image) and
  :func:`unit_contributions` (activation x outgoing weight of each last-hidden unit:
  they add up, with the bias, to the logit).

This module never imports Plotly or Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .activations import ACTIVATIONS
from .gradient_stats import (  # noqa: F401  (re-exported: the pages read them as nn.analysis.*)
    EXPLODING_GRADIENT,
    GRADIENT_EXPLANATIONS,
    HEALTHY_UPDATE_RATIO,
    VANISHING_GRADIENT,
    GradientHealth,
    StatsArrays,
    classify_gradient_norm,
    gradient_health,
    layer_histograms,
    layer_labels,
    stats_arrays,
    symmetric_zmax,
    value_histogram,
)
from .network import Network

IMAGE_SIDE = 28

TEMPLATE_NOTE_EXACT = "Exact: with no hidden layer the output layer's weights are the templates."
TEMPLATE_NOTE_APPROXIMATE = (
    "Approximation: W1 @ W2 @ ... @ WL treats every hidden layer as linear (no {activation}, "
    "no biases). It is exact only for a linear network; it shows the broad strokes each digit "
    "responds to, not what the network computes for a given image."
)


# ---------------------------------------------------------------------------
# Small shared helpers
# ---------------------------------------------------------------------------


def _weights_of(network_or_weights) -> list[np.ndarray]:
    """``[W1, ..., WL]`` from a Network or a sequence of weight matrices."""
    weights = getattr(network_or_weights, "weights", network_or_weights)
    weights = [np.asarray(w) for w in weights]
    if not weights or any(w.ndim != 2 for w in weights):
        raise ValueError("expected a Network or a non-empty list of 2-D weight matrices")
    for upper, lower in zip(weights[:-1], weights[1:]):
        if upper.shape[1] != lower.shape[0]:
            raise ValueError(f"weight shapes {upper.shape} and {lower.shape} do not chain")
    return weights


def as_float_image(image, dtype=np.float32) -> np.ndarray:
    """One image as a flat ``(784,)`` float array in [0, 1].

    Accepts ``(784,)`` or ``(28, 28)``; uint8 pixels (0-255) are divided by 255,
    float pixels are taken to be in [0, 1] already.
    """
    image = np.asarray(image)
    if image.size != IMAGE_SIDE * IMAGE_SIDE:
        raise ValueError(f"expected one 28x28 image (784 values), got shape {image.shape}")
    flat = image.reshape(-1)
    if flat.dtype == np.uint8:
        return flat.astype(dtype) / dtype(255)
    return flat.astype(dtype, copy=True)


def _float_batches(images, dtype, batch_size: int):
    """Yield (start, (m, n_inputs) float batch in [0, 1]) for uint8 or float images."""
    images = np.asarray(images)
    if images.ndim != 2:
        raise ValueError(f"expected images of shape (n, 784), got {images.shape}")
    scale = dtype(1 / 255)
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        yield start, (chunk * scale if chunk.dtype == np.uint8 else chunk.astype(dtype, copy=False))


# ---------------------------------------------------------------------------
# Weights page
# ---------------------------------------------------------------------------


def unit_drive(network_or_weights) -> np.ndarray:
    """How strongly each first-layer unit drives each output class: ``(n_units, n_classes)``.

    For one hidden layer this is ``W2`` itself (the outgoing weight to class k). For
    deeper nets it is the linear composition ``W2 @ W3 @ ... @ WL``: the path sum that
    would be exact if the hidden layers were linear (an approximation otherwise).
    With no hidden layer the "units" are the classes, so it is the identity.
    """
    weights = _weights_of(network_or_weights)
    drive = np.eye(weights[0].shape[1])
    for w in weights[1:]:
        drive = drive @ w.astype(np.float64)
    return drive


def _parse_order(by: str) -> tuple[str, int | None]:
    if by in ("index", "norm"):
        return by, None
    if isinstance(by, str) and by.startswith("digit:"):
        try:
            return "digit", int(by.split(":", 1)[1])
        except ValueError:
            pass
    raise ValueError(f"unknown unit ordering {by!r}; use 'index', 'norm' or 'digit:K'")


def unit_scores(network_or_weights, by: str = "norm") -> np.ndarray:
    """The number each first-layer unit is sorted by: ``(n_units,)`` float64.

    by: ``"index"`` (the unit's index), ``"norm"`` (L2 norm of its 784 incoming
        weights) or ``"digit:K"`` (its drive towards class K, see :func:`unit_drive`).
    """
    weights = _weights_of(network_or_weights)
    kind, digit = _parse_order(by)
    if kind == "index":
        return np.arange(weights[0].shape[1], dtype=np.float64)
    if kind == "norm":
        return np.linalg.norm(weights[0].astype(np.float64), axis=0)
    drive = unit_drive(weights)
    if not 0 <= digit < drive.shape[1]:
        raise ValueError(f"digit {digit} is outside 0..{drive.shape[1] - 1}")
    return drive[:, digit]


def unit_order(network_or_weights, by: str = "index") -> np.ndarray:
    """First-layer unit indices in display order, ``(n_units,)`` intp.

    network_or_weights: a Network or ``[W1, ..., WL]``.
    by: ``"index"`` (0, 1, 2, ...), ``"norm"`` (largest incoming-weight norm first) or
        ``"digit:K"`` (units pushing class K up most first; most negative last).
    Ties keep index order.
    """
    kind, _ = _parse_order(by)
    scores = unit_scores(network_or_weights, by)
    if kind == "index":
        return np.arange(len(scores))
    return np.argsort(-scores, kind="stable")


def composed_input_weights(network_or_weights, layer: int = 1) -> np.ndarray:
    """Each unit of hidden ``layer`` seen as a 28 x 28 map: ``W1 @ ... @ W[layer]``, ``(784, n)``.

    layer 1: the units' own incoming weights (exact, a copy of ``W1``). Deeper layers:
    the linear composition of the weights below, which ignores the hidden layers'
    nonlinearity and biases (an approximation, like :func:`linear_templates`).
    """
    weights = _weights_of(network_or_weights)
    if not 1 <= layer <= len(weights):
        raise ValueError(f"layer must be 1..{len(weights)}, got {layer}")
    if layer == 1:
        return weights[0].copy()
    product = weights[0].astype(np.float64)
    for w in weights[1:layer]:
        product = product @ w.astype(np.float64)
    return product


@dataclass
class LinearTemplates:
    """Each class's 28 x 28 "template": the output layer seen through the hidden layers.

    templates: ``(n_classes, 784)``; row k = column k of ``W1 @ W2 @ ... @ WL``.
    approximate: True when there are hidden layers (their nonlinearity and biases are
        ignored); then ``note`` says so in one sentence for the page.
    """

    templates: np.ndarray
    approximate: bool
    note: str


def linear_templates(network: Network) -> LinearTemplates:
    """``(W1 @ ... @ WL).T`` with a flag saying whether that is exact.

    The product is what a purely linear network would compute: logits = x @ product +
    (composed biases). With a ReLU/sigmoid/tanh hidden layer it is an approximation,
    exact only for a linear network.
    """
    weights = _weights_of(network)
    product = weights[0].astype(np.float64)
    for w in weights[1:]:
        product = product @ w.astype(np.float64)
    approximate = len(weights) > 1
    activation = getattr(network, "activation", "nonlinearity")
    note = TEMPLATE_NOTE_APPROXIMATE.format(activation=activation) if approximate \
        else TEMPLATE_NOTE_EXACT
    return LinearTemplates(product.T.copy(), approximate, note)


@dataclass
class ExcitingImages:
    """The images that make one unit respond most, strongest first.

    indices: ``(k,)`` rows of the image array; pre_activations / activations: ``(k,)``
    the unit's ``z`` and ``a = f(z)`` for each of them.
    """

    indices: np.ndarray
    pre_activations: np.ndarray
    activations: np.ndarray


def top_exciting_images(network: Network, images, unit: int, k: int = 9, *, layer: int = 1,
                        batch_size: int = 4096) -> ExcitingImages:
    """The ``k`` images with the largest pre-activation ``z`` of ``unit`` in hidden ``layer``.

    images: ``(n, 784)`` uint8 (0-255) or float (0-1).
    layer: 1 = first hidden layer (computed as ``x @ W1[:, unit] + b1[unit]`` only, no
        full forward pass); deeper layers run the network in batches.
    Every activation here is increasing in ``z``, so the ranking by ``a`` is the same
    (ReLU ties at 0 aside).
    """
    n_layers = len(network.weights)
    if not 1 <= layer <= n_layers:
        raise ValueError(f"layer must be 1..{n_layers}, got {layer}")
    n_units = network.weights[layer - 1].shape[1]
    if not 0 <= unit < n_units:
        raise ValueError(f"unit must be 0..{n_units - 1}, got {unit}")
    images = np.asarray(images)
    dtype = network.dtype.type
    z = np.empty(len(images), dtype=np.float64)
    for start, batch in _float_batches(images, dtype, batch_size):
        if layer == 1:
            column = network.weights[0][:, unit]
            z[start : start + len(batch)] = batch @ column + network.biases[0][unit]
        else:
            forward = network.forward(batch, record=True)
            z[start : start + len(batch)] = forward.pre_activations[layer - 1][:, unit]
    k = max(0, min(int(k), len(z)))
    top = np.argpartition(-z, k - 1)[:k] if 0 < k < len(z) else np.arange(len(z))[:k]
    top = top[np.argsort(-z[top], kind="stable")]
    pre = z[top]
    if layer == n_layers:
        act = pre.copy()  # output layer: logits (softmax couples the units)
    else:
        act = ACTIVATIONS[network.activation](pre.copy())
    return ExcitingImages(top.astype(np.intp), pre, act)


# ---------------------------------------------------------------------------
# Activations page
# ---------------------------------------------------------------------------


@dataclass
class ImageTrace:
    """One image pushed through the network, layer by layer.

    pre_activations: ``[z1, ..., zL]`` of the dense layers, each ``(n[l],)``; ``zL`` are
        the logits.
    activations: ``[a1, ..., a(L-1)]`` dense hidden-layer outputs, each ``(n[l],)``.
    probabilities: ``(n_classes,)``; predicted: the most likely class.

    For a convolutional network (conv layers first) the lists above hold its dense
    layers only (after the flatten), and per conv layer:
    feature_maps: ``(H, W, F)`` after the activation, before pooling (one map per filter);
    map_pre_activations: ``(H, W, F)`` the maps' ``z``;
    pooled_maps: ``(H', W', F)`` after the 2x2 max pool (the same maps when it has none),
        what the next layer reads.
    """

    image: np.ndarray
    pre_activations: list[np.ndarray]
    activations: list[np.ndarray]
    probabilities: np.ndarray
    predicted: int
    feature_maps: list[np.ndarray] = field(default_factory=list)
    map_pre_activations: list[np.ndarray] = field(default_factory=list)
    pooled_maps: list[np.ndarray] = field(default_factory=list)


def trace_image(network: Network, image) -> ImageTrace:
    """Forward one image (``(784,)`` or ``(28, 28)``, uint8 or float) and keep every layer."""
    x = as_float_image(image, network.dtype.type)
    forward = network.forward(x[None, :], record=True)
    n_conv = n_conv_layers(network)
    pre = [z[0].copy() for z in forward.pre_activations[n_conv:]]
    hidden = [a[0].copy() for a in forward.activations[1 + n_conv : -1]]
    probabilities = forward.probabilities[0].copy()
    trace = ImageTrace(x, pre, hidden, probabilities, int(probabilities.argmax()))
    if n_conv:
        trace.feature_maps = [a[0].copy() for a in forward.activations[1 : 1 + n_conv]]
        trace.map_pre_activations = [z[0].copy() for z in forward.pre_activations[:n_conv]]
        trace.pooled_maps = [p[0].copy() for p in forward.pooled]
    return trace


def saliency(network: Network, image, label: int | None = None) -> np.ndarray:
    """``dJ/dX`` for one image, ``(784,)``: how the loss for ``label`` changes per pixel.

    label: the class the loss is taken for (default: the predicted class).
    Positive values: brightening that pixel *raises* the loss, i.e. lowers the
    probability of ``label``; negative values push the prediction towards ``label``.
    This is exactly ``Gradients.inputs`` of the backward pass.
    """
    x = as_float_image(image, network.dtype.type)[None, :]
    forward = network.forward(x)
    if label is None:
        label = int(forward.probabilities[0].argmax())
    labels = np.array([int(label)])
    grads = network.backward(forward, labels, input_gradient=True)
    return grads.inputs[0].copy()


@dataclass
class Contributions:
    """How the last hidden layer builds one class's logit.

    ``contribution[j] = a[j] * W_L[j, target_class]``; ``contributions.sum() + bias ==
    logit`` exactly (the output layer is linear before the softmax). Sorted by
    contribution, largest (most in favour of the class) first.

    units: ``(n,)`` hidden-unit indices in that order; contributions, activations,
    weights: ``(n,)`` aligned with ``units``; bias: ``b_L[target_class]``;
    logit: ``z_L[target_class]``; layer: which hidden layer (1-based).
    """

    target_class: int
    layer: int
    units: np.ndarray
    contributions: np.ndarray
    activations: np.ndarray
    weights: np.ndarray
    bias: float
    logit: float

    def top(self, k: int) -> Contributions:
        """The ``k`` largest contributions (the rest are dropped: the sum no longer holds)."""
        s = slice(0, k)
        return Contributions(self.target_class, self.layer, self.units[s], self.contributions[s],
                             self.activations[s], self.weights[s], self.bias, self.logit)


def unit_contributions(network: Network, image, target_class: int | None = None) -> Contributions:
    """Each last-hidden unit's ``activation x outgoing weight`` to ``target_class``.

    target_class: default the predicted class. Needs at least one hidden layer.
    """
    if len(network.weights) - n_conv_layers(network) < 2:
        raise ValueError("the network has no dense hidden layer: its logits come straight from "
                         "pixels or feature maps (see filter_contributions)")
    trace = trace_image(network, image)
    if target_class is None:
        target_class = trace.predicted
    target_class = int(target_class)
    w_out = network.weights[-1][:, target_class].astype(np.float64)
    a = trace.activations[-1].astype(np.float64)
    contributions = a * w_out
    order = np.argsort(-contributions, kind="stable")
    return Contributions(
        target_class=target_class,
        layer=len(network.weights) - 1,
        units=order.astype(np.intp),
        contributions=contributions[order],
        activations=a[order],
        weights=w_out[order],
        bias=float(network.biases[-1][target_class]),
        logit=float(trace.pre_activations[-1][target_class]),
    )


# ---------------------------------------------------------------------------
# Convolutional networks (nn/conv.py): filters, feature maps, per-filter evidence
# ---------------------------------------------------------------------------


def n_conv_layers(network) -> int:
    """How many conv layers come first in ``network`` (0 for a dense network)."""
    return len(network.conv_specs)


def conv_layer_name(number: int, spec) -> str:
    """E.g. ``"conv1 (8@5×5)"``: conv layer ``number`` (1-based) with its filters and kernel."""
    return f"conv{number} ({spec.filters}@{spec.kernel}×{spec.kernel})"


def layer_names(network) -> list[str]:
    """A readable name per weight layer: ``["W1 784→128", "W2 128→10"]`` for a dense
    network, ``["conv1 (8@5×5)", "W2 1152→10"]`` for a convolutional one (its first
    dense layer reads the flattened maps of the last conv layer)."""
    n_conv = n_conv_layers(network)
    dense = layer_labels(len(network.weights), network.layer_sizes)
    if not n_conv:
        return dense
    return [conv_layer_name(i, spec) for i, spec in enumerate(network.conv_specs, 1)] + dense[n_conv:]


@dataclass
class FilterContributions:
    """How the pooled feature maps of the last conv layer build one class's logit, when
    they feed the output layer directly (no dense hidden layer).

    maps: ``(h, w, F)`` each feature's ``a * W_out[feature, target_class]``; totals:
    ``(F,)`` summed per filter; ``totals.sum() + bias == logit`` (up to rounding).
    """

    target_class: int
    maps: np.ndarray
    totals: np.ndarray
    bias: float
    logit: float


def filter_contributions(network, image, target_class: int | None = None) -> FilterContributions:
    """Each filter's share of the logit of ``target_class`` (default: the predicted class)
    for a conv network whose last conv layer feeds the output layer."""
    n_conv = n_conv_layers(network)
    if not n_conv or len(network.weights) != n_conv + 1:
        raise ValueError("needs a convolutional network whose conv layers feed the output layer")
    trace = trace_image(network, image)
    target_class = trace.predicted if target_class is None else int(target_class)
    pooled = trace.pooled_maps[-1].astype(np.float64)  # (h, w, F): flattened row-major
    weights = network.weights[-1][:, target_class].astype(np.float64).reshape(pooled.shape)
    maps = pooled * weights
    return FilterContributions(target_class, maps, maps.sum(axis=(0, 1)),
                               float(network.biases[-1][target_class]),
                               float(trace.pre_activations[-1][target_class]))


def top_filter_images(network, images, layer: int, filter_index: int, k: int = 9,
                      batch_size: int = 512) -> ExcitingImages:
    """The ``k`` images whose feature map of filter ``filter_index`` in conv ``layer``
    (0-based) has the largest maximum: where the filter found its pattern most strongly.

    ``pre_activations`` / ``activations``: ``(k,)`` the largest ``z`` / ``a`` of the map.
    """
    n_conv = n_conv_layers(network)
    if not 0 <= layer < n_conv:
        raise ValueError(f"layer must be 0..{n_conv - 1}, got {layer}")
    n_filters = network.conv_specs[layer].filters
    if not 0 <= filter_index < n_filters:
        raise ValueError(f"filter must be 0..{n_filters - 1}, got {filter_index}")
    images = np.asarray(images)
    z = np.empty(len(images), dtype=np.float64)
    for start, batch in _float_batches(images, network.dtype.type, batch_size):
        forward = network.forward(batch, record=True)
        z[start : start + len(batch)] = forward.pre_activations[layer][..., filter_index].max(axis=(1, 2))
    k = max(0, min(int(k), len(z)))
    top = np.argpartition(-z, k - 1)[:k] if 0 < k < len(z) else np.arange(len(z))[:k]
    top = top[np.argsort(-z[top], kind="stable")]
    pre = z[top]
    return ExcitingImages(top.astype(np.intp), pre, ACTIVATIONS[network.activation](pre.copy()))
