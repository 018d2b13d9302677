"""nn/probe.py: dreams, attacks and broken networks, checked against the network itself
(its own forward pass, finite differences, weights changed by hand)."""

import numpy as np
import pytest

from datasets import load_bundled, stratified_split
from nn import probe
from nn.network import Network
from nn.training import TrainConfig, build_network, train


@pytest.fixture(scope="module")
def split():
    """The bundled images split as the app splits them: (train x, train y, val x, val y)."""
    data = load_bundled()
    train_idx, val_idx = stratified_split(data.labels, 0.1, 0)
    labels = data.labels.astype(np.intp)
    return data.images[train_idx], labels[train_idx], data.images[val_idx], labels[val_idx]


def trained(split, **settings) -> Network:
    config = TrainConfig(**{"hidden_sizes": (128,), "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 128,
                            "epochs": 10, "snapshot_every": 0, **settings})
    network = build_network(config)
    train(network, split[0], split[1], config)
    return network


@pytest.fixture(scope="module")
def mlp(split):
    """784-128-10 ReLU, Adam, 10 epochs: about 91% on the validation images."""
    return trained(split)


@pytest.fixture(scope="module")
def small_cnn(split):
    return trained(split, conv_layers=((4, 5),), conv_padding="same", hidden_sizes=(16,), epochs=2)


def relative_error(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(1e-12, np.max(np.abs(a)) + np.max(np.abs(b))))


def numeric_score_gradient(network, image, cls, score, pixels, h=1e-6):
    """Central differences of the class score at the given pixels of one float64 image."""
    grads = []
    for pixel in pixels:
        up, down = image.copy(), image.copy()
        up[pixel] += h
        down[pixel] -= h
        s_up = probe.class_score_gradient(network, up[None], [cls], score)[0][0]
        s_down = probe.class_score_gradient(network, down[None], [cls], score)[0][0]
        grads.append((s_up - s_down) / (2 * h))
    return np.array(grads)


# -- the input gradient of a class score ---------------------------------------------------
@pytest.mark.parametrize("score", probe.SCORES)
@pytest.mark.parametrize("kind", ["trained mlp", "two hidden tanh", "conv with pool"])
def test_input_gradient_of_a_class_score_matches_finite_differences(split, mlp, kind, score):
    if kind == "trained mlp":
        network = mlp.copy(np.float64)
    elif kind == "two hidden tanh":
        network = Network((784, 20, 12, 10), "tanh", seed=3, dtype=np.float64)
    else:
        network = Network.convolutional([(3, 3, "same", True), (4, 3, "valid", True)], (8,), seed=2,
                                        dtype=np.float64)
    rng = np.random.default_rng(7)
    images = split[2][:3].astype(np.float64) / 255 + rng.uniform(0, 0.01, (3, 784))  # off the ReLU kinks of 0
    for image, cls in zip(images, (2, 7, 4)):
        values, analytic = probe.class_score_gradient(network, image[None], [cls], score)
        logits = probe.run_layers(network, image[None]).logits[0]
        expected = logits[cls] if score == "logit" else logits[cls] - np.log(np.exp(logits).sum())
        assert values[0] == pytest.approx(expected, rel=1e-10)
        pixels = np.concatenate([rng.choice(784, 12, replace=False), [14 * 28 + 14]])
        numeric = numeric_score_gradient(network, image, cls, score, pixels)
        assert relative_error(analytic[0, pixels], numeric) < 1e-6
        assert np.abs(analytic).max() > 0


def test_the_loss_gradient_through_the_probe_equals_the_networks_own_backward(split, mlp):
    """Seeded with (P - Y) / m, the probe's backward pass is Network.backward's dJ/dX."""
    x = split[2][:16].astype(np.float32) / 255
    labels = split[3][:16]
    _, expected = mlp.gradients(x, labels, input_gradient=True)
    trace = probe.run_layers(mlp, x)
    probabilities = probe.softmax_rows(trace.logits)
    seed = probabilities.copy()
    seed[np.arange(16), labels] -= 1
    np.testing.assert_allclose(probe.input_gradient(mlp, trace, seed / 16), expected.inputs, rtol=1e-4, atol=1e-8)


def test_class_score_gradient_refuses_bad_input(mlp):
    with pytest.raises(ValueError, match="score"):
        probe.class_score_gradient(mlp, np.zeros((1, 784)), [0], "loss")
    with pytest.raises(ValueError, match="classes"):
        probe.class_score_gradient(mlp, np.zeros((1, 784)), [10])
    with pytest.raises(ValueError, match=r"\(m, 784\)"):
        probe.class_score_gradient(mlp, np.zeros((1, 100)), [1])


# -- dream ---------------------------------------------------------------------------------
def test_every_dreamt_image_is_classified_as_its_class_with_99_percent(mlp):
    fractions = []
    dreamt = probe.dream(mlp, progress=fractions.append)
    assert dreamt.images.shape == (10, 784) and dreamt.images.dtype == np.float32
    assert dreamt.images.min() >= 0 and dreamt.images.max() <= 1
    probabilities = mlp.predict_proba(dreamt.images)  # the network's own forward pass
    np.testing.assert_array_equal(probabilities.argmax(axis=1), np.arange(10))
    assert probabilities[np.arange(10), np.arange(10)].min() >= 0.99
    np.testing.assert_allclose(dreamt.probabilities, probabilities, atol=1e-5)
    assert fractions == pytest.approx([(k + 1) / dreamt.steps for k in range(dreamt.steps)])
    # Regularised into strokes: most of the field stays paper.
    assert 0.05 < dreamt.images.mean() < 0.5


def test_dreaming_from_an_image_turns_it_into_the_class(split, mlp):
    seven = split[2][split[3] == 7][0]
    dreamt = probe.dream(mlp, classes=[3, 7], start=seven)
    np.testing.assert_array_equal(mlp.predict(dreamt.images), [3, 7])
    assert dreamt.confidence.min() >= 0.99
    # The 7 needed no change to be read as a 7: it stays close to where it started.
    start = seven.astype(np.float32) / 255
    assert np.abs(dreamt.images[1] - start).mean() < np.abs(dreamt.images[0] - start).mean()


def test_smooth_keeps_total_ink_inside_the_field_and_spreads_a_dot():
    image = np.zeros((1, 784), np.float32)
    image[0, 14 * 28 + 14] = 1.0
    blurred = probe.smooth(image).reshape(28, 28)
    assert blurred.sum() == pytest.approx(1.0)
    assert blurred[14, 14] == pytest.approx(4 / 16) and blurred[13, 13] == pytest.approx(1 / 16)


# -- fool ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", probe.ATTACKS)
@pytest.mark.parametrize("target", [3, None])
def test_every_example_reported_fooled_is_classified_as_the_target(split, mlp, method, target):
    images, labels = split[2][:200], split[3][:200]
    result = probe.attack(mlp, images, labels, 0.1, target, method)
    assert result.fooled.sum() >= 20
    predicted = mlp.predict(result.adversarial[result.fooled])  # the network itself, again
    if target is None:
        assert np.all(predicted != labels[result.fooled])
    else:
        assert np.all(predicted == target)
        assert not result.fooled[labels == target].any()
    assert not result.fooled[result.predicted_before != labels].any()  # misread before: not counted
    assert np.abs(result.perturbation).max() <= 0.1 + 1e-6
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    assert result.fooling_rate == pytest.approx(result.fooled.sum() / result.n_correct_before)


def test_the_iterative_attack_fools_more_than_fgsm_and_both_grow_with_epsilon(split, mlp):
    images, labels = split[2], split[3]
    epsilons = [0.0, 0.03, 0.06, 0.1]
    fgsm = probe.fooling_curve(mlp, images, labels, epsilons, "fgsm")
    iterative = probe.fooling_curve(mlp, images, labels, epsilons, "iterative")
    assert fgsm.rates[0] == iterative.rates[0] == 0
    assert np.all(np.diff(fgsm.rates) > 0) and np.all(np.diff(iterative.rates) > 0)
    assert np.all(iterative.rates[1:] >= fgsm.rates[1:])
    assert fgsm.n_images == 500 and fgsm.n_correct == int(np.sum(mlp.predict(images.astype(np.float32) / 255)
                                                               == labels))


@pytest.mark.parametrize("method", probe.ATTACKS)
def test_smallest_epsilon_is_the_first_that_fools(split, mlp, method):
    image, label = split[2][0], int(split[3][0])
    target = (label + 1) % 10
    found = probe.smallest_epsilon(mlp, image, label, target, method)
    assert found is not None and found.fooled[0]
    assert mlp.predict(found.adversarial)[0] == target
    assert np.abs(found.perturbation).max() <= found.epsilon + 1e-6
    if found.epsilon > 0.005:
        smaller = probe.attack(mlp, image[None], [label], round(found.epsilon - 0.005, 3), target, method)
        assert not smaller.fooled[0]


def test_a_target_equal_to_the_label_never_counts_as_fooled(split, mlp):
    image, label = split[2][0], int(split[3][0])
    assert probe.smallest_epsilon(mlp, image, label, target=label) is None
    with pytest.raises(ValueError, match="epsilon"):
        probe.fgsm(mlp, image[None], [label], 2.0)
    with pytest.raises(ValueError, match="target"):
        probe.fgsm(mlp, image[None], [label], 0.1, target=12)


# -- break it ------------------------------------------------------------------------------
def assert_chance_level(probabilities, labels):
    predicted = probabilities.argmax(axis=1)
    assert len(set(predicted.tolist())) == 1  # one answer for every image: it sees nothing
    accuracy = float(np.mean(predicted == labels))
    assert accuracy == pytest.approx(np.mean(labels == predicted[0]))
    assert 0.05 <= accuracy <= 0.15


def test_switching_off_every_unit_of_a_layer_gives_chance_level(split, mlp, small_cnn):
    images, labels = split[2], split[3]
    assert probe.accuracy(mlp, images, labels) > 0.85
    assert_chance_level(probe.forward_with_units_off(mlp, images, {1: range(128)}), labels)
    layers = probe.hidden_layers(small_cnn)
    assert [(layer.kind, layer.n_units) for layer in layers] == [("conv", 4), ("dense", 16)]
    for layer in layers:
        assert_chance_level(probe.forward_with_units_off(small_cnn, images, {layer.number: range(layer.n_units)}),
                            labels)


def test_switching_units_off_equals_zeroing_their_outgoing_weights(split, mlp):
    images = split[2][:100]
    off = [3, 17, 90]
    by_hand = mlp.copy()
    by_hand.weights[1][off] = 0
    np.testing.assert_allclose(probe.forward_with_units_off(mlp, images, {1: off}),
                               by_hand.predict_proba(images.astype(np.float32) / 255), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(probe.forward_with_units_off(mlp, images),  # nothing off: the network itself
                               mlp.predict_proba(images.astype(np.float32) / 255), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="units 0..127"):
        probe.forward_with_units_off(mlp, images, {1: [128]})
    with pytest.raises(ValueError, match="no hidden layer 2"):
        probe.forward_with_units_off(mlp, images, {2: [0]})


def test_pruning_0_percent_changes_nothing_and_x_percent_zeroes_that_share(split, mlp):
    x = split[2].astype(np.float32) / 255
    same = probe.pruned(mlp, 0.0)
    for a, b in zip(same.weights + same.biases, mlp.weights + mlp.biases):
        assert a.tobytes() == b.tobytes()
    assert same.predict_proba(x).tobytes() == mlp.predict_proba(x).tobytes()
    half = probe.pruned(mlp, 0.5)
    for pruned_weights, weights in zip(half.weights, mlp.weights):
        zeroed = pruned_weights == 0
        assert zeroed.sum() == round(0.5 * weights.size)
        assert np.abs(weights[zeroed]).max() <= np.abs(weights[~zeroed]).min()  # the smallest ones went
        np.testing.assert_array_equal(pruned_weights[~zeroed], weights[~zeroed])
    assert not any(w.any() for w in probe.pruned(mlp, 1.0).weights)
    assert mlp.weights[0].any()  # the original is untouched


def test_weight_noise_is_relative_to_each_layer_and_reproducible(mlp):
    assert all(a.tobytes() == b.tobytes() for a, b in zip(probe.with_weight_noise(mlp, 0.0).weights, mlp.weights))
    noisy, again, other = (probe.with_weight_noise(mlp, 0.5, seed) for seed in (1, 1, 2))
    assert all(a.tobytes() == b.tobytes() for a, b in zip(noisy.weights, again.weights))
    assert not np.array_equal(noisy.weights[0], other.weights[0])
    for changed, weights in zip(noisy.weights, mlp.weights):
        rms = np.sqrt(np.mean(weights.astype(np.float64) ** 2))
        assert np.std(changed - weights) == pytest.approx(0.5 * rms, rel=0.05)


def test_unit_importance_is_the_accuracy_lost_with_each_unit_alone_off(split, mlp, small_cnn):
    images, labels = split[2], split[3]
    importance = probe.unit_importance(mlp, images, labels, 1)
    assert importance.baseline == pytest.approx(probe.accuracy(mlp, images, labels))
    for unit in importance.ranking[:3].tolist() + importance.ranking[-2:].tolist():
        alone_off = probe.accuracy(mlp, images, labels, {1: [unit]})
        assert importance.drops[unit] == pytest.approx(importance.baseline - alone_off)
    assert np.all(np.diff(importance.drops[importance.ranking]) <= 0)
    assert importance.drops.max() > 0
    few, few_labels = images[:200], labels[:200]
    conv = probe.unit_importance(small_cnn, few, few_labels, 1)
    assert conv.drops[2] == pytest.approx(conv.baseline - probe.accuracy(small_cnn, few, few_labels, {1: [2]}))
