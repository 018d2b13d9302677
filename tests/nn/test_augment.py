"""nn/augment.py: random shifts and rotations per batch, checked against Pillow's
(datasets/transforms.py), seeded, and what they do to training."""

import numpy as np
import pytest

from datasets import load_bundled, stratified_split, transforms
from nn.augment import FULL_BATCH_CHUNK, AugmentedBatches, Augmenter
from nn.speed import Batches
from nn.training import TrainConfig, build_network, evaluate, train


@pytest.fixture(scope="module")
def bundled():
    data = load_bundled()
    return data.images, data.labels.astype(np.intp)


def as_float(images):
    return images.astype(np.float32) / np.float32(255)


@pytest.mark.parametrize("degrees, dx, dy", [(0, 0, 0), (0, 3, 0), (0, -2, 4), (15, 0, 0), (-30, 0, 0),
                                             (90, 0, 0), (20, 1, -2), (-10, -3, 1)])
def test_moves_match_pillows_rotate_then_shift(bundled, degrees, dx, dy):
    images = bundled[0][::50]  # 100 digits of every class
    n = len(images)
    moved = Augmenter().apply(as_float(images), np.full(n, degrees), np.full(n, dx), np.full(n, dy))
    expected = as_float(transforms.shift(transforms.rotate(images, degrees), dx, dy))
    # In two steps, ink turned out of the field is lost before the shift could bring it
    # back; in one it is kept: compare where the shift brings in nothing from outside.
    rows, cols = np.arange(28) - dy, np.arange(28) - dx
    kept = ((rows >= 0) & (rows < 28))[:, None] & ((cols >= 0) & (cols < 28))[None, :]
    moved, expected = moved[:, kept.reshape(-1)], expected[:, kept.reshape(-1)]
    # Pillow rounds to whole grey levels: half a level apart at most.
    assert np.abs(moved - expected).max() <= 0.5 / 255 + 1e-6
    if degrees % 90 == 0:
        np.testing.assert_array_equal(moved, expected)  # only pixels moved: exact


def test_a_fractional_shift_interpolates_between_neighbours():
    image = np.zeros((1, 784), np.float32)
    image[0, 10 * 28 + 10] = 1.0
    moved = Augmenter().apply(image, [0.0], [0.25], [0.0]).reshape(28, 28)
    assert moved[10, 10] == pytest.approx(0.75) and moved[10, 11] == pytest.approx(0.25)
    assert moved.sum() == pytest.approx(1.0)
    edge = np.zeros((1, 784), np.float32)
    edge[0, 5 * 28 + 27] = 1.0  # ink on the right edge moved out of the field is lost
    assert Augmenter().apply(edge, [0.0], [1.0], [0.0]).sum() == 0


def test_moves_are_random_within_the_limits_seeded_and_leave_the_input_alone(bundled):
    x = as_float(bundled[0][:300])
    original = x.copy()
    first, second, other = Augmenter(2, 15, seed=4), Augmenter(2, 15, seed=4), Augmenter(2, 15, seed=5)
    a, b, c = first(x).copy(), second(x).copy(), other(x).copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, x)
    np.testing.assert_array_equal(x, original)
    degrees, dx, dy = Augmenter(2, 15, seed=0).moves(10_000)
    assert np.abs(degrees).max() <= 15 and np.abs(dx).max() <= 2 and np.abs(dy).max() <= 2
    assert np.abs(degrees).max() > 14.9 and degrees.std() == pytest.approx(30 / np.sqrt(12), rel=0.05)
    assert Augmenter(0, 0).apply(x, *Augmenter(0, 0).moves(len(x))).tobytes() == x.tobytes()


def test_bad_amounts_are_refused_with_a_message():
    with pytest.raises(ValueError, match="augment shift must be 0..8"):
        Augmenter(-1, 15)
    with pytest.raises(ValueError, match="rotation"):
        TrainConfig(augment=True, augment_degrees=float("nan"))
    with pytest.raises(ValueError, match="augment must be True or False"):
        TrainConfig(augment="yes")
    with pytest.raises(ValueError, match="augment shift must be a number, got 'far'"):
        TrainConfig(augment=True, augment_shift="far")
    with pytest.raises(ValueError, match=r"\(m, 784\)"):
        Augmenter()(np.zeros((2, 100), np.float32))


@pytest.mark.parametrize("batch_size", [None, 100])
def test_every_epoch_moves_every_image_anew_and_full_batch_keeps_its_source(bundled, batch_size):
    images, labels = bundled[0][:1500], bundled[1][:1500]
    plain = Batches(images, labels, batch_size or len(images), np.float32, leave_out_blank=False, seed=0)
    moved = AugmentedBatches(Batches(images, labels, batch_size or len(images), np.float32,
                                     leave_out_blank=False, seed=0), Augmenter(seed=0))
    epochs = [[(b.inputs.copy(), b.labels.copy()) for b in moved.epoch()] for _ in range(2)]
    clean = [(b.inputs.copy(), b.labels.copy()) for b in plain.epoch()]
    assert len(epochs[0]) == len(clean)
    for (first, first_labels), (second, _), (original, original_labels) in zip(*epochs, clean):
        np.testing.assert_array_equal(first_labels, original_labels)  # the same images, in the same order
        assert not np.array_equal(first, second) and not np.array_equal(first, original)
        # Ink is moved, not made: each image keeps about its amount of ink.
        np.testing.assert_allclose(first.sum(axis=1), original.sum(axis=1), rtol=0.1)
    if batch_size is None:
        assert len(images) > FULL_BATCH_CHUNK  # moved in chunks, into one array made once
        np.testing.assert_array_equal(moved.batches.full_inputs, plain.full_inputs)  # never moved in place


def test_training_with_augment_is_seeded_and_differs_from_without(bundled):
    images, labels = bundled[0][::5], bundled[1][::5]

    def run(augment, seed=0):
        config = TrainConfig(hidden_sizes=(16,), optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=2,
                             seed=seed, augment=augment, snapshot_every=0)
        network = build_network(config)
        history = train(network, images, labels, config).history
        return network.weights[0].tobytes(), history.step_loss

    assert run(True) == run(True)
    assert run(True) != run(False) and run(True) != run(True, seed=1)


def test_augmented_training_reads_shifted_and_turned_digits_far_better(bundled):
    images, labels = bundled
    train_idx, val_idx = stratified_split(labels, 0.1, 0)
    moved = transforms.rotate(transforms.shift(images[val_idx], 3, -3), 20)
    accuracies = {}
    for augment in (False, True):
        config = TrainConfig(hidden_sizes=(64,), optimizer="adam", learning_rate=2e-3, batch_size=64, epochs=8,
                             augment=augment, augment_shift=3.0, augment_degrees=20.0, snapshot_every=0)
        network = build_network(config)
        train(network, images[train_idx], labels[train_idx], config)
        accuracies[augment] = evaluate(network, moved, labels[val_idx])[1], evaluate(
            network, images[val_idx], labels[val_idx])[1]
    assert accuracies[False][0] < 0.5  # moved 4 px and turned 20°: most are misread
    assert accuracies[True][0] > accuracies[False][0] + 0.3
    assert accuracies[True][1] > 0.85  # and the clean ones are still read
