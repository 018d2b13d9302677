"""Check backpropagation against finite differences.

For any parameter ``theta``, the central difference

    (J(theta + eps) - J(theta - eps)) / (2 eps)

approximates ``dJ/dtheta`` with an error of order ``eps^2``. If backpropagation is
right, the two agree to many digits in float64. The check is slow (two forward
passes per parameter), so large layers are checked on a random sample of entries.

The relative error of a layer is ``||g_backprop - g_numeric|| / (||g_backprop|| +
||g_numeric||)``: below 1e-7 is right, above 1e-4 is a bug.

Kinks. ReLU has no derivative at z = 0 and a max pool none where two inputs tie: if
``theta - eps`` and ``theta + eps`` lie on different sides of such a point, the central
difference averages two different slopes and disagrees with any gradient. A small dense
network rarely meets one, but a conv layer computes tens of thousands of ``z`` per batch
and some fall within ``eps`` of 0 for most parameters. ``skip_kinks=True`` records, at
both ends, which side of every kink the network is on (the sign of every ReLU's ``z``,
the winner of every 2x2 pool) and leaves out the entries where they differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .network import Network

KINKED_ACTIVATIONS = ("relu", "leaky_relu")  # a kink at z = 0


@dataclass
class GradientCheck:
    """Relative errors per parameter array: names like 'W1', 'b1', ..., and 'X'."""

    relative_errors: dict[str, float]
    checked_entries: dict[str, int]
    skipped_entries: dict[str, int] = field(default_factory=dict)  # straddling a kink

    @property
    def max_relative_error(self) -> float:
        return max(self.relative_errors.values())


def _relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    diff = np.linalg.norm(analytic - numeric)
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(diff / scale) if scale > 0 else 0.0


def gradient_check(
    network: Network,
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    epsilon: float = 1e-6,
    max_entries: int = 60,
    check_inputs: bool = True,
    seed: int = 0,
    skip_kinks: bool = False,
) -> GradientCheck:
    """Compare backprop's gradients with central differences, layer by layer.

    Works on a float64 copy of ``network`` (float32 has too few digits for the
    differences to mean anything). ``inputs`` (m, n_inputs) floats, ``labels`` (m,).
    At most ``max_entries`` entries per array are checked, chosen at random.
    skip_kinks: leave out (and count in ``skipped_entries``) the entries whose ``±eps``
    straddles a ReLU or max-pool kink (see the module docstring), taking the next random
    entries instead (up to three times ``max_entries`` tried).
    """
    net = network.copy(np.float64)
    inputs = np.array(inputs, dtype=np.float64)
    labels = np.asarray(labels)
    _, grads = net.gradients(inputs, labels, input_gradient=check_inputs)
    rng = np.random.default_rng(seed)

    arrays = {}
    for layer, (w, b) in enumerate(zip(net.weights, net.biases), start=1):
        arrays[f"W{layer}"] = (w, grads.weights[layer - 1])
        arrays[f"b{layer}"] = (b, grads.biases[layer - 1])
    if check_inputs:
        arrays["X"] = (inputs, grads.inputs)

    def loss_and_sides():
        if not skip_kinks:
            return net.loss(inputs, labels), None
        forward = net.forward(inputs, labels, record=True)
        return forward.loss, _kink_sides(net, forward)

    errors, counts, skipped = {}, {}, {}
    for name, (values, analytic) in arrays.items():
        errors[name], counts[name], skipped[name] = _check_entries(
            values, analytic, min(max_entries, values.size), rng, loss_and_sides, epsilon, skip_kinks)
    return GradientCheck(errors, counts, skipped)


def _check_entries(values, analytic, count, rng, loss_and_sides, epsilon, skip_kinks) -> tuple[float, int, int]:
    """(relative error, entries checked, entries skipped at a kink) for ``count`` random
    entries of ``values`` (a parameter array of the network, nudged in place)."""
    flat_values = values.reshape(-1)  # a view: nudging it nudges the network
    flat_analytic = analytic.reshape(-1)
    if skip_kinks:  # a random order; entries at a kink are replaced by the next ones
        candidates = rng.permutation(flat_values.size)[: 3 * count]
    else:
        candidates = rng.choice(flat_values.size, size=count, replace=False)
    picks, numeric, skipped = [], [], 0
    for index in candidates:
        original = flat_values[index]
        flat_values[index] = original + epsilon
        loss_plus, sides_plus = loss_and_sides()
        flat_values[index] = original - epsilon
        loss_minus, sides_minus = loss_and_sides()
        flat_values[index] = original
        if skip_kinks and not all(np.array_equal(a, b) for a, b in zip(sides_plus, sides_minus)):
            skipped += 1
            continue
        picks.append(index)
        numeric.append((loss_plus - loss_minus) / (2 * epsilon))
        if len(picks) == count:
            break
    return _relative_error(flat_analytic[picks], np.array(numeric)), len(picks), skipped


def _kink_sides(network, forward) -> list[np.ndarray]:
    """Which side of each kink the network is on for one forward pass (``record=True``):
    ``z > 0`` of every hidden ReLU (or leaky ReLU) unit, and for every 2x2 max pool,
    which of each block's four inputs wins."""
    sides = []
    if network.activation in KINKED_ACTIVATIONS:
        sides += [z > 0 for z in forward.pre_activations[:-1]]
    for layer, maps in zip(forward.layers, forward.outputs):
        if layer.kind == "pool":
            height, width = maps.shape[1] // 2 * 2, maps.shape[2] // 2 * 2
            corners = [maps[:, i:height:2, j:width:2] for i in (0, 1) for j in (0, 1)]
            sides.append(np.argmax(np.stack(corners), axis=0))
    return sides
