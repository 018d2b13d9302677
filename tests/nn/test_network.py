"""The network's maths: shapes, dtypes, softmax/cross-entropy and backprop vs finite differences."""

import numpy as np
import pytest

from nn.activations import ACTIVATIONS
from nn.gradcheck import gradient_check
from nn.network import Network


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(7)
    return rng.random((6, 784)), rng.integers(0, 10, 6)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("hidden", [(16,), (12, 8)], ids=["one-hidden", "two-hidden"])
def test_backprop_matches_finite_differences(activation, hidden, batch):
    inputs, labels = batch
    net = Network((784, *hidden, 10), activation, seed=3, dtype=np.float64)
    check = gradient_check(net, inputs, labels, max_entries=40)
    names = {f"W{i}" for i in range(1, len(hidden) + 2)} | {f"b{i}" for i in range(1, len(hidden) + 2)}
    assert names | {"X"} == set(check.relative_errors)
    assert check.max_relative_error < 1e-6, check.relative_errors


def test_gradient_check_catches_a_wrong_gradient(batch, monkeypatch):
    inputs, labels = batch
    net = Network((784, 8, 10), "tanh", seed=1, dtype=np.float64)
    original = Network.backward

    def broken(self, *args, **kwargs):
        grads = original(self, *args, **kwargs)
        grads.weights[0] *= 1.01  # a 1% error in one layer
        return grads

    monkeypatch.setattr(Network, "backward", broken)
    check = gradient_check(net, inputs, labels)
    assert check.relative_errors["W1"] > 1e-3
    assert check.relative_errors["W2"] < 1e-6


def test_forward_records_layers_and_probabilities_sum_to_one(batch):
    inputs, labels = batch
    net = Network((784, 32, 16, 10), "relu", seed=0)
    forward = net.forward(inputs.astype(np.float32), labels, record=True)
    assert [a.shape for a in forward.activations] == [(6, 784), (6, 32), (6, 16), (6, 10)]
    assert [z.shape for z in forward.pre_activations] == [(6, 32), (6, 16), (6, 10)]
    np.testing.assert_allclose(forward.probabilities.sum(axis=1), 1, rtol=1e-6)
    # Activations are ReLU of the recorded pre-activations.
    np.testing.assert_array_equal(forward.activations[1], np.maximum(forward.pre_activations[0], 0))
    expected_loss = -np.mean(np.log(forward.probabilities[np.arange(6), labels]))
    assert forward.loss == pytest.approx(expected_loss, rel=1e-5)


def test_float32_end_to_end(batch):
    inputs, labels = batch
    net = Network((784, 10, 10), seed=0)
    assert all(w.dtype == np.float32 for w in net.weights + net.biases)
    forward = net.forward(inputs.astype(np.float32), labels)
    assert all(a.dtype == np.float32 for a in forward.activations)
    grads = net.backward(forward, labels, input_gradient=True)
    assert all(g.dtype == np.float32 for g in grads.weights + grads.biases + [grads.inputs])
    assert grads.inputs.shape == (6, 784)


def test_loss_is_stable_for_huge_logits():
    net = Network((784, 10), seed=0, dtype=np.float64)
    net.weights[0][:] = 0
    net.biases[0][:] = [1000.0] + [0.0] * 9  # softmax(z) would overflow without the shift
    labels = np.array([0, 1])
    forward = net.forward(np.zeros((2, 784)), labels)
    assert np.isfinite(forward.probabilities).all()
    assert forward.loss == pytest.approx(500.0)  # (0 + 1000) / 2


def test_seeded_initialisation_scales():
    he = Network((784, 512, 10), "relu", seed=0)
    xavier = Network((784, 512, 10), "tanh", seed=0)
    assert he.weights[0].std() == pytest.approx(np.sqrt(2 / 784), rel=0.02)
    assert xavier.weights[0].std() == pytest.approx(np.sqrt(2 / (784 + 512)), rel=0.02)
    again = Network((784, 512, 10), "relu", seed=0)
    np.testing.assert_array_equal(he.weights[0], again.weights[0])
    assert not np.array_equal(he.weights[0], Network((784, 512, 10), seed=1).weights[0])


def test_input_gradient_is_a_pixel_map(batch):
    inputs, labels = batch
    net = Network((784, 20, 10), "relu", seed=2, dtype=np.float64)
    _, grads = net.gradients(inputs, labels, input_gradient=True)
    # Nudging a pixel along its gradient raises the loss by about eps * gradient^2.
    pixel = int(np.argmax(np.abs(grads.inputs[0])))
    bumped = inputs.copy()
    bumped[0, pixel] += 1e-4
    change = net.loss(bumped, labels) - net.loss(inputs, labels)
    assert change == pytest.approx(1e-4 * grads.inputs[0, pixel], rel=1e-3)
