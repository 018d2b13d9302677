"""nn/analysis.py: the analysis behind the look-inside pages, checked against the network itself."""

import math
import subprocess
import sys

import numpy as np
import pytest

from nn import analysis as ins
from nn.network import Network
from nn.training import History, TrainConfig, build_network, train
from ui.figures import tiles


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(11)
    return rng.integers(0, 256, size=(200, 784), dtype=np.uint8)


@pytest.fixture(scope="module")
def one_hidden():
    net = Network((784, 12, 10), "relu", seed=4)
    rng = np.random.default_rng(4)
    net.biases = [rng.normal(0, 0.1, b.shape).astype(b.dtype) for b in net.biases]
    return net


@pytest.fixture(scope="module")
def two_hidden():
    net = Network((784, 9, 7, 10), "tanh", seed=5, dtype=np.float64)
    rng = np.random.default_rng(5)
    net.biases = [rng.normal(0, 0.1, b.shape) for b in net.biases]
    return net


# -- tiling -------------------------------------------------------------------


@pytest.mark.parametrize("n, columns", [(10, 5), (7, 3), (128, 16), (1, None)])
def test_tile_grid_shape_gaps_and_tiles(n, columns):
    rng = np.random.default_rng(n)
    values = rng.normal(size=(784, n)).astype(np.float32)
    grid, layout = tiles.tile_grid(values, columns=columns)
    cols = columns or tiles.default_columns(n)
    rows = math.ceil(n / cols)
    assert grid.shape == (rows * 29 - 1, cols * 29 - 1) == layout.shape
    # Gap rows / columns are entirely NaN; every tile pixel is a real value.
    for r in range(28, grid.shape[0], 29):
        assert np.isnan(grid[r]).all()
    for c in range(28, grid.shape[1], 29):
        assert np.isnan(grid[:, c]).all()
    for unit in range(n):
        r0, c0 = layout.slot_origin(unit)
        np.testing.assert_array_equal(grid[r0 : r0 + 28, c0 : c0 + 28], values[:, unit].reshape(28, 28))
    # Empty slots after the last tile are NaN too: NaN count = cells - tile pixels.
    assert np.isnan(grid).sum() == grid.size - n * 784
    np.testing.assert_array_equal(tiles.untile_grid(grid, layout), values)


def test_tile_grid_follows_order_and_layout_maps_cells_back_to_units():
    values = np.arange(784 * 6, dtype=np.float64).reshape(784, 6)
    order = np.array([4, 0, 5, 2])
    grid, layout = tiles.tile_grid(values, order, columns=2)
    assert grid.shape == (2 * 29 - 1, 2 * 29 - 1)
    np.testing.assert_array_equal(tiles.untile_grid(grid, layout), values[:, order])
    # Slot 1 (top right) shows unit 0; slot 2 (bottom left) shows unit 5.
    assert layout.unit_at(29, 0) == 0 and layout.unit_at(56, 27) == 0
    assert layout.unit_at(0, 29) == 5 and layout.unit_at(13.4, 40.2) == 5
    assert layout.locate(29 + 7, 29 + 3) == (2, 3, 7)  # unit, pixel row, pixel col
    assert layout.unit_at(28, 5) is None and layout.unit_at(5, 28) is None  # gaps
    assert layout.unit_at(-1, 0) is None and layout.unit_at(0, 57) is None
    assert layout.slot_of_unit(5) == 2 and layout.slot_of_unit(1) is None
    again = tiles.GridLayout.from_dict(layout.to_dict())
    assert again.locate(29 + 7, 29 + 3) == (2, 3, 7)


def test_default_columns_prefers_full_rows_about_1_6_wide():
    assert [tiles.default_columns(n) for n in (10, 64, 128, 512)] == [5, 8, 16, 32]
    for n in (1, 3, 17, 100, 300):
        cols = tiles.default_columns(n)
        rows = math.ceil(n / cols)
        assert 0.6 <= cols / rows <= 4 or n < 4


def test_tile_grid_rejects_bad_shapes():
    with pytest.raises(ValueError):
        tiles.tile_grid(np.zeros((100, 3)))
    with pytest.raises(ValueError):
        tiles.tile_grid(np.zeros((784, 3)), order=[0, 3])


# -- colour range ---------------------------------------------------------------


def test_symmetric_zmax_is_a_percentile_of_absolute_values():
    values = np.concatenate([np.linspace(-1, 1, 1001), [50.0]])
    assert ins.symmetric_zmax(values, 100) == 50.0
    assert ins.symmetric_zmax(values, 99) == pytest.approx(np.percentile(np.abs(values), 99))
    assert ins.symmetric_zmax(np.zeros(10)) == 1.0
    assert ins.symmetric_zmax(np.array([np.nan, -3.0, np.inf]), 100) == 3.0


def test_replay_zmax_covers_every_snapshot():
    class Snap:
        def __init__(self, w):
            self.weights = [w]

    snaps = [Snap(np.full((784, 2), 0.1)), Snap(np.full((784, 2), -0.7)), Snap(np.full((784, 2), 0.3))]
    assert tiles.replay_zmax(snaps, percentile=100) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        tiles.replay_zmax([])


# -- unit ordering and templates -------------------------------------------------


def test_unit_order_by_norm_is_descending(one_hidden):
    order = ins.unit_order(one_hidden, "norm")
    norms = np.linalg.norm(one_hidden.weights[0], axis=0)
    assert sorted(order) == list(range(12))
    assert np.all(np.diff(norms[order]) <= 0)
    assert order[0] == norms.argmax() and order[-1] == norms.argmin()
    np.testing.assert_array_equal(ins.unit_order(one_hidden, "index"), np.arange(12))


def test_unit_order_by_digit_uses_outgoing_weights_for_one_hidden_layer(one_hidden):
    for digit in (0, 7):
        order = ins.unit_order(one_hidden.weights, f"digit:{digit}")
        outgoing = one_hidden.weights[1][:, digit]
        np.testing.assert_array_equal(order, np.argsort(-outgoing, kind="stable"))
        assert outgoing[order[0]] == outgoing.max()


def test_unit_order_by_digit_composes_remaining_layers(two_hidden):
    w1, w2, w3 = two_hidden.weights
    drive = ins.unit_drive(two_hidden)
    np.testing.assert_allclose(drive, w2 @ w3)
    order = ins.unit_order(two_hidden, "digit:3")
    assert np.all(np.diff((w2 @ w3)[order, 3]) <= 0)
    np.testing.assert_allclose(ins.unit_scores(two_hidden, "digit:3"), (w2 @ w3)[:, 3])
    for bad in ("size", "digit:x", "digit:10"):
        with pytest.raises(ValueError):
            ins.unit_order(two_hidden, bad)


def test_linear_templates_are_the_weight_product(one_hidden, two_hidden):
    t1 = ins.linear_templates(one_hidden)
    assert t1.templates.shape == (10, 784)
    np.testing.assert_allclose(t1.templates, (one_hidden.weights[0].astype(np.float64)
                                              @ one_hidden.weights[1]).T, rtol=1e-5, atol=1e-7)
    assert t1.approximate and "exact only for a linear network" in t1.note
    w1, w2, w3 = two_hidden.weights
    t2 = ins.linear_templates(two_hidden)
    np.testing.assert_allclose(t2.templates, (w1 @ w2 @ w3).T)
    assert t2.approximate and "tanh" in t2.note


def test_templates_are_exact_without_hidden_layers():
    net = Network((784, 10), "relu", seed=1, dtype=np.float64)
    t = ins.linear_templates(net)
    assert not t.approximate and "Exact" in t.note
    x = np.random.default_rng(0).random((3, 784))
    logits = net.forward(x, record=True).pre_activations[-1]
    np.testing.assert_allclose(x @ t.templates.T + net.biases[0], logits)


# -- exciting images ---------------------------------------------------------------


def test_top_exciting_images_really_have_the_largest_activations(one_hidden, images):
    unit, k = 5, 7
    found = ins.top_exciting_images(one_hidden, images, unit, k, batch_size=64)
    forward = one_hidden.forward(images.astype(np.float32) / 255, record=True)
    z = forward.pre_activations[0][:, unit]
    assert len(found.indices) == k
    np.testing.assert_allclose(found.pre_activations, z[found.indices], rtol=1e-5)
    np.testing.assert_allclose(np.sort(z)[::-1][:k], found.pre_activations, rtol=1e-5)
    assert np.all(np.diff(found.pre_activations) <= 0)
    np.testing.assert_allclose(found.activations, forward.activations[1][found.indices, unit], rtol=1e-5)
    others = np.setdiff1d(np.arange(len(images)), found.indices)
    assert z[others].max() <= found.pre_activations.min() + 1e-6


def test_top_exciting_images_in_a_deeper_layer(two_hidden, images):
    found = ins.top_exciting_images(two_hidden, images, 2, 4, layer=2, batch_size=50)
    z = two_hidden.forward(images / 255.0, record=True).pre_activations[1][:, 2]
    np.testing.assert_allclose(found.pre_activations, np.sort(z)[::-1][:4])
    np.testing.assert_allclose(found.activations, np.tanh(found.pre_activations))
    with pytest.raises(ValueError):
        ins.top_exciting_images(two_hidden, images, 99, 4)


# -- saliency, traces, contributions ---------------------------------------------------


def test_saliency_equals_the_backward_pass_input_gradient(one_hidden, images):
    image = images[3]
    x = image.astype(np.float32)[None, :] / 255
    for label in (2, None):
        expected_label = label if label is not None else int(one_hidden.predict(x)[0])
        forward = one_hidden.forward(x, np.array([expected_label]))
        grads = one_hidden.backward(forward, np.array([expected_label]), input_gradient=True)
        got = ins.saliency(one_hidden, image, label)
        assert got.shape == (784,)
        np.testing.assert_allclose(got, grads.inputs[0], rtol=1e-6, atol=1e-9)
    # (28, 28) and float input give the same map.
    np.testing.assert_allclose(ins.saliency(one_hidden, (image / 255.0).reshape(28, 28), 2),
                               ins.saliency(one_hidden, image, 2), rtol=1e-5, atol=1e-8)


def test_saliency_sign_matches_a_finite_difference(two_hidden, images):
    x = images[0] / 255.0
    g = ins.saliency(two_hidden, x, 4)
    pixel = int(np.argmax(np.abs(g)))
    eps = 1e-6
    up, down = x.copy(), x.copy()
    up[pixel] += eps
    down[pixel] -= eps
    numeric = (two_hidden.loss(up[None], [4]) - two_hidden.loss(down[None], [4])) / (2 * eps)
    assert numeric == pytest.approx(g[pixel], rel=1e-5)


def test_trace_image_matches_the_forward_pass(two_hidden, images):
    trace = ins.trace_image(two_hidden, images[1])
    forward = two_hidden.forward(images[1:2] / 255.0, record=True)
    for got, want in zip(trace.pre_activations, forward.pre_activations):
        np.testing.assert_allclose(got, want[0])
    for got, want in zip(trace.activations, forward.activations[1:-1]):
        np.testing.assert_allclose(got, want[0])
    np.testing.assert_allclose(trace.probabilities, forward.probabilities[0])
    assert trace.predicted == int(forward.probabilities[0].argmax())


@pytest.mark.parametrize("fixture", ["one_hidden", "two_hidden"])
def test_contributions_plus_bias_sum_to_the_logit(fixture, request, images):
    net = request.getfixturevalue(fixture)
    image = images[9]
    trace = ins.trace_image(net, image)
    for target in (None, 6):
        c = ins.unit_contributions(net, image, target)
        cls = trace.predicted if target is None else target
        assert c.target_class == cls and c.layer == len(net.weights) - 1
        assert c.contributions.sum() + c.bias == pytest.approx(trace.pre_activations[-1][cls], rel=1e-5)
        assert c.logit == pytest.approx(trace.pre_activations[-1][cls])
        assert np.all(np.diff(c.contributions) <= 0)
        a = trace.activations[-1][c.units]
        np.testing.assert_allclose(c.contributions, a * net.weights[-1][c.units, cls], rtol=1e-6)
        assert sorted(c.units) == list(range(net.weights[-1].shape[0]))
    assert len(c.top(3).units) == 3


def test_contributions_need_a_hidden_layer(images):
    with pytest.raises(ValueError):
        ins.unit_contributions(Network((784, 10)), images[0])


# -- gradients ---------------------------------------------------------------------


def test_gradient_norm_classification_thresholds():
    assert ins.VANISHING_GRADIENT == 1e-6 and ins.EXPLODING_GRADIENT == 1e2
    assert ins.classify_gradient_norm(0.0) == "vanishing"
    assert ins.classify_gradient_norm(9e-7) == "vanishing"
    assert ins.classify_gradient_norm(1e-6) == "healthy"
    assert ins.classify_gradient_norm(0.3) == "healthy"
    assert ins.classify_gradient_norm(100.0) == "healthy"
    assert ins.classify_gradient_norm(100.1) == "exploding"
    assert ins.classify_gradient_norm(float("nan")) == "exploding"
    assert ins.classify_gradient_norm(float("inf")) == "exploding"
    health = ins.gradient_health([1e-9, 0.5, 1e4], ["W1", "W2", "W3"])
    assert [h.status for h in health] == ["vanishing", "healthy", "exploding"]
    assert [h.layer for h in health] == ["W1", "W2", "W3"]
    for h in health:
        assert h.explanation == ins.GRADIENT_EXPLANATIONS[h.status] and "\n" not in h.explanation
    assert ins.layer_labels(2, (784, 16, 10)) == ["W1 784→16", "W2 16→10"]


def test_value_histogram_is_symmetric_and_counts_every_finite_value():
    values = np.array([-3.0, -0.01, 0.0, 0.0, 0.02, 2.0, np.nan, 10.0])
    counts, edges = ins.value_histogram(values, bins=5, limit=3.0)
    np.testing.assert_allclose(edges, -edges[::-1])
    assert counts.sum() == 7  # NaN left out; 10 clipped into the top bin
    assert counts[2] == 4 and counts[-1] == 2 and counts[0] == 1
    per_layer = ins.layer_histograms([np.ones((5, 3)), -np.ones(4)], bins=9)
    assert [c.sum() for c, _ in per_layer] == [15, 4]


def test_stats_arrays_from_a_real_training_history(images):
    labels = np.arange(len(images)) % 10
    config = TrainConfig(hidden_sizes=(8, 6), epochs=2, batch_size=50, learning_rate=0.1, stats_every=1)
    result = train(build_network(config), images, labels, config)
    stats = ins.stats_arrays(result.history)
    n = len(result.history.stats_step)
    assert n == 8
    assert stats.steps.shape == (n,) and stats.grad_norm.shape == (n, 3)
    assert stats.weight_norm.shape == (n, 3) and stats.update_ratio.shape == (n, 3)
    assert stats.dead_fraction.shape == (n, 2)
    np.testing.assert_allclose(stats.grad_norm[-1], result.history.layer_grad_norm[-1])
    # A record half-appended by the training thread is left out.
    history = result.history
    history.stats_step.append(999)
    assert len(ins.stats_arrays(history).steps) == n
    assert ins.stats_arrays(History()).grad_norm.shape[0] == 0


def test_inspect_imports_neither_plotly_nor_streamlit():
    code = ("import sys, nn.analysis; "
            "print(any(m.split('.')[0] in ('plotly', 'streamlit') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert out.stdout.strip() == "False"
