"""What training changed in the weights: the learned change, the pixels no image inks, and the
neighbour correlation that measures how much a weight picture looks like strokes."""

import numpy as np
import pytest

from datasets import load_bundled
from nn.training import TrainConfig, build_network, train
from nn.weight_change import (
    inked_pixels,
    learned_change,
    masked_pixels,
    neighbour_correlation,
    neighbour_correlations,
)


def test_smooth_pictures_correlate_noise_does_not_and_a_checkerboard_anticorrelates():
    rows, cols = np.mgrid[0:28, 0:28]
    smooth = np.exp(-((rows - 14) ** 2 + (cols - 10) ** 2) / 40.0).reshape(-1)
    noise = np.random.default_rng(0).standard_normal(784)
    checker = ((rows + cols) % 2 * 2 - 1).astype(float).reshape(-1)
    values = neighbour_correlations(np.column_stack([smooth, noise, checker, np.zeros(784)]))
    assert values[0] > 0.95 and abs(values[1]) < 0.1 and values[2] == pytest.approx(-1.0)
    assert np.isnan(values[3])  # no variation: no correlation
    assert neighbour_correlation(np.column_stack([smooth, noise, np.zeros(784)])) == \
        pytest.approx((values[0] + values[1]) / 2)


def test_pixels_left_out_leave_out_every_pair_they_are_in():
    rows, cols = np.mgrid[0:28, 0:28]
    bump = 20 * np.exp(-((rows - 5) ** 2 + (cols - 5) ** 2) / 8.0)  # smooth, in one corner
    picture = (np.random.default_rng(1).standard_normal((28, 28)) + bump).reshape(-1, 1)
    mask = (np.hypot(rows - 5, cols - 5) > 7).reshape(-1)  # hides the bump
    left = masked_pixels(picture, mask)
    assert np.isnan(left[~mask]).all() and not np.isnan(left[mask]).any() and left.dtype == np.float32
    assert neighbour_correlation(picture) > 0.8  # the bump's structure
    assert abs(neighbour_correlation(left)) < 0.1  # only the noise around it is left


def test_inked_pixels_and_the_learned_change():
    images = np.zeros((3, 784), np.uint8)
    images[0, 5], images[2, 700] = 1, 255
    assert np.flatnonzero(inked_pixels(images)).tolist() == [5, 700]
    assert np.flatnonzero(inked_pixels(images / 255.0)).tolist() == [5, 700]
    np.testing.assert_array_equal(learned_change(np.ones((2, 2)), np.eye(2)), 1 - np.eye(2))
    with pytest.raises(ValueError, match="do not fit"):
        learned_change(np.ones((2, 2)), np.ones(3))


def test_never_inked_pixels_keep_their_start_and_the_change_shows_more_structure():
    data = load_bundled()
    config = TrainConfig(hidden_sizes=(32,), optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=4)
    network = build_network(config)
    start = network.weights[0].copy()
    train(network, data.images, data.labels, config)
    inked = inked_pixels(data.images)
    change = learned_change(network.weights[0], start)
    assert 50 < np.count_nonzero(~inked) < 200  # the borders of MNIST digits
    assert not change[~inked].any()  # no gradient ever: exactly the start (Adam, no weight decay)
    raw = neighbour_correlation(masked_pixels(network.weights[0], inked))
    learned = neighbour_correlation(masked_pixels(change, inked))
    assert learned > raw + 0.2, (raw, learned)
