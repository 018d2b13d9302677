"""Check backpropagation against finite differences.

For any parameter ``theta``, the central difference

    (J(theta + eps) - J(theta - eps)) / (2 eps)

approximates ``dJ/dtheta`` with an error of order ``eps^2``. If backpropagation is
right, the two agree to many digits in float64. The check is slow (two forward
passes per parameter), so large layers are checked on a random sample of entries.

The relative error of a layer is ``||g_backprop - g_numeric|| / (||g_backprop|| +
||g_numeric||)``: below 1e-7 is right, above 1e-4 is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import Network


@dataclass
class GradientCheck:
    """Relative errors per parameter array: names like 'W1', 'b1', ..., and 'X'."""

    relative_errors: dict[str, float]
    checked_entries: dict[str, int]

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
) -> GradientCheck:
    """Compare backprop's gradients with central differences, layer by layer.

    Works on a float64 copy of ``network`` (float32 has too few digits for the
    differences to mean anything). ``inputs`` (m, n_inputs) floats, ``labels`` (m,).
    At most ``max_entries`` entries per array are checked, chosen at random.
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

    errors, counts = {}, {}
    for name, (values, analytic) in arrays.items():
        flat_values = values.reshape(-1)  # a view: nudging it nudges the network
        flat_analytic = analytic.reshape(-1)
        count = min(max_entries, flat_values.size)
        picks = rng.choice(flat_values.size, size=count, replace=False)
        numeric = np.empty(count)
        for k, index in enumerate(picks):
            original = flat_values[index]
            flat_values[index] = original + epsilon
            loss_plus = net.loss(inputs, labels)
            flat_values[index] = original - epsilon
            loss_minus = net.loss(inputs, labels)
            flat_values[index] = original
            numeric[k] = (loss_plus - loss_minus) / (2 * epsilon)
        errors[name] = _relative_error(flat_analytic[picks], numeric)
        counts[name] = count
    return GradientCheck(errors, counts)
