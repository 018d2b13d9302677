"""What the speed work (issue 3) must never break. No timing assertions here.

- float32 stays float32: parameters, gradients, optimiser state, activations, updates;
- an epoch allocates no data-sized array (tracemalloc), in every mode and for every
  optimiser; full batch makes exactly one float copy of the data, once;
- the same seed gives bit-identical results, in every mode;
- the shortcuts give exactly what the plain computation gives (accuracy without argmax,
  one-array optimiser updates), and leaving out the blank pixels of a batch gives the same
  maths (equal up to float rounding, exact zeros for the weights of the pixels left out);
- ``python -m bench --quick --no-torch`` runs and prints its tables.
"""

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from datasets import load_bundled
from nn.network import Network
from nn.optimizers import make_optimizer
from nn.speed import Workspace, add_bias
from nn.training import TrainConfig, build_network, train

OPTIMIZERS = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "rmsprop": 1e-3, "adam": 1e-3}
MODES = {"full batch": None, "mini-batch": 64, "stochastic": 1}
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundled():
    data = load_bundled()
    return data.images, data.labels.astype(np.intp)


def small_subset(bundled, mode):
    """Stochastic steps are slow: 300 images for them, 2,000 otherwise."""
    images, labels = bundled
    n = 300 if mode == "stochastic" else 2000
    return images[:n], labels[:n]


# -- float32 end to end --------------------------------------------------------------
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_everything_stays_float32_for_every_optimizer(bundled, optimizer):
    images, labels = bundled
    x = images[:64].astype(np.float32) / np.float32(255)
    y = labels[:64]
    net = Network((784, 32, 16, 10), "relu", seed=0)
    workspace = Workspace(net)
    opt = make_optimizer(optimizer, weight_decay=1e-4)
    for _ in range(3):
        forward = net.forward(x, y, record=True, workspace=workspace)
        grads = net.backward(forward, y, input_gradient=True, workspace=workspace)
        opt.step(net.weights, net.biases, grads.weights, grads.biases, OPTIMIZERS[optimizer])
    arrays = {
        "parameters": net.weights + net.biases,
        "activations": forward.activations[1:],
        "pre-activations": forward.pre_activations,
        "gradients": grads.weights + grads.biases + [grads.inputs],
        "updates": opt.last_updates,
        **{name: getattr(opt, name) for name in opt.state},
    }
    for what, group in arrays.items():
        assert group, what
        for array in group:
            assert array.dtype == np.float32, f"{optimizer}: {what} became {array.dtype}"
    assert all(np.isfinite(p).all() for p in net.weights + net.biases)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_training_keeps_float32_in_every_mode(bundled, mode):
    images, labels = small_subset(bundled, mode)
    config = TrainConfig(hidden_sizes=(16,), optimizer="adam", learning_rate=1e-3,
                         batch_size=MODES[mode], epochs=1, snapshot_every=1, stats_every=7)
    net = build_network(config)
    history = train(net, images, labels, config).history
    assert all(a.dtype == np.float32 for a in net.weights + net.biases)
    assert all(g.dtype == np.float32 for g in history.last_grad_weights)
    assert all(w.dtype == np.float32 for s in history.snapshots for w in s.weights + s.biases)


# -- no data-sized allocation per epoch ----------------------------------------------
def traced_training(images, labels, config):
    """(peak memory growth during epochs 2.., peak growth over the whole call) in bytes."""
    marks = {}

    def at_epoch_end(progress):
        if progress.epoch == 1:
            marks["after_first"] = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
        elif progress.epoch == config.epochs:
            marks["peak_later"] = tracemalloc.get_traced_memory()[1]

    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        train(build_network(config), images, labels, config, progress=at_epoch_end,
              progress_interval=float("inf"))
        whole_peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    return marks["peak_later"] - marks["after_first"], whole_peak


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_a_minibatch_epoch_allocates_no_data_sized_array(bundled, optimizer):
    images, labels = bundled
    x, y = np.tile(images, (4, 1)), np.tile(labels, 4)  # 20,000 images, 15.7 MB of uint8
    config = TrainConfig(hidden_sizes=(16,), optimizer=optimizer, learning_rate=OPTIMIZERS[optimizer],
                         batch_size=128, epochs=3)
    per_epoch, whole = traced_training(x, y, config)
    # x[perm] alone would be x.nbytes; a float32 copy 4 x x.nbytes.
    assert per_epoch < 0.05 * x.nbytes, f"an epoch allocated {per_epoch} bytes (data {x.nbytes})"
    assert whole < 0.2 * x.nbytes, f"training allocated {whole} bytes (data {x.nbytes})"


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_full_batch_converts_the_data_once_and_nothing_more(bundled, optimizer):
    images, labels = bundled
    x, y = np.tile(images, (2, 1)), np.tile(labels, 2)  # 10,000 images
    float_copy = x.size * 4  # the one float32 conversion full batch needs
    config = TrainConfig(hidden_sizes=(16,), optimizer=optimizer, learning_rate=OPTIMIZERS[optimizer],
                         epochs=4)
    per_epoch, whole = traced_training(x, y, config)
    # An epoch works in (n, 16) and (n, 10) arrays: 0.67 MB each here, 5% of the float copy.
    assert per_epoch < 0.2 * float_copy, f"an epoch allocated {per_epoch} bytes"
    assert whole < 1.25 * float_copy, f"training allocated {whole} bytes, float copy {float_copy}"


def test_a_stochastic_epoch_allocates_no_data_sized_array(bundled):
    images, labels = bundled
    x, y = np.tile(images[:500], (8, 1)), np.tile(labels[:500], 8)  # 4,000 images, 3.1 MB
    config = TrainConfig(hidden_sizes=(8,), learning_rate=0.01, batch_size=1, epochs=2,
                         snapshot_every=0)
    per_epoch, _ = traced_training(x, y, config)
    # The step-loss list grows by n floats (~32 bytes each with the list slot) per epoch.
    assert per_epoch < 0.1 * x.nbytes + 40 * len(x), f"an epoch allocated {per_epoch} bytes"


# -- bit-identical for the same seed -------------------------------------------------
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_same_seed_is_bit_identical_in_every_mode(bundled, mode, optimizer):
    images, labels = small_subset(bundled, mode)

    def run(seed):
        config = TrainConfig(hidden_sizes=(24, 12), optimizer=optimizer,
                             learning_rate=OPTIMIZERS[optimizer] / (10 if mode == "stochastic" else 1),
                             batch_size=MODES[mode], epochs=2, seed=seed, stats_every=5)
        net = build_network(config)
        result = train(net, images, labels, config, validation=(images[-200:], labels[-200:]))
        return net, result.history

    (first, h1), (second, h2), (other, _) = run(3), run(3), run(4)
    for a, b in zip(first.weights + first.biases, second.weights + second.biases):
        assert a.tobytes() == b.tobytes()
    assert h1.step_loss == h2.step_loss
    assert h1.train_accuracy == h2.train_accuracy and h1.validation_loss == h2.validation_loss
    assert h1.layer_grad_norm == h2.layer_grad_norm and h1.layer_dead_fraction == h2.layer_dead_fraction
    assert not np.array_equal(first.weights[0], other.weights[0])


# -- the shortcuts are exact -----------------------------------------------------------
def test_accuracy_count_matches_argmax_even_with_ties():
    rng = np.random.default_rng(0)
    net = Network((20, 10), seed=0)
    x = rng.random((300, 20)).astype(np.float32)
    labels = rng.integers(0, 10, 300)
    for case in ("random", "all tied", "some tied"):
        if case == "all tied":
            net.weights[0][:] = 0  # every logit equal: argmax says class 0 for every row
        elif case == "some tied":
            net.weights[0][:, 3] = net.weights[0][:, 7] = 1.0  # classes 3 and 7 tie, often on top
        logits = x @ net.weights[0] + net.biases[0]
        expected = int(np.count_nonzero(logits.argmax(axis=1) == labels))
        forward = net.forward(x, labels)
        assert forward.n_correct == expected, case
        np.testing.assert_array_equal(forward.probabilities.argmax(axis=1), logits.argmax(axis=1))
    assert forward.n_correct == int(np.count_nonzero(labels == 3))  # 3 < 7: argmax picks 3


@pytest.mark.parametrize("shape", [(128, 128), (42000, 10), (37801, 10), (70001, 3), (5000, 300)])
def test_bias_added_in_blocks_of_rows_equals_the_broadcast_sum(shape):
    rng = np.random.default_rng(1)
    z = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)
    expected = z + b
    add_bias(z, b)
    assert z.tobytes() == expected.tobytes()


def test_probabilities_are_the_same_with_and_without_labels(bundled):
    images, labels = bundled
    x = images[:4096].astype(np.float32) / np.float32(255)
    net = Network((784, 32, 10), seed=4)
    with_labels = net.forward(x, labels[:4096]).probabilities
    assert with_labels.tobytes() == net.predict_proba(x).tobytes()
    assert with_labels.flags.c_contiguous
    np.testing.assert_allclose(with_labels.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_one_array_update_equals_the_per_layer_update(bundled, optimizer):
    images, labels = bundled
    x = images[:100].astype(np.float32) / np.float32(255)
    y = labels[:100]
    packed = Network((784, 16, 10), seed=1)
    loose = packed.copy()
    loose.weights = [w.copy() for w in loose.weights]  # separate arrays: the per-layer path
    loose.biases = [b.copy() for b in loose.biases]
    runs = []
    for net in (packed, loose):
        opt = make_optimizer(optimizer, weight_decay=1e-3)
        for _ in range(3):
            forward = net.forward(x, y)
            grads = net.backward(forward, y, workspace=None if net is loose else Workspace(net))
            opt.step(net.weights, net.biases, grads.weights, grads.biases, OPTIMIZERS[optimizer])
        runs.append((net, opt))
    (net_a, opt_a), (net_b, opt_b) = runs
    assert opt_a._joined is not None and opt_b._joined is None  # the two paths were taken
    for a, b in zip(net_a.weights + net_a.biases, net_b.weights + net_b.biases):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("use_workspace", [True, False])
def test_leaving_out_blank_input_columns_gives_the_same_forward_and_backward(bundled, use_workspace):
    images, labels = bundled
    raw, y = images[:128], labels[:128]
    columns = np.flatnonzero(raw.any(axis=0))
    assert 0 < len(columns) < 700  # MNIST digits leave their borders blank
    x = raw.astype(np.float32) / np.float32(255)
    net = Network((784, 32, 10), seed=2)
    net.biases[0][:] = 0.01  # non-zero biases, so their gradients are checked too
    full_forward = net.forward(x, y)
    full = net.backward(full_forward, y)
    workspace = Workspace(net) if use_workspace else None
    for _ in range(2):  # the second time reuses the workspace's arrays
        forward = net.forward(x[:, columns], y, workspace=workspace, input_columns=columns)
        grads = net.backward(forward, y, workspace=workspace)
    np.testing.assert_allclose(forward.probabilities, full_forward.probabilities, rtol=1e-5, atol=1e-7)
    assert forward.loss == pytest.approx(full_forward.loss, rel=1e-6)
    assert forward.n_correct == full_forward.n_correct
    left_out = np.setdiff1d(np.arange(784), columns)
    assert not grads.weights[0][left_out].any() and not full.weights[0][left_out].any()
    for a, b in zip(grads.weights + grads.biases, full.weights + full.biases):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="input"):
        net.backward(forward, y, input_gradient=True)


def test_small_batches_on_narrow_layers_use_every_column(bundled):
    images, labels = bundled
    config = TrainConfig(hidden_sizes=(10,), learning_rate=0.1, batch_size=16, epochs=1, snapshot_every=0)
    net = build_network(config)
    kept = []
    plain_forward = net.forward
    net.forward = lambda *args, **kw: kept.append(kw.get("input_columns")) or plain_forward(*args, **kw)
    train(net, images[:200], labels[:200], config)  # 16 x 10: the gathers would cost more than they save
    assert len(kept) == 13 and all(c is None for c in kept)


@pytest.mark.parametrize("batch_size", [None, 100])
def test_training_on_uint8_pixels_leaves_blank_ones_out_and_matches_float_training(bundled, batch_size):
    images, labels = bundled
    x, y = images[:1000], labels[:1000]
    config = TrainConfig(hidden_sizes=(48,), learning_rate=0.1, batch_size=batch_size, epochs=2,
                         snapshot_every=0)  # batch x width >= 4096: worth leaving pixels out
    on_uint8 = build_network(config)
    kept = []
    plain_forward = on_uint8.forward
    on_uint8.forward = lambda *args, **kw: kept.append(kw.get("input_columns")) or plain_forward(*args, **kw)
    train(on_uint8, x, y, config)  # uint8: the blank columns of each batch are left out
    assert kept and all(c is not None and len(c) < 700 for c in kept)
    on_float = build_network(config)
    train(on_float, x.astype(np.float32) * np.float32(1 / 255), y, config)  # float: every column used
    blank = ~x.any(axis=0)
    assert blank.sum() > 100
    # Never used, so never changed: the weights of pixels blank in every image.
    np.testing.assert_array_equal(on_uint8.weights[0][blank], build_network(config).weights[0][blank])
    for a, b in zip(on_uint8.weights + on_uint8.biases, on_float.weights + on_float.biases):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


# -- the benchmark runs --------------------------------------------------------------
def test_bench_quick_runs_and_prints_its_tables():
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--no-torch"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "## ms per epoch (median of wall time)" in out
    assert "| configuration | ours | ours, no history | PyTorch | scikit-learn | matmuls alone |" in out
    assert "## goals (ratios measured in this run)" in out
    assert "| goal | measured | target | result | from CPU time |" in out
    assert "BLAS used by numpy" in out
    assert "tiled" in out  # says the 60,000 samples are the bundled 5,000 repeated
    assert "PyTorch: absent" in out


# -- convolution (nn/conv.py) ----------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_conv_minibatch_epoch_allocates_no_data_sized_array(bundled, optimizer):
    images, labels = bundled
    x, y = np.tile(images, (3, 1)), np.tile(labels, 3)  # 15,000 images, 11.8 MB of uint8
    config = TrainConfig(conv_layers=((4, 5), (4, 3)), conv_padding="same", hidden_sizes=(16,), optimizer=optimizer,
                         learning_rate=OPTIMIZERS[optimizer], batch_size=128, epochs=2)
    per_epoch, whole = traced_training(x, y, config)
    # The step buffers (im2col matrices, maps, pooling masks: ~16 MB for 128 images here) are
    # made in the first epoch, for the two batch sizes, and reused; never a copy of the data.
    assert per_epoch < 0.05 * x.nbytes, f"an epoch allocated {per_epoch} bytes (data {x.nbytes})"
    assert whole < 4 * x.nbytes, f"training allocated {whole} bytes, a float32 copy of the data is {4 * x.nbytes}"


# -- augmentation (nn/augment.py) --------------------------------------------------------
# The augmenter's arrays per image of a batch: five float32 and one index array of 784,
# the paper (31 x 31 float32) and the output: about 40 bytes per pixel.
AUGMENT_BYTES_PER_PIXEL = 40


def test_an_augmented_minibatch_epoch_allocates_no_data_sized_array(bundled):
    images, labels = bundled
    x, y = np.tile(images, (4, 1)), np.tile(labels, 4)  # 20,000 images, 15.7 MB of uint8
    config = TrainConfig(hidden_sizes=(16,), optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=3,
                         augment=True)
    per_epoch, whole = traced_training(x, y, config)
    buffers = AUGMENT_BYTES_PER_PIXEL * 128 * 784  # made once, in the first epoch
    assert per_epoch < 0.05 * x.nbytes, f"an epoch allocated {per_epoch} bytes (data {x.nbytes})"
    assert whole < 0.2 * x.nbytes + buffers, f"training allocated {whole} bytes (data {x.nbytes})"


def test_an_augmented_full_batch_moves_the_data_into_one_array_made_once(bundled):
    from nn.augment import FULL_BATCH_CHUNK

    images, labels = bundled
    x, y = np.tile(images, (2, 1)), np.tile(labels, 2)  # 10,000 images
    float_copy = x.size * 4
    config = TrainConfig(hidden_sizes=(16,), optimizer="adam", learning_rate=1e-3, epochs=4, augment=True)
    per_epoch, whole = traced_training(x, y, config)
    chunk_buffers = AUGMENT_BYTES_PER_PIXEL * FULL_BATCH_CHUNK * 784
    assert per_epoch < 0.2 * float_copy, f"an epoch allocated {per_epoch} bytes"
    # The float copy, the moved copy (both once) and the augmenter's arrays for a chunk.
    assert whole < 2.25 * float_copy + chunk_buffers, f"training allocated {whole} bytes, float copy {float_copy}"


@pytest.mark.parametrize("mode", sorted(MODES))
def test_augmented_training_keeps_float32_and_is_bit_identical_for_a_seed(bundled, mode):
    images, labels = small_subset(bundled, mode)

    def run():
        config = TrainConfig(hidden_sizes=(16,), optimizer="adam", learning_rate=1e-3, batch_size=MODES[mode],
                             epochs=1, augment=True, snapshot_every=0)
        net = build_network(config)
        return net, train(net, images, labels, config).history

    (first, h1), (second, h2) = run(), run()
    assert all(a.dtype == np.float32 for a in first.weights + first.biases)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first.weights, second.weights))
    assert h1.step_loss == h2.step_loss
