"""lab/robustness.py: accuracy on changed test images, checked against the transforms and
the network's own evaluation."""

import numpy as np
import pytest

from datasets import load_bundled, stratified_split, transforms
from lab import robustness
from nn.training import TrainConfig, build_network, evaluate, train


@pytest.fixture(scope="module")
def trained(mnist_test_set):
    data = load_bundled()
    train_idx, _ = stratified_split(data.labels, 0.1, 0)
    config = TrainConfig(hidden_sizes=(64,), optimizer="adam", learning_rate=2e-3, batch_size=128, epochs=6,
                         snapshot_every=0)
    network = build_network(config)
    train(network, data.images[train_idx], data.labels[train_idx], config)
    return network, mnist_test_set.images[:400], mnist_test_set.labels[:400]


@pytest.mark.parametrize("key, value, expected", [
    ("rotate", 20, lambda x: transforms.rotate(x, 20)),
    ("shift_x", -3, lambda x: transforms.shift(x, -3, 0)),
    ("shift_y", 2, lambda x: transforms.shift(x, 0, 2)),
    ("scale", 0.8, lambda x: transforms.scale(x, 0.8)),
    ("blur", 1.0, lambda x: transforms.blur(x, 1.0)),
    ("stroke", 1, lambda x: transforms.thicken(x, 1)),
    ("stroke", -1, lambda x: transforms.thin(x, 1)),
    ("noise", 64, lambda x: transforms.add_noise(x, 64, seed=0)),
])
def test_each_change_is_the_transform_it_names(mnist_test_set, key, value, expected):
    images = mnist_test_set.images[:50]
    np.testing.assert_array_equal(robustness.perturb(images, key, value), expected(images))
    neutral = robustness.PERTURBATIONS[key].neutral
    np.testing.assert_array_equal(robustness.perturb(images, key, neutral), images)
    assert robustness.PERTURBATIONS[key].describe(neutral) == "unchanged"


def test_descriptions_and_a_clear_message_for_an_unknown_change():
    assert robustness.PERTURBATIONS["rotate"].describe(-20) == "rotated 20° clockwise"
    assert robustness.PERTURBATIONS["shift_x"].describe(3) == "shifted 3 px right"
    assert robustness.PERTURBATIONS["scale"].describe(0.8) == "shrunk to 80%"
    with pytest.raises(ValueError, match="unknown perturbation 'shear'"):
        robustness.perturb(np.zeros((1, 784), np.uint8), "shear", 1)
    for perturbation in robustness.PERTURBATIONS.values():
        low, high, _ = perturbation.slider
        assert perturbation.neutral in perturbation.values
        assert low <= min(perturbation.values) and max(perturbation.values) <= high


def test_curves_are_the_accuracy_on_the_changed_images(trained):
    network, images, labels = trained
    fractions = []
    curves = robustness.robustness_curves(network, images, labels, ["rotate", "shift_x"], progress=fractions.append)
    assert list(curves) == ["rotate", "shift_x"] and fractions[-1] == 1 and len(fractions) == 7 + 9
    clean = evaluate(network, images, labels)[1]
    rotate = curves["rotate"]
    np.testing.assert_array_equal(rotate.values, [-30, -20, -10, 0, 10, 20, 30])
    assert rotate.accuracies[3] == clean
    assert rotate.accuracies[5] == evaluate(network, transforms.rotate(images, 20), labels)[1]
    shift = curves["shift_x"]
    assert shift.accuracies[0] == robustness.accuracy_under(network, images, labels, "shift_x", -4)
    # A dense network trained on centred digits: 4 pixels off centre cost far more than 10°.
    assert shift.accuracies[0] < rotate.accuracies[2] - 0.2 and shift.worst[1] == shift.accuracies.min()
