"""Hidden-layer activation functions and their derivatives.

Every activation ``f`` works **in place** on a pre-activation array ``Z`` of shape
``(m, n)`` (m examples, n units) and turns it into the activation ``A = f(Z)``;
working in place means a training step allocates nothing for it.

Backpropagation needs ``f'(Z)``. For the four functions here the derivative can be
written with the *output* ``A`` alone, so the backward pass never has to keep ``Z``:

==========  =======================  ==============================
name        f(z)                     f'(z) written with a = f(z)
==========  =======================  ==============================
relu        max(z, 0)                1 if a > 0 else 0
leaky_relu  z if z > 0 else 0.01 z   1 if a > 0 else 0.01
sigmoid     1 / (1 + e^-z)           a (1 - a)
tanh        tanh z                   1 - a^2
==========  =======================  ==============================

``DERIVATIVES[name](A, delta)`` multiplies the back-propagated error ``delta`` (same
shape as ``A``) by ``f'`` in place: ``delta <- delta * f'(Z)``.

To add an activation, write the two small functions and add them to both tables.
"""

from __future__ import annotations

import numpy as np

from .speed import zeros_like

LEAKY_SLOPE = 0.01


def relu(z: np.ndarray) -> np.ndarray:
    """Rectified linear unit: negative pre-activations become 0."""
    np.maximum(z, zeros_like(z), out=z)  # against an array of zeros: see nn.speed.zeros_like
    return z


def leaky_relu(z: np.ndarray) -> np.ndarray:
    """Like ReLU, but negative inputs keep a small slope, so a unit can never die."""
    np.maximum(z, LEAKY_SLOPE * z, out=z)
    return z


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function 1 / (1 + e^-z), squashing into (0, 1)."""
    # Clipping keeps exp() finite in float32; sigmoid is flat out there anyway.
    np.clip(z, -80, 80, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1
    np.reciprocal(z, out=z)
    return z


def tanh(z: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, squashing into (-1, 1) and centred on 0."""
    np.tanh(z, out=z)
    return z


def relu_derivative(a: np.ndarray, delta: np.ndarray) -> None:
    """delta *= 1[a > 0]."""
    delta *= a > 0


def leaky_relu_derivative(a: np.ndarray, delta: np.ndarray) -> None:
    """delta *= 1 where a > 0, else the leak slope."""
    delta[a <= 0] *= LEAKY_SLOPE


def sigmoid_derivative(a: np.ndarray, delta: np.ndarray) -> None:
    """delta *= a (1 - a)."""
    delta *= a
    delta *= 1 - a


def tanh_derivative(a: np.ndarray, delta: np.ndarray) -> None:
    """delta *= 1 - a^2."""
    delta *= 1 - a * a


ACTIVATIONS = {
    "relu": relu,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
}

DERIVATIVES = {
    "relu": relu_derivative,
    "leaky_relu": leaky_relu_derivative,
    "sigmoid": sigmoid_derivative,
    "tanh": tanh_derivative,
}

# Which initialisation keeps the signal's variance steady through each activation:
# He (2 / fan_in) for the rectifiers, Xavier/Glorot (2 / (fan_in + fan_out)) otherwise.
DEFAULT_INIT = {"relu": "he", "leaky_relu": "he", "sigmoid": "xavier", "tanh": "xavier"}
