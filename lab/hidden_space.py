"""The Hidden space page's maps (no Streamlit): about 1,000 held-out images placed in 2-D by
each layer's activations, for the trained network and for every weight snapshot of its run.

Every activation comes from the network's own forward pass (``nn.projection.layer_outputs``),
the 2-D map from PCA by NumPy's SVD (``nn.projection.pca``). t-SNE is offered where
scikit-learn is installed (it is not in the default install): imported only when asked for.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from nn.network import Network
from nn.projection import align, layer_outputs, nearest_centroid_accuracy, pca

N_IMAGES = 1000
MAX_FRAMES = 40  # replay frames computed at most (evenly spread over the snapshots)
TSNE_ITERATIONS = 500  # scikit-learn's default is 1,000; 500 already settles 1,000 points
TSNE_NOTE = ("t-SNE needs scikit-learn, which the default install leaves out to stay lean: "
             "`pip install scikit-learn` adds it. PCA, computed here with NumPy, is always available.")


@dataclass
class HeldOut:
    """Images the network never trained on: (n, 784) uint8, labels (n,), where they come from."""

    images: np.ndarray
    labels: np.ndarray
    description: str


def held_out_images(data, test=None, n: int = N_IMAGES, seed: int = 0) -> HeldOut:
    """About ``n`` images none of the training steps saw, as many of each class as there are
    (a seeded sample): from the validation images when they are enough, else from ``test``
    ((images, labels, description), e.g. the real MNIST test set), else all validation images.

    ``data``: a :class:`lab.data.SplitData`.
    """
    images, labels = data.validation_images, data.validation_labels
    where = "validation images"
    if len(labels) < n and test is not None and len(test[1]) > len(labels):
        images, labels, where = test[0], test[1], test[2]
    rows = _balanced_rows(np.asarray(labels), n, seed)
    return HeldOut(np.asarray(images)[rows], np.asarray(labels)[rows].astype(np.intp),
                   f"{len(rows):,} {where}" if where == "validation images" else f"{len(rows):,} of the {where}")


def _balanced_rows(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` row indices, as evenly spread over the classes as they allow, sorted."""
    if len(labels) <= n:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    taken = []
    per_class = n // len(by_class)
    for rows in by_class:
        taken.append(rows[:per_class])
    left = np.concatenate([rows[per_class:] for rows in by_class])
    taken.append(rng.permutation(left)[: n - sum(len(t) for t in taken)])
    return np.sort(np.concatenate(taken))


@dataclass
class LayerMap:
    """One layer's map of the held-out images.

    coordinates: (n, 2); predictions: (n,) the network's answer for each image;
    separation: nearest-centroid accuracy of the true classes in the map (0..1);
    explained: (2,) share of the layer's spread each axis shows (PCA; NaN for t-SNE).
    """

    coordinates: np.ndarray
    predictions: np.ndarray
    separation: float
    explained: np.ndarray


def layer_map(network: Network, held_out: HeldOut, layer: int, method: str = "pca") -> LayerMap:
    """The map of layer ``layer`` (an index into ``nn.projection.layer_names``) by
    ``method`` "pca" or "tsne" (scikit-learn; ImportError without it)."""
    outputs = layer_outputs(network, held_out.images)
    predictions = outputs[-1].argmax(axis=1)
    if method == "tsne":
        coordinates, explained = tsne(outputs[layer]), np.full(2, np.nan)
    else:
        projection = pca(outputs[layer])
        coordinates, explained = projection.coordinates, projection.explained
    return LayerMap(coordinates, predictions, nearest_centroid_accuracy(coordinates, held_out.labels), explained)


def tsne_available() -> bool:
    """Whether scikit-learn (which has t-SNE) is installed, without importing it."""
    return importlib.util.find_spec("sklearn") is not None


def tsne(points, seed: int = 0) -> np.ndarray:
    """(n, 2) t-SNE map of ``points`` (n, d) (scikit-learn, imported here; PCA start, seeded).

    t-SNE keeps each point's near neighbours near and says little about distances between
    clusters; it takes seconds, not milliseconds."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    points = np.asarray(points, dtype=np.float32)
    perplexity = float(min(30, max(2, (len(points) - 1) / 3)))
    # One thread: on a server shared by a room, OpenMP threads contending for busy cores took
    # several times longer than one (the README has the numbers).
    with threadpool_limits(limits=1):
        return TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity,
                    max_iter=TSNE_ITERATIONS).fit_transform(points)


@dataclass
class Replay:
    """A layer's map at each kept epoch, all turned to match the last one and drawn on the
    same axes.

    epochs: (k,) the epoch of each frame; coordinates: (k, n, 2); predictions: (k, n);
    separation: (k,) nearest-centroid accuracy of each frame; limits: ((x0, x1), (y0, y1))
    axis ranges holding every frame.
    """

    epochs: np.ndarray
    coordinates: np.ndarray
    predictions: np.ndarray
    separation: np.ndarray
    limits: tuple[tuple[float, float], tuple[float, float]]


def replay(network: Network, snapshots, held_out: HeldOut, layer: int, max_frames: int = MAX_FRAMES) -> Replay:
    """PCA maps of layer ``layer`` for the weight ``snapshots`` (``History.snapshots``) of
    ``network``'s run (its architecture, the snapshots' weights), at most ``max_frames``
    evenly spread (the first and the last always). Each map is PCA of that epoch's own
    activations, rotated (never stretched) to match the last one's, so only the points move."""
    if not snapshots:
        raise ValueError("no weight snapshots to replay")
    picks = np.unique(np.linspace(0, len(snapshots) - 1, min(max_frames, len(snapshots))).round().astype(int))
    frames, predictions = [], []
    for index in picks:
        snapshot = snapshots[index]
        at_epoch = Network.from_arrays(snapshot.weights, snapshot.biases, network.activation, network.init,
                                       conv_specs=network.conv_specs, image_shape=network.image_shape or (28, 28))
        outputs = layer_outputs(at_epoch, held_out.images)
        frames.append(pca(outputs[layer]).coordinates)
        predictions.append(outputs[-1].argmax(axis=1))
    last = frames[-1]
    frames = [align(frame, last) for frame in frames[:-1]] + [last]
    coordinates = np.stack(frames)
    separation = np.array([nearest_centroid_accuracy(frame, held_out.labels) for frame in frames])
    return Replay(np.array([snapshots[i].epoch for i in picks]), coordinates, np.stack(predictions), separation,
                  (_padded_range(coordinates[..., 0]), _padded_range(coordinates[..., 1])))


def _padded_range(values: np.ndarray, pad: float = 0.05) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    margin = (high - low) * pad or 1.0
    return low - margin, high + margin
