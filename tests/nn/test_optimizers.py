"""Each optimiser's first two steps against numbers worked out by hand.

Parameter p = [1, -2], gradients g1 = [0.5, -1] then g2 = [0.25, 0.5], lr = 0.1.
"""

import math

import numpy as np
import pytest

from nn.optimizers import SGD, Adam, Momentum, RMSprop, make_optimizer, scheduled_learning_rate

G1 = np.array([0.5, -1.0])
G2 = np.array([0.25, 0.5])


def two_steps(optimizer):
    weight = np.array([[1.0, -2.0]])
    bias = np.zeros(1)
    seen = []
    for grad in (G1, G2):
        optimizer.step([weight], [bias], [grad.reshape(1, 2).copy()], [np.ones(1)], 0.1)
        seen.append(weight[0].copy())
    return seen


def test_sgd():
    # p - lr g: [1 - 0.05, -2 + 0.1], then [0.95 - 0.025, -1.9 - 0.05]
    step1, step2 = two_steps(SGD())
    np.testing.assert_allclose(step1, [0.95, -1.9])
    np.testing.assert_allclose(step2, [0.925, -1.95])


def test_momentum():
    # v1 = g1 -> p1 = p - 0.1 v1;  v2 = 0.9 v1 + g2 = [0.7, -0.4] -> p2 = p1 - 0.1 v2
    step1, step2 = two_steps(Momentum(0.9))
    np.testing.assert_allclose(step1, [0.95, -1.9])
    np.testing.assert_allclose(step2, [0.88, -1.86])


def test_nesterov():
    # u1 = 0.1 (g1 + 0.9 g1) = [0.095, -0.19];  u2 = 0.1 (g2 + 0.9 [0.7, -0.4]) = [0.088, 0.014]
    step1, step2 = two_steps(Momentum(0.9, nesterov=True))
    np.testing.assert_allclose(step1, [0.905, -1.81])
    np.testing.assert_allclose(step2, [0.817, -1.824])


def test_rmsprop():
    # s1 = 0.1 g1^2 = [0.025, 0.1]; u1 = 0.1 g1 / sqrt(s1) = 0.1 [sqrt(10), -sqrt(10)]
    # s2 = 0.9 s1 + 0.1 g2^2 = [0.02875, 0.115]; u2 = 0.1 g2 / sqrt(s2)
    step1, step2 = two_steps(RMSprop(rho=0.9, eps=0.0))
    r10 = math.sqrt(10)
    np.testing.assert_allclose(step1, [1 - 0.1 * r10, -2 + 0.1 * r10])
    np.testing.assert_allclose(
        step2, [1 - 0.1 * r10 - 0.1 * 0.25 / math.sqrt(0.02875),
                -2 + 0.1 * r10 - 0.1 * 0.5 / math.sqrt(0.115)])


def test_adam():
    # t=1: m_hat = g1, v_hat = g1^2 -> u1 = 0.1 sign(g1)
    # t=2: m = [0.07, -0.04], v = [0.00031225, 0.001249]
    #      m_hat = m / 0.19, v_hat = v / 0.001999 -> u2 = 0.1 m_hat / sqrt(v_hat)
    step1, step2 = two_steps(Adam(eps=0.0))
    np.testing.assert_allclose(step1, [0.9, -1.9])
    u2 = 0.1 * (np.array([0.07, -0.04]) / 0.19) / np.sqrt(np.array([0.00031225, 0.001249]) / 0.001999)
    np.testing.assert_allclose(u2, [0.093218, -0.026634], rtol=2e-5)
    np.testing.assert_allclose(step2, np.array([0.9, -1.9]) - u2, rtol=1e-12)


def test_weight_decay_applies_to_weights_not_biases():
    optimizer = make_optimizer("sgd", weight_decay=0.5)
    weight, bias = np.array([[2.0]]), np.array([2.0])
    optimizer.step([weight], [bias], [np.zeros((1, 1))], [np.zeros(1)], 0.1)
    assert weight[0, 0] == pytest.approx(2.0 - 0.1 * 0.5 * 2.0)
    assert bias[0] == 2.0


def test_optimizers_keep_float32():
    for name in ("sgd", "momentum", "nesterov", "rmsprop", "adam"):
        weight = np.ones((3, 2), np.float32)
        bias = np.ones(2, np.float32)
        optimizer = make_optimizer(name)
        for _ in range(2):
            optimizer.step([weight], [bias], [np.full((3, 2), 0.5, np.float32)],
                           [np.full(2, 0.5, np.float32)], 0.01)
        assert weight.dtype == bias.dtype == np.float32
        assert all(u.dtype == np.float32 for u in optimizer.last_updates)


def test_schedules():
    assert scheduled_learning_rate(0.1, "constant", 7.5, 10) == 0.1
    assert scheduled_learning_rate(0.1, "step", 9.9, 30, step_size=10, gamma=0.5) == 0.1
    assert scheduled_learning_rate(0.1, "step", 25.0, 30, step_size=10, gamma=0.5) == pytest.approx(0.025)
    assert scheduled_learning_rate(0.1, "cosine", 0.0, 10) == pytest.approx(0.1)
    assert scheduled_learning_rate(0.1, "cosine", 5.0, 10) == pytest.approx(0.05)
    assert scheduled_learning_rate(0.1, "cosine", 10.0, 10) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        scheduled_learning_rate(0.1, "wiggle", 1, 10)
