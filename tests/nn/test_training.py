"""Training on real data: accuracy thresholds, divergence, stop, history, no data copies."""

import threading
import tracemalloc

import numpy as np
import pytest

from datasets import load_bundled, load_mnist_test_set, stratified_split
from nn.training import TrainConfig, build_network, evaluate, train


@pytest.fixture(scope="module")
def bundled():
    data = load_bundled()
    train_idx, val_idx = stratified_split(data.labels, 0.1, seed=0)
    return (data.images[train_idx], data.labels[train_idx],
            data.images[val_idx], data.labels[val_idx])


@pytest.fixture(scope="module")
def test_set():
    return load_mnist_test_set()


def test_classic_setup_reaches_89_percent_train_accuracy(bundled):
    x, y, xv, yv = bundled
    config = TrainConfig()  # 784 -> 10 relu -> 10, full-batch gradient descent
    assert config.hidden_sizes == (10,) and config.batch_size is None and config.optimizer == "sgd"
    net = build_network(config)
    result = train(net, x, y, config, validation=(xv, yv))
    assert result.status == "completed"
    _, train_accuracy = evaluate(net, x, y)
    assert train_accuracy >= 0.89
    assert result.history.validation_accuracy[-1] >= 0.85


def test_adam_128_reaches_92_percent_on_real_test_set(bundled, test_set):
    x, y, _, _ = bundled
    config = TrainConfig(hidden_sizes=(128,), optimizer="adam", learning_rate=1e-3,
                         batch_size=128, epochs=20, snapshot_every=0)
    net = build_network(config)
    train(net, x, y, config)
    _, test_accuracy = evaluate(net, test_set.images, test_set.labels)
    assert test_accuracy >= 0.92


@pytest.mark.parametrize("optimizer,lr", [("momentum", 0.05), ("nesterov", 0.05), ("rmsprop", 1e-3)])
def test_other_optimizers_learn(bundled, optimizer, lr):
    x, y, xv, yv = bundled
    config = TrainConfig(hidden_sizes=(64,), optimizer=optimizer, learning_rate=lr,
                         batch_size=64, epochs=3, snapshot_every=0)
    result = train(build_network(config), x, y, config, validation=(xv, yv))
    assert result.history.validation_accuracy[-1] >= 0.85


def test_stochastic_mode_learns_in_one_epoch(bundled):
    x, y, xv, yv = bundled
    config = TrainConfig(hidden_sizes=(32,), learning_rate=0.01, batch_size=1, epochs=1)
    result = train(build_network(config), x, y, config, validation=(xv, yv))
    assert len(result.history.step_loss) == len(x)
    assert result.history.validation_accuracy[-1] >= 0.8


def test_learning_rate_10_diverges_and_keeps_finite_weights(bundled):
    x, y, _, _ = bundled
    config = TrainConfig(hidden_sizes=(128,), learning_rate=10, epochs=20)
    net = build_network(config)
    result = train(net, x, y, config)
    assert result.status == "diverged"
    assert "learning rate (10)" in result.message
    assert len(result.history.epoch) < 20
    assert all(np.isfinite(p).all() for p in net.weights + net.biases)
    assert np.isfinite(evaluate(net, x, y)[0])


def test_stop_flag_and_progress(bundled):
    x, y, _, _ = bundled
    stop = threading.Event()
    reports = []

    def on_progress(progress):
        reports.append(progress)
        if progress.epoch >= 2:
            stop.set()

    config = TrainConfig(hidden_sizes=(16,), batch_size=256, epochs=50, learning_rate=0.1)
    result = train(build_network(config), x, y, config, progress=on_progress, stop=stop)
    assert result.status == "stopped"
    assert len(result.history.epoch) == 2
    assert [r.step for r in reports] == sorted(r.step for r in reports)
    assert reports[0].total_steps == 50 * int(np.ceil(len(x) / 256))


def test_history_has_what_the_dashboard_draws(bundled):
    x, y, xv, yv = bundled
    config = TrainConfig(hidden_sizes=(32, 16), batch_size=100, epochs=3, learning_rate=0.1,
                         snapshot_every=1)
    net = build_network(config)
    history = train(net, x, y, config, validation=(xv, yv)).history
    steps = 3 * int(np.ceil(len(x) / 100))
    assert len(history.step_loss) == steps
    assert history.epoch == [1, 2, 3]
    assert len(history.validation_accuracy) == 3
    assert len(history.stats_step) >= 3 * 20
    assert all(len(norms) == 3 for norms in history.layer_grad_norm)
    assert all(len(dead) == 2 for dead in history.layer_dead_fraction)
    assert all(0 <= d <= 1 for dead in history.layer_dead_fraction for d in dead)
    assert all(r > 0 for ratios in history.layer_update_ratio for r in ratios)
    assert [s.epoch for s in history.snapshots] == [0, 1, 2, 3]
    np.testing.assert_array_equal(history.snapshots[-1].weights[0], net.weights[0])
    assert not np.array_equal(history.snapshots[0].weights[0], net.weights[0])
    assert [g.shape for g in history.last_grad_weights] == [w.shape for w in net.weights]


def test_same_seed_is_bit_identical(bundled):
    x, y, _, _ = bundled
    config = TrainConfig(hidden_sizes=(32,), optimizer="adam", learning_rate=1e-3,
                         batch_size=64, epochs=2, seed=5)
    first, second = build_network(config), build_network(config)
    train(first, x, y, config)
    train(second, x, y, config)
    for a, b in zip(first.weights + first.biases, second.weights + second.biases):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    other = TrainConfig(**{**config.to_dict(), "seed": 6})
    third = build_network(other)
    train(third, x, y, other)
    assert not np.array_equal(first.weights[0], third.weights[0])


def test_an_epoch_allocates_no_data_sized_array(bundled):
    x, y, _, _ = bundled
    # Four copies of the data, so fixed costs (buffers, optimiser state) are small beside it.
    x, y = np.tile(x, (4, 1)), np.tile(y, 4)
    config = TrainConfig(hidden_sizes=(64,), batch_size=128, epochs=2, snapshot_every=0)
    net = build_network(config)
    tracemalloc.start()
    try:
        train(net, x, y, config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A shuffled copy of the data (x[perm]) would alone be x.nbytes (14 MB).
    assert peak < 0.2 * x.nbytes, f"peak {peak} bytes vs data {x.nbytes} bytes"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="learning rate"):
        TrainConfig(learning_rate=0)
    with pytest.raises(ValueError, match="hidden layer widths"):
        TrainConfig(hidden_sizes=(0,))
    with pytest.raises(ValueError, match="batch size"):
        TrainConfig(batch_size=0)


def test_batch_larger_than_data_and_zero_epochs(bundled):
    x, y, _, _ = bundled
    config = TrainConfig(hidden_sizes=(8,), batch_size=10 * len(x), epochs=2)
    result = train(build_network(config), x[:50], y[:50], config)
    assert len(result.history.step_loss) == 2  # one full batch per epoch
    zero = TrainConfig(epochs=0)
    result = train(build_network(zero), x[:50], y[:50], zero)
    assert result.status == "completed" and result.history.step_loss == []
