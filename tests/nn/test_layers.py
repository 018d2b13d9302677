"""The Layer interface (nn/layers.py, nn/conv.py) and a Network as layers applied in turn."""

import numpy as np
import pytest
from gradient_support import numeric_gradient, relative_error

from nn.activations import ACTIVATIONS
from nn.conv import ConvSpec
from nn.layers import Activation, Dense, Flatten
from nn.network import ConvNetwork, Network
from nn.speed import backward_order, softmax


def test_dense_layer_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    layer = Dense(5, 3)
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    r = rng.standard_normal((4, 3))  # J = sum(Z * R), so dJ/dZ = R

    def loss():
        return float(np.sum(layer.forward(x, (w, b))[0] * r))

    z, memo = layer.forward(x, (w, b))
    np.testing.assert_allclose(z, x @ w + b)
    dx, (dw, db) = layer.backward(r, x, z, memo, (w, b))
    assert relative_error(dw, numeric_gradient(loss, w)) < 1e-7
    assert relative_error(db, numeric_gradient(loss, b)) < 1e-7
    assert relative_error(dx, numeric_gradient(loss, x)) < 1e-7
    assert layer.backward(r, x, z, memo, (w, b), input_gradient=False)[0] is None


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_layer_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(1)
    layer = Activation(name)
    z = rng.standard_normal((3, 7)) + 0.05  # away from ReLU's kink at 0 by more than epsilon
    z[np.abs(z) < 1e-3] = 0.5
    r = rng.standard_normal((3, 7))

    def loss():
        return float(np.sum(layer.forward(z.copy())[0] * r))

    a, _ = layer.forward(z.copy())
    grad_z, params = layer.backward(r.copy(), z, a, None)
    assert params == ()
    assert relative_error(grad_z, numeric_gradient(loss, z)) < 1e-6


def test_a_network_is_its_layers_applied_in_turn():
    rng = np.random.default_rng(2)
    net = ConvNetwork([ConvSpec(3, 3, "same"), ConvSpec(2, 3, "valid", False)], hidden_sizes=(6,), seed=1)
    assert [layer.kind for layer in net.layers] == ["conv", "activation", "pool", "conv", "activation", "flatten",
                                                    "dense", "activation", "dense"]
    x = rng.random((5, 784)).astype(np.float32)
    a = x.reshape(5, 28, 28, 1)
    for layer, params in zip(net.layers, net.layer_parameters()):
        a, _ = layer.forward(a, params)
    assert softmax(a).tobytes() == net.predict_proba(x).tobytes()
    dense = Network((784, 12, 10), "tanh", seed=1)
    assert [type(layer) for layer in dense.layers] == [Dense, Activation, Dense]
    assert dense.conv_specs == () and net.conv_specs == (ConvSpec(3, 3, "same"), ConvSpec(2, 3, "valid", False))
    assert isinstance(net.layers[5], Flatten) and net.layer_sizes == (784, 14 * 14 * 3, 12 * 12 * 2, 6, 10)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
def test_the_activation_derivative_on_the_pooled_grid_equals_the_plain_order(activation):
    """nn.speed.backward_order differentiates an activation before the max pool after it
    (on 4x fewer numbers): the gradients must equal those of the plain reverse order."""
    rng = np.random.default_rng(3)
    net = ConvNetwork([ConvSpec(4, 3), ConvSpec(3, 3)], hidden_sizes=(8,), activation=activation, seed=0)
    # conv, activation, pool, conv, activation, pool, flatten, dense, activation, dense
    assert net.backward_order[:4] == [(9, 10), (8, 9), (7, 8), (6, 7)]  # dense layers, flatten
    assert net.backward_order[4:6] == [(4, 6), (5, 6)]  # the activation reads the pooled maps
    x = rng.random((6, 784)).astype(np.float32)
    y = rng.integers(0, 10, 6)
    forward = net.forward(x, y)
    fast = net.backward(forward, y, input_gradient=True)
    fast = [g.copy() for g in [*fast.weights, *fast.biases, fast.inputs]]
    net.backward_order = [(index, index + 1) for index in reversed(range(len(net.layers)))]
    plain = net.backward(forward, y, input_gradient=True)
    for a, b in zip(fast, [*plain.weights, *plain.biases, plain.inputs]):
        np.testing.assert_array_equal(a, b)
    assert backward_order(Network((784, 5, 10)).layers) == [(2, 3), (1, 2), (0, 1)]
