"""The training loop one step at a time (``training_steps(watch=True)``): it is ``train``'s own
loop, so N watched steps leave exactly the weights of ``train`` after N steps; every number a
step record holds is the engine's (checked against the network, the optimiser's rules and
finite differences)."""

import numpy as np
import pytest

from datasets import load_bundled
from nn.network import Network
from nn.optimizers import make_optimizer
from nn.stepping import StepRecord, run_to_end
from nn.training import History, TrainConfig, build_network, train, training_steps

CONFIGS = {
    "sgd, batch 32": TrainConfig(hidden_sizes=(16,), optimizer="sgd", learning_rate=0.1, batch_size=32, epochs=3),
    "adam, L2, blank columns left out": TrainConfig(hidden_sizes=(128,), optimizer="adam", learning_rate=1e-3,
                                                    batch_size=64, epochs=3, l2=1e-4),
    "nesterov, two layers, full batch": TrainConfig(hidden_sizes=(32, 16), optimizer="nesterov",
                                                    learning_rate=0.05, epochs=6),
    "rmsprop, tanh, cosine": TrainConfig(hidden_sizes=(24,), activation="tanh", optimizer="rmsprop",
                                         learning_rate=1e-3, batch_size=50, epochs=3, schedule="cosine"),
}


@pytest.fixture(scope="module")
def bundled():
    data = load_bundled()
    return data.images[:1000], data.labels[:1000].astype(np.intp)


def watched(config, images, labels, n):
    network = build_network(config)
    steps = training_steps(network, images, labels, config, watch=True)
    return network, [next(steps) for _ in range(n)], steps


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_n_watched_steps_leave_exactly_the_weights_of_train(bundled, name):
    config = CONFIGS[name]
    images, labels = bundled
    n = 5 if config.batch_size is None else 40  # crosses an epoch boundary for the mini-batches
    network, records, _ = watched(config, images, labels, n)
    reference, history = build_network(config), History()
    result = train(reference, images, labels, config, history=history, stop=lambda: len(history.step_loss) >= n)
    assert result.status == "stopped" and len(history.step_loss) == n
    for ours, theirs in zip([*network.weights, *network.biases], [*reference.weights, *reference.biases]):
        assert np.array_equal(ours, theirs)
    assert [r.loss for r in records] == history.step_loss  # the same batches, in the same order
    assert [r.step for r in records] == list(range(1, n + 1))


def test_train_is_the_loop_run_to_its_end(bundled):
    images, labels = bundled
    config = CONFIGS["sgd, batch 32"]
    direct = train(build_network(config), images, labels, config)
    network = build_network(config)
    driven = run_to_end(training_steps(network, images, labels, config))
    assert driven.status == direct.status == "completed"
    assert all(np.array_equal(a, b) for a, b in zip(network.weights, direct.network.weights))
    assert driven.history.step_loss == direct.history.step_loss


def test_a_record_holds_the_batch_and_the_update_the_network_got(bundled):
    images, labels = bundled
    config = CONFIGS["adam, L2, blank columns left out"]
    network, records, _ = watched(config, images, labels, 3)
    record = records[-1]
    assert isinstance(record, StepRecord) and record.batch_size == 64
    np.testing.assert_array_equal(record.labels, labels[record.rows])
    # The columns left out of the batch (blank in all of it) are given back as zeros.
    np.testing.assert_allclose(record.inputs, images[record.rows] / np.float32(255), rtol=1e-7)
    for before, update, now in zip(record.weights_before, record.updates, network.weights):
        assert np.array_equal(before - update, now)
    for before, update, now in zip(record.biases_before, record.bias_updates, network.biases):
        assert np.array_equal(before - update, now)
    after = Network.from_arrays(network.weights, network.biases, network.activation)
    assert record.loss_after == pytest.approx(after.loss(record.inputs, record.labels), rel=1e-5)
    assert record.loss_after < record.loss
    assert record.optimizer == "adam" and record.optimizer_settings["step_count"] == 3
    assert record.optimizer_settings["weight_decay"] == pytest.approx(1e-4)


def test_the_recorded_gradients_are_backprop_of_the_recorded_forward_pass(bundled):
    images, labels = bundled
    network, records, _ = watched(CONFIGS["nesterov, two layers, full batch"], images, labels, 2)
    record = records[-1]
    m = record.batch_size
    p = record.probabilities.astype(np.float64)
    expected = p.copy()
    expected[np.arange(m), record.labels] -= 1
    np.testing.assert_allclose(record.grad_pre_activations[-1], expected / m, rtol=1e-5, atol=1e-9)
    # dJ/dA[l] = dJ/dZ[l+1] W[l+1]^T and dJ/dZ[l] = dJ/dA[l] f'(Z[l]) (ReLU: 1 where A > 0).
    for layer in range(2):
        above = record.grad_pre_activations[layer + 1] @ record.weights_before[layer + 1].T
        np.testing.assert_allclose(record.grad_activations[layer], above, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(record.grad_pre_activations[layer],
                                   record.grad_activations[layer] * (record.activations[layer] > 0), atol=1e-9)
    np.testing.assert_allclose(record.grad_weights[0], record.inputs.T @ record.grad_pre_activations[0],
                               rtol=1e-4, atol=1e-8)


def test_the_recorded_first_layer_gradient_matches_finite_differences(bundled):
    images, labels = bundled
    _, records, _ = watched(CONFIGS["sgd, batch 32"], images, labels, 7)
    record = records[-1]
    before = Network.from_arrays([w.astype(np.float64) for w in record.weights_before],
                                 [b.astype(np.float64) for b in record.biases_before], "relu")
    x, y = record.inputs.astype(np.float64), record.labels
    gradient = record.grad_weights[0]
    epsilon = 1e-5
    for unit in (0, 5):
        for pixel in np.argsort(-np.abs(gradient[:, unit]))[:4]:
            w = before.weights[0]
            saved = w[pixel, unit]
            w[pixel, unit] = saved + epsilon
            up = before.loss(x, y)
            w[pixel, unit] = saved - epsilon
            down = before.loss(x, y)
            w[pixel, unit] = saved
            numeric = (up - down) / (2 * epsilon)
            assert gradient[pixel, unit] == pytest.approx(numeric, rel=1e-3, abs=1e-7)


def test_recording_the_backward_pass_changes_no_number(bundled):
    images, labels = bundled
    x, y = images[:50] / np.float32(255), labels[:50]
    net = Network((784, 20, 10), "relu", seed=3)
    plain = net.backward(net.forward(x, y), y)
    recorded = net.backward(net.forward(x, y, record=True), y, record=True)
    for a, b in zip([*plain.weights, *plain.biases], [*recorded.weights, *recorded.biases]):
        assert np.array_equal(a, b)
    assert plain.layer_outputs is None and len(recorded.layer_outputs) == len(net.layers)
    with pytest.raises(ValueError, match="dense networks only"):
        conv = TrainConfig(hidden_sizes=(), conv_layers=((2, 3),), batch_size=8)
        conv_net = build_network(conv)
        conv_net.backward(conv_net.forward(x[:4], y[:4]), y[:4], record=True)


def test_optimizer_state_is_given_as_the_textbook_writes_it():
    g = np.array([0.5, -2.0], dtype=np.float32)
    for name, expected in (("adam", {"m": 0.1 * g, "v": 0.001 * g * g}), ("momentum", {"v": g}),
                           ("rmsprop", {"s": 0.1 * g * g}), ("sgd", {})):
        optimizer = make_optimizer(name)
        assert optimizer.state_values() == {}
        optimizer.step([np.zeros(2, np.float32)], [np.zeros(1, np.float32)], [g.copy()],
                       [np.zeros(1, np.float32)], 0.01)
        values = optimizer.state_values()
        assert sorted(values) == sorted(expected)
        for symbol, array in expected.items():
            np.testing.assert_allclose(values[symbol][0], array, rtol=1e-6)


def test_a_watched_run_ends_with_train_s_result(bundled):
    images, labels = bundled
    config = TrainConfig(hidden_sizes=(8,), optimizer="sgd", learning_rate=0.1, batch_size=250, epochs=2)
    network, records, steps = watched(config, images, labels, 8)
    assert records[-1].epoch == 2
    result = run_to_end(steps)
    assert result.status == "completed" and len(result.history.epoch) == 2
