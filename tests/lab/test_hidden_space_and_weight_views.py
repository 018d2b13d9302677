"""The Hidden space page's maps and the Weights page's two views, on a network trained on the
bundled digits."""

import dataclasses

import numpy as np
import pytest

from datasets import load_bundled, load_mnist_test_set
from lab import hidden_space, settings, weight_views
from lab.data import make_split
from nn.network import Network
from nn.projection import layer_outputs, pca
from nn.training import History, TrainConfig, build_network, train
from nn.weight_change import inked_pixels, neighbour_correlation


@pytest.fixture(scope="module")
def split():
    return make_split(load_bundled(), settings.VALIDATION_FRACTION, "bundled")


@pytest.fixture(scope="module")
def trained(split):
    config = TrainConfig(hidden_sizes=(64,), optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=5)
    network = build_network(config)
    result = train(network, split.train_images, split.train_labels, config)
    return network, result.history


@pytest.fixture(scope="module")
def held_out(split):
    test = load_mnist_test_set()
    return hidden_space.held_out_images(split, (test.images, test.labels, "real MNIST test images"))


def test_the_held_out_images_are_1000_test_images_100_of_each_digit(split, held_out):
    assert len(split.validation_labels) == 500  # too few: the test set is used
    assert held_out.images.shape == (1000, 784) and np.bincount(held_out.labels).tolist() == [100] * 10
    assert held_out.description == "1,000 of the real MNIST test images"
    alone = hidden_space.held_out_images(split, None)
    assert len(alone.labels) == 500 and alone.description == "500 validation images"
    again = hidden_space.held_out_images(split, (held_out.images, held_out.labels, "x"), n=300)
    assert np.bincount(again.labels).tolist() == [30] * 10


def test_a_layer_map_is_the_pca_of_that_layer_with_the_network_s_answers(trained, held_out):
    network, _ = trained
    outputs = layer_outputs(network, held_out.images)
    for layer in range(3):
        space_map = hidden_space.layer_map(network, held_out, layer)
        np.testing.assert_array_equal(space_map.coordinates, pca(outputs[layer]).coordinates)
        np.testing.assert_array_equal(space_map.predictions, network.predict(held_out.images / np.float32(255)))
    pixels = hidden_space.layer_map(network, held_out, 0)
    scores = hidden_space.layer_map(network, held_out, 2)
    assert scores.separation > pixels.separation + 0.05  # the classes untangle on the way up
    assert 0 < scores.explained.sum() <= 1


def test_the_replay_turns_every_epoch_onto_the_last_on_fixed_axes(trained, held_out):
    network, history = trained
    frames = hidden_space.replay(network, history.snapshots, held_out, 1)
    assert frames.epochs.tolist() == [0, 1, 2, 3, 4, 5] and frames.coordinates.shape == (6, 1000, 2)
    final = hidden_space.layer_map(network, held_out, 1)
    np.testing.assert_array_equal(frames.coordinates[-1], final.coordinates)
    assert frames.separation[-1] == final.separation and frames.separation[-1] > frames.separation[0]
    (x0, x1), (y0, y1) = frames.limits
    assert x0 < frames.coordinates[..., 0].min() and frames.coordinates[..., 0].max() < x1
    assert y0 < frames.coordinates[..., 1].min() and frames.coordinates[..., 1].max() < y1
    # Each frame is its epoch's PCA map turned, never stretched: distances between points are kept.
    start = history.snapshots[0]
    at_start = Network.from_arrays(start.weights, start.biases, network.activation, network.init)
    first = pca(layer_outputs(at_start, held_out.images)[1]).coordinates
    np.testing.assert_allclose(np.linalg.norm(frames.coordinates[0] - frames.coordinates[0][:1], axis=1),
                               np.linalg.norm(first - first[:1], axis=1), rtol=1e-9, atol=1e-9)
    few = hidden_space.replay(network, history.snapshots, held_out, 1, max_frames=3)
    assert few.epochs.tolist() == [0, 2, 5]


def test_tsne_is_there_when_scikit_learn_is(trained, held_out):
    if not hidden_space.tsne_available():
        pytest.skip("scikit-learn is not installed")
    small = dataclasses.replace(held_out, images=held_out.images[::5], labels=held_out.labels[::5])
    space_map = hidden_space.layer_map(trained[0], small, 2, "tsne")
    assert space_map.coordinates.shape == (200, 2) and np.isnan(space_map.explained).all()
    assert space_map.separation > 0.5


def test_the_weights_views_open_on_the_one_with_more_structure(trained, split):
    network, history = trained
    views = weight_views.weight_views(network, history, split.train_images)
    assert views.views == ("change", "raw") and views.default == "change"
    assert views.correlation["change"] > views.correlation["raw"]
    inked = inked_pixels(split.train_images)
    change = weight_views.first_layer(network.weights[0], "change", views)
    expected = network.weights[0] - history.snapshots[0].weights[0]
    np.testing.assert_array_equal(change[inked], expected[inked])
    assert np.isnan(change[~inked]).all()
    assert views.correlation["change"] == neighbour_correlation(change)
    np.testing.assert_array_equal(weight_views.layer(network.weights[1], "change", views, 1),
                                  network.weights[1] - history.snapshots[0].weights[1])


def test_without_start_weights_only_the_raw_view_exists(trained, split):
    network, history = trained
    views = weight_views.weight_views(network, dataclasses.replace(history, snapshots=[]), split.train_images)
    assert views.views == ("raw",) and views.default == "raw" and views.start is None
    with pytest.raises(ValueError, match="only the raw view"):
        weight_views.layer(network.weights[0], "change", views, 0)
    assert weight_views.start_weights(History()) is None
