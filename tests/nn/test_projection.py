"""The hidden space's maths: PCA by SVD (the exact one and the range finder for big matrices
agree), the Procrustes turn of one map onto another, nearest-centroid separation, and each
layer's outputs taken from the network's own forward pass."""

import numpy as np
import pytest

from datasets import load_bundled
from nn import projection
from nn.network import Network
from nn.training import TrainConfig, build_network, train


@pytest.fixture(scope="module")
def images():
    data = load_bundled()
    rows = np.random.default_rng(0).permutation(len(data.labels))[:1000]
    return data.images[rows], data.labels[rows]


def full_svd_map(points):
    centred = points - points.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    return u[:, :2] * s[:2], s, vt[:2]


@pytest.mark.parametrize("n", [200, 1000])  # 200 rows: the exact SVD; 1,000 x 784: the range finder
def test_pca_is_the_svd_map_of_the_points(images, n):
    points = images[0][:n].astype(np.float64) / 255
    result = projection.pca(points)
    expected, s, vt = full_svd_map(points)
    signs = np.sign(np.sum(result.coordinates * expected, axis=0))  # a direction's sign is a convention
    np.testing.assert_allclose(result.coordinates, expected * signs, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    np.testing.assert_allclose(result.components, vt * signs[:, None], atol=1e-6)
    np.testing.assert_allclose(result.explained, s[:2] ** 2 / np.sum(s**2), rtol=1e-6)
    np.testing.assert_allclose(result.coordinates, (points - result.mean) @ result.components.T, atol=1e-9)
    assert result.explained[0] > result.explained[1] > 0


def test_pca_finds_the_direction_that_separates_two_clouds():
    rng = np.random.default_rng(1)
    direction = rng.standard_normal(50)
    direction /= np.linalg.norm(direction)
    points = rng.standard_normal((400, 50)) * 0.1
    points[:200] += 3 * direction
    result = projection.pca(points)
    assert abs(result.components[0] @ direction) > 0.99
    assert projection.nearest_centroid_accuracy(result.coordinates, np.repeat([0, 1], 200)) == 1.0


def test_pca_of_too_few_points_or_dimensions_gives_zeros():
    single = projection.pca(np.ones((1, 5)))
    assert np.array_equal(single.coordinates, np.zeros((1, 2)))
    line = projection.pca(np.arange(6, dtype=float).reshape(6, 1))
    np.testing.assert_allclose(np.abs(line.coordinates[:, 0]), np.abs(np.arange(6) - 2.5))
    assert np.array_equal(line.coordinates[:, 1], np.zeros(6)) and line.explained[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        projection.pca(np.zeros(3))


def test_align_undoes_a_rotation_and_a_mirror_without_stretching():
    rng = np.random.default_rng(2)
    reference = rng.standard_normal((100, 2))
    angle = 1.1
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.diag([1, -1])
    aligned = projection.align(reference @ turn, reference)
    np.testing.assert_allclose(aligned, reference, atol=1e-12)
    noisy = reference @ turn + 0.05 * rng.standard_normal((100, 2))
    aligned = projection.align(noisy, reference)
    # Distances between points are kept: only a turn, never a stretch.
    np.testing.assert_allclose(np.linalg.norm(aligned[0] - aligned[1:], axis=1),
                               np.linalg.norm(noisy[0] - noisy[1:], axis=1), rtol=1e-12)


def test_nearest_centroid_accuracy_counts_points_nearest_their_own_centre():
    coordinates = np.array([[0, 0], [0.2, 0], [5, 5], [5.2, 5], [1.0, 1.0]], dtype=float)
    labels = np.array([0, 0, 1, 1, 1])  # the last point of class 1 sits nearer class 0's centre
    assert projection.nearest_centroid_accuracy(coordinates, labels) == pytest.approx(4 / 5)
    assert np.isnan(projection.nearest_centroid_accuracy(np.zeros((0, 2)), np.zeros(0)))


def test_layer_outputs_are_the_forward_pass_of_every_layer(images):
    network = Network((784, 32, 16, 10), "relu", seed=4)
    x = images[0][:300]
    outputs = projection.layer_outputs(network, x, batch_size=128)  # three chunks
    forward = network.forward(x / np.float32(255), record=True)
    assert [o.shape for o in outputs] == [(300, 784), (300, 32), (300, 16), (300, 10)]
    np.testing.assert_allclose(outputs[0], x / 255, rtol=1e-6)
    for ours, theirs in zip(outputs[1:3], forward.activations[1:3]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs[3], forward.pre_activations[-1], rtol=1e-5, atol=1e-5)
    assert projection.layer_names(network) == ["input pixels (784)", "hidden layer 1 (32 units)",
                                               "hidden layer 2 (16 units)", "output scores (10 logits)"]


def test_layer_outputs_of_a_conv_network_include_each_block(images):
    network = build_network(TrainConfig(hidden_sizes=(12,), conv_layers=((3, 3),), batch_size=32))
    outputs = projection.layer_outputs(network, images[0][:40])
    assert [o.shape[1] for o in outputs] == [784, 13 * 13 * 3, 12, 10]
    assert projection.layer_names(network)[1] == "conv1 (3 maps)"


def test_a_trained_network_separates_the_classes_more_in_its_output_scores(images):
    x, y = images
    config = TrainConfig(hidden_sizes=(64,), optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=4)
    network = build_network(config)
    train(network, x[:800], y[:800], config)
    outputs = projection.layer_outputs(network, x[800:])
    separation = [projection.nearest_centroid_accuracy(projection.pca(o).coordinates, y[800:]) for o in outputs]
    assert separation[-1] > separation[0] + 0.05, separation
