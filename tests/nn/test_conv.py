"""Convolutional layers (nn/conv.py): gradients against finite differences, the forward
pass against a plain loop, shapes, float32, seeds, training, model files, the CLI and
the recommended preset's accuracy on the real MNIST test set."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gradient_support import numeric_gradient, relative_error

from datasets import load_bundled
from nn.conv import (
    RECOMMENDED_CONV_CONFIG,
    Conv2D,
    ConvSpec,
    MaxPool2D,
    conv_shapes,
)
from nn.gradcheck import gradient_check
from nn.layers import Flatten
from nn.network import ConvNetwork, Network
from nn.optimizers import make_optimizer
from nn.training import TrainConfig, build_network, evaluate, train

REPO_ROOT = Path(__file__).resolve().parents[2]
LEARNING_RATES = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "rmsprop": 1e-3, "adam": 1e-3}


@pytest.fixture(scope="module")
def bundled():
    data = load_bundled()
    return data.images, data.labels.astype(np.intp)


def naive_convolution(x, w, b, pad):
    """The definition, one output number at a time: sum over the window of X * W, + b."""
    m, height, width, _ = x.shape
    k, filters = w.shape[0], w.shape[3]
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out_h, out_w = height + 2 * pad - k + 1, width + 2 * pad - k + 1
    out = np.zeros((m, out_h, out_w, filters))
    for n in range(m):
        for y in range(out_h):
            for x_ in range(out_w):
                for f in range(filters):
                    out[n, y, x_, f] = np.sum(padded[n, y : y + k, x_ : x_ + k, :] * w[:, :, :, f]) + b[f]
    return out


# -- each layer against finite differences (float64) -------------------------------------
CONV_CASES = [("valid", 3, 1), ("valid", 5, 1), ("valid", 3, 3), ("same", 3, 1), ("same", 5, 2), ("same", 3, 4)]


@pytest.mark.parametrize("padding,kernel,in_channels", CONV_CASES)
def test_conv2d_gradients_match_finite_differences(padding, kernel, in_channels):
    rng = np.random.default_rng(kernel * 10 + in_channels)
    layer = Conv2D(in_channels, 3, kernel, padding)
    x = rng.standard_normal((2, 7, 6, in_channels))
    w = rng.standard_normal(layer.weight_shape)
    b = rng.standard_normal(3)
    # J = sum(Z * R) for a fixed random R, so dJ/dZ = R.
    out_shape = (2, *layer.output_size(7, 6), 3)
    r = rng.standard_normal(out_shape)

    def loss():
        return float(np.sum(layer.forward(x, (w, b))[0] * r))

    z, cols = layer.forward(x, (w, b))
    np.testing.assert_array_equal(cols, layer.im2col(x))
    dx, (dw, db) = layer.backward(r, x, z, cols, (w, b))
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert relative_error(dw, numeric_gradient(loss, w)) < 1e-6
    assert relative_error(db, numeric_gradient(loss, b)) < 1e-6
    assert relative_error(dx, numeric_gradient(loss, x)) < 1e-6


@pytest.mark.parametrize("shape", [(2, 6, 8, 3), (1, 7, 5, 2)])  # even, and odd (last row/column dropped)
def test_maxpool_gradient_matches_finite_differences(shape):
    rng = np.random.default_rng(3)
    x = rng.permutation(math.prod(shape)).reshape(shape).astype(np.float64) / 7  # distinct: no ties
    pool = MaxPool2D()
    r = rng.standard_normal((shape[0], *pool.output_shape(shape[1:])))

    def loss():
        return float(np.sum(pool.forward(x)[0] * r))

    pooled, _ = pool.forward(x)
    dx, _ = pool.backward(r, x, pooled, None)
    assert dx.shape == x.shape
    assert relative_error(dx, numeric_gradient(loss, x)) < 1e-6
    # Each pooled gradient lands on exactly one input: its block's maximum.
    assert np.count_nonzero(dx) == r.size
    np.testing.assert_allclose(dx.sum(), r.sum())
    if shape[1] % 2:
        assert not dx[:, -1].any()  # the dropped row gets nothing


def test_maxpool_ties_give_the_whole_gradient_to_one_maximum_left_column_first():
    x = np.zeros((1, 2, 6, 1))
    x[0, :, 2:4, 0] = [[5.0, 5.0], [1.0, 5.0]]  # a three-way tie at 5: top-left wins
    x[0, :, 4:6, 0] = [[1.0, 5.0], [5.0, 0.0]]  # top-right and bottom-left tie: the left column wins
    pool = MaxPool2D()
    pooled, _ = pool.forward(x)
    assert pooled.reshape(-1).tolist() == [0.0, 5.0, 5.0]
    dx, _ = pool.backward(np.array([2.0, 3.0, 4.0]).reshape(1, 1, 3, 1), x, pooled, None)
    assert dx[0, :, :2, 0].tolist() == [[2.0, 0.0], [0.0, 0.0]]  # all four tie at 0: top-left
    assert dx[0, :, 2:4, 0].tolist() == [[3.0, 0.0], [0.0, 0.0]]
    assert dx[0, :, 4:6, 0].tolist() == [[0.0, 0.0], [4.0, 0.0]]


def test_flatten_is_a_reshape_both_ways():
    x = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    flat, _ = Flatten().forward(x)
    assert flat.shape == (2, 60) and np.shares_memory(flat, x)
    assert flat[1, 7] == x[1, 0, 1, 2]  # row-major: (y, x, c)
    np.testing.assert_array_equal(Flatten().backward(flat, x, flat, None)[0], x)


@pytest.mark.parametrize("padding,kernel,in_channels", CONV_CASES)
def test_conv2d_forward_equals_the_naive_loop(padding, kernel, in_channels):
    rng = np.random.default_rng(1)
    layer = Conv2D(in_channels, 4, kernel, padding)
    x = rng.standard_normal((2, 8, 7, in_channels))
    w, b = rng.standard_normal(layer.weight_shape), rng.standard_normal(4)
    expected = naive_convolution(x, w, b, layer.pad)
    got, _ = layer.forward(x, (w, b))
    assert got.shape == expected.shape == (2, *layer.output_size(8, 7), 4)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# -- the whole network --------------------------------------------------------------------
NETWORK_CASES = {
    "conv valid + pool, no hidden": dict(conv_layers=[ConvSpec(4, 5)], hidden_sizes=()),
    "two convs, same, hidden": dict(conv_layers=[ConvSpec(3, 3, "same"), ConvSpec(4, 3)], hidden_sizes=(6,)),
    "no pool, odd maps": dict(conv_layers=[ConvSpec(2, 3, "valid", False), ConvSpec(3, 3, "same", True)],
                              hidden_sizes=(5,)),
}


@pytest.mark.parametrize("case", sorted(NETWORK_CASES))
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_conv_network_gradients_including_the_input(case, activation):
    rng = np.random.default_rng(0)
    net = ConvNetwork(image_shape=(12, 11), activation=activation, seed=2, **NETWORK_CASES[case])
    x = rng.random((4, 12 * 11))
    y = rng.integers(0, 10, 4)
    check = gradient_check(net, x, y, max_entries=40)
    assert set(check.relative_errors) == {f"{p}{i}" for p in "Wb" for i in range(1, len(net.weights) + 1)} | {"X"}
    assert check.max_relative_error < 1e-6, check.relative_errors


def test_shapes_sizes_and_description():
    net = ConvNetwork([ConvSpec(8, 5)], seed=0)
    assert [w.shape for w in net.weights] == [(5, 5, 1, 8), (1152, 10)]
    assert [b.shape for b in net.biases] == [(8,), (10,)]
    assert net.layer_kinds == ("conv", "dense")
    assert net.feature_map_shapes == ((24, 24, 8),)
    assert net.layer_sizes == (784, 1152, 10) and net.hidden_sizes == ()
    assert net.n_parameters == 5 * 5 * 8 + 8 + 1152 * 10 + 10
    assert net.describe() == "28×28 → conv 8@5×5 relu → max-pool 2×2 → 10 softmax"
    assert net.conv_specs == (ConvSpec(8, 5),) and Network((784, 10)).conv_specs == ()
    assert [layer.kind for layer in net.layers] == ["conv", "activation", "pool", "flatten", "dense"]

    deep = ConvNetwork([ConvSpec(6, 3, "same"), ConvSpec(4, 3, "valid", False)], hidden_sizes=(32,), n_classes=26,
                       seed=0)
    assert deep.feature_map_shapes == ((28, 28, 6), (12, 12, 4))
    assert deep.layer_sizes == (784, 14 * 14 * 6, 12 * 12 * 4, 32, 26)
    assert deep.describe() == "28×28 → conv 6@3×3 same relu → max-pool 2×2 → conv 4@3×3 relu → 32 relu → 26 softmax"
    x = np.random.default_rng(0).random((3, 784)).astype(np.float32)
    forward = deep.forward(x, np.array([0, 1, 25]), record=True)
    assert [a.shape for a in forward.activations] == [(3, 784), (3, 28, 28, 6), (3, 12, 12, 4), (3, 32), (3, 26)]
    assert [p.shape for p in forward.pooled] == [(3, 14, 14, 6), (3, 12, 12, 4)]
    assert [z.shape for z in forward.pre_activations] == [a.shape for a in forward.activations[1:]]
    assert len(forward.activations) == len(deep.weights) + 1
    grads = deep.backward(forward, np.array([0, 1, 25]), input_gradient=True)
    assert [g.shape for g in grads.weights] == [w.shape for w in deep.weights]
    assert grads.inputs.shape == (3, 784)


def test_parameters_and_workspace_gradients_are_views_of_one_array():
    from nn.speed import joined

    net = ConvNetwork([ConvSpec(4, 3), ConvSpec(3, 3)], hidden_sizes=(8,), seed=0)
    assert joined([*net.weights, *net.biases]) is not None
    workspace = net.make_workspace()
    assert joined([*workspace.grad_weights, *workspace.grad_biases]) is not None
    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    y = np.arange(5)
    grads = net.backward(net.forward(x, y, workspace=workspace), y, workspace=workspace)
    assert all(g is w for g, w in zip(grads.weights, workspace.grad_weights))


@pytest.mark.parametrize("optimizer", sorted(LEARNING_RATES))
def test_float32_parameters_gradients_and_optimizer_state(bundled, optimizer):
    images, labels = bundled
    x = images[:32].astype(np.float32) / np.float32(255)
    y = labels[:32]
    net = ConvNetwork([ConvSpec(4, 5, "same"), ConvSpec(4, 3)], hidden_sizes=(16,), seed=0)
    workspace = net.make_workspace()
    opt = make_optimizer(optimizer, weight_decay=1e-4)
    for _ in range(2):
        forward = net.forward(x, y, record=True, workspace=workspace)
        grads = net.backward(forward, y, input_gradient=True, workspace=workspace)
        opt.step(net.weights, net.biases, grads.weights, grads.biases, LEARNING_RATES[optimizer])
    assert opt._joined is not None  # the one-array update path
    groups = [net.weights, net.biases, forward.activations[1:], forward.pooled, forward.pre_activations,
              grads.weights, grads.biases, [grads.inputs], opt.last_updates, *(getattr(opt, n) for n in opt.state)]
    assert all(a.dtype == np.float32 for group in groups for a in group)


def test_workspace_and_plain_passes_agree_bit_for_bit(bundled):
    images, labels = bundled
    x = images[:20].astype(np.float32) / np.float32(255)
    y = labels[:20]
    net = ConvNetwork([ConvSpec(4, 3, "same"), ConvSpec(3, 3)], hidden_sizes=(7,), seed=1)
    workspace = net.make_workspace()
    plain_forward = net.forward(x, y)
    plain = net.backward(plain_forward, y, input_gradient=True)
    reused = net.backward(net.forward(x, y, workspace=workspace), y, input_gradient=True, workspace=workspace)
    assert plain_forward.loss == net.forward(x, y, workspace=workspace).loss
    for a, b in zip(plain.weights + plain.biases + [plain.inputs], reused.weights + reused.biases + [reused.inputs]):
        assert a.tobytes() == b.tobytes()


def test_copy_and_predictions(bundled):
    images, _ = bundled
    net = ConvNetwork([ConvSpec(4, 5)], seed=3)
    x = images[:700].astype(np.float32) / np.float32(255)  # more than one evaluation chunk
    probabilities = net.predict_proba(x)
    assert probabilities.shape == (700, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(net.predict(x), probabilities.argmax(axis=1))
    twin = net.copy(np.float64)
    assert twin.dtype == np.float64 and twin.describe() == net.describe()
    np.testing.assert_allclose(twin.predict_proba(x[:50]), probabilities[:50], atol=1e-5)


# -- TrainConfig, build_network and train() -------------------------------------------------
def test_train_config_conv_settings_are_validated_with_clear_messages():
    config = TrainConfig(conv_layers=[[8, 5]], hidden_sizes=(), batch_size=64)
    assert config.conv_layers == ((8, 5),)
    assert config.to_dict()["conv_layers"] == [[8, 5]]
    assert TrainConfig(**config.to_dict()) == config
    bad = {
        "filters must be 1..64": dict(conv_layers=((0, 5),)),
        "filters must be 1..64, got 65": dict(conv_layers=((65, 3),)),
        "kernel size must be 1..28": dict(conv_layers=((8, 29),)),
        "'same' padding needs an odd kernel size": dict(conv_layers=((8, 4),), conv_padding="same"),
        "padding must be 'valid' or 'same'": dict(conv_layers=((8, 3),), conv_padding="full"),
        "shrink to nothing": dict(conv_layers=((4, 5), (4, 5), (4, 5))),
        "too small for a 2×2 max pool": dict(conv_layers=((4, 5), (4, 5), (4, 3), (4, 1))),
        "(filters, kernel) pairs": dict(conv_layers=(8, 5)),
    }
    bad["batches of at most 1024 images"] = dict(conv_layers=((8, 5),), batch_size=None)
    bad["batches of at most 1024 images (full batch"] = dict(conv_layers=((8, 5),), batch_size=2000)
    for message, kwargs in bad.items():
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            TrainConfig(**{"batch_size": 64, **kwargs})
    with pytest.raises(ValueError, match="does not fit"):
        conv_shapes([ConvSpec(2, 5)], (4, 4))


def test_build_network_gives_a_conv_network_only_with_conv_layers():
    dense = build_network(TrainConfig(hidden_sizes=(16,)))
    assert isinstance(dense, Network) and dense.conv_specs == ()
    conv = build_network(TrainConfig(conv_layers=((6, 3),), conv_padding="same", conv_pool=False,
                                     hidden_sizes=(16,), seed=4, batch_size=64), n_classes=26)
    assert isinstance(conv, Network) and conv.conv_specs == (ConvSpec(6, 3, "same", False),)
    assert conv.describe() == "28×28 → conv 6@3×3 same relu → 16 relu → 26 softmax"
    again = build_network(TrainConfig(conv_layers=((6, 3),), conv_padding="same", conv_pool=False,
                                      hidden_sizes=(16,), seed=4, batch_size=64), n_classes=26)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(conv.weights, again.weights))
    with pytest.raises(ValueError, match="square"):
        build_network(TrainConfig(conv_layers=((6, 3),), batch_size=64), n_inputs=780)


@pytest.mark.parametrize("optimizer", sorted(LEARNING_RATES))
def test_trains_through_train_with_every_optimizer(bundled, optimizer):
    images, labels = bundled
    config = TrainConfig(conv_layers=((4, 5),), hidden_sizes=(), optimizer=optimizer,
                         learning_rate=LEARNING_RATES[optimizer], batch_size=50, epochs=2, stats_every=4)
    net = build_network(config)
    x, y = images[::5], labels[::5]  # 1,000 images, every digit (the bundled set is sorted by label)
    before = evaluate(net, x, y)[0]
    result = train(net, x, y, config, validation=(images[1::10], labels[1::10]))
    history = result.history
    assert result.status == "completed", result.message
    assert history.train_loss[-1] < before
    assert len(history.layer_grad_norm[0]) == 2 and len(history.layer_dead_fraction[0]) == 1
    assert all(0 <= d <= 1 for record in history.layer_dead_fraction for d in record)
    assert history.snapshots[-1].weights[0].shape == (5, 5, 1, 4)
    assert history.validation_accuracy[-1] > 0.6
    assert all(w.dtype == np.float32 for w in net.weights)


def test_dead_filter_fraction_counts_filters_dark_everywhere():
    from nn.speed import dead_fraction

    maps = np.zeros((3, 4, 4, 5), np.float32)
    maps[2, 3, 1, 0] = 0.5  # filter 0 fires once, in one image
    maps[:, :, :, 4] = 1.0
    assert dead_fraction(maps, "relu", np.ones(3, np.float32)) == pytest.approx(3 / 5)


def test_same_seed_is_bit_identical(bundled):
    images, labels = bundled

    def run(seed):
        config = TrainConfig(conv_layers=((4, 3),), hidden_sizes=(8,), optimizer="adam", learning_rate=1e-3,
                             batch_size=64, epochs=1, seed=seed)
        net = build_network(config)
        return net, train(net, images[::8], labels[::8], config).history

    (a, history_a), (b, history_b), (c, _) = run(5), run(5), run(6)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a.weights + a.biases, b.weights + b.biases))
    assert history_a.step_loss == history_b.step_loss
    assert history_a.layer_dead_fraction == history_b.layer_dead_fraction
    assert not np.array_equal(a.weights[0], c.weights[0])


def test_a_far_too_high_learning_rate_is_caught(bundled):
    images, labels = bundled
    config = TrainConfig(conv_layers=((4, 5),), hidden_sizes=(), optimizer="sgd", learning_rate=500.0,
                         batch_size=64, epochs=3)
    net = build_network(config)
    result = train(net, images[::4], labels[::4], config)
    assert result.status == "diverged"
    assert all(np.isfinite(w).all() for w in net.weights)


# -- accuracy on the real test set ------------------------------------------------------------
@pytest.mark.slow
def test_recommended_preset_reaches_97_percent_on_the_real_test_set(bundled, mnist_test_set):
    images, labels = bundled
    config = TrainConfig(**RECOMMENDED_CONV_CONFIG, validation_fraction=0.0, snapshot_every=0)
    net = build_network(config)
    result = train(net, images, labels, config)
    assert result.status == "completed"
    _, accuracy = evaluate(net, mnist_test_set.images, mnist_test_set.labels)
    assert accuracy >= 0.97, f"test accuracy {accuracy:.4f}"


def run_cli(*args):
    return subprocess.run([sys.executable, "train.py", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)


# -- model files ----------------------------------------------------------------------------------
def small_trained_conv(bundled):
    images, labels = bundled
    config = TrainConfig(conv_layers=((4, 3), (3, 3)), conv_padding="same", hidden_sizes=(12,), optimizer="adam",
                         learning_rate=1e-3, batch_size=100, epochs=1)
    net = build_network(config)
    train(net, images[::10], labels[::10], config)
    return net, config


def test_model_file_round_trip_gives_identical_predictions(bundled, tmp_path):
    from nn.model_io import load_model, save_model

    images, _ = bundled
    net, config = small_trained_conv(bundled)
    path = save_model(tmp_path / "conv.npz", net, config=config.to_dict())
    loaded, meta = load_model(path)
    assert loaded.conv_specs == net.conv_specs and loaded.describe() == net.describe()
    assert meta["format_version"] == 2 and meta["layer_kinds"] == ["conv", "conv", "dense", "dense"]
    assert meta["conv_layers"][0] == {"filters": 4, "kernel": 3, "padding": "same", "pool": True}
    assert meta["image_shape"] == [28, 28]
    assert TrainConfig(**meta["config"]) == config
    x = images[:300].astype(np.float32) / np.float32(255)
    assert loaded.predict_proba(x).tobytes() == net.predict_proba(x).tobytes()
    dense_meta = load_model(save_model(tmp_path / "dense.npz", build_network(TrainConfig())))[1]
    assert dense_meta["format_version"] == 1 and "layer_kinds" not in dense_meta  # dense files as before


def rewritten(path, tmp_path, change):
    """A copy of the model file at ``path`` with its arrays/metadata passed through ``change``."""
    import json

    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays["metadata"].tobytes())
    change(arrays, meta)
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    out = tmp_path / "changed.npz"
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize("change,message", [
    (lambda a, m: a.update(W1=a["W1"][:2]), "W1 has shape"),
    (lambda a, m: a.update(W2=a["W2"].reshape(3, 3, 3, 4)), "W2 has shape"),
    (lambda a, m: a.pop("b2"), "missing"),
    (lambda a, m: m["conv_layers"][0].update(kernel=4), "odd kernel"),
    (lambda a, m: m["conv_layers"][1].update(filters="3"), "filters"),
    (lambda a, m: m.update(image_shape=[28]), "image_shape"),
    (lambda a, m: m.update(layer_kinds=["conv", "dense", "dense", "dense"]), "layer_kinds"),
    (lambda a, m: m.update(layer_sizes=[784, 100, 147, 12, 10]), "layer_sizes"),
    (lambda a, m: a["W1"].__setitem__((0, 0, 0, 0), np.nan), "NaN"),
    (lambda a, m: m.update(format_version=3), "newer"),
])
def test_a_corrupted_conv_model_file_is_refused(bundled, tmp_path, change, message):
    from nn.model_io import ModelFileError, load_model, save_model

    net, _ = small_trained_conv(bundled)
    path = save_model(tmp_path / "conv.npz", net)
    with pytest.raises(ModelFileError, match=message):
        load_model(rewritten(path, tmp_path, change))
    raw = path.read_bytes()
    with pytest.raises(ModelFileError):
        load_model(raw[: len(raw) // 2])  # truncated


# -- the command line --------------------------------------------------------------------------------
@pytest.mark.parametrize("args,message", [
    (["--conv", "8"], "FILTERSxKERNEL"),
    (["--conv", "8x"], "FILTERSxKERNEL"),
    (["--conv", "axb"], "FILTERSxKERNEL"),
    (["--conv", "0x5"], "filters must be 1..64"),
    (["--conv", "8x30"], "kernel size must be 1..28"),
    (["--conv", "8x4", "--padding", "same"], "odd kernel"),
    (["--conv", "8x5,8x5,8x5"], "shrink to nothing"),
    (["--conv", "8x5", "--padding", "full"], "--padding"),
    (["--conv", "8x5", "--batch-size", "full"], "at most 1024"),
])
def test_cli_bad_conv_values_give_one_line_and_exit_2(args, message):
    result = run_cli(*args, "--epochs", "1", "--test", "none")
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_cli_trains_saves_and_loads_a_conv_network(tmp_path):
    model = tmp_path / "conv.npz"
    result = run_cli("--conv", "4x5", "--conv", "4x3", "--padding", "same", "--epochs", "3", "--validation", "0.5",
                     "--test", "none", "--save", str(model), "--quiet")
    assert result.returncode == 0, result.stderr
    accuracy = float(next(line for line in result.stdout.splitlines() if line.startswith("validation")).split()[2])
    assert accuracy > 0.8
    loaded = run_cli("--load", str(model), "--test", "none", "--validation", "0.5")
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded" in loaded.stdout and "conv 4@5×5 same relu → max-pool 2×2 → conv 4@3×3 same relu" in loaded.stdout
    assert f"validation accuracy {accuracy:.4f}" in loaded.stdout


def test_conv_benchmark_quick_runs_and_prints_its_tables():
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench.conv", "--quick", "--no-torch"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "## ms per epoch (median of wall time)" in out
    assert "| configuration | ours | ours, no history | ours / PyTorch |" in out
    assert "conv 8@5×5 valid → ReLU → max-pool 2×2 → dense 10, batch 128" in out
    assert "PyTorch: absent" in out and "| 128 | n/a | SKIP | — |" in out
