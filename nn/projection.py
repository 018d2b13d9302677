"""The hidden space: each layer's activations for a set of images, seen in 2-D.

A layer of ``d`` units turns every image into a point in ``d`` dimensions. Principal
component analysis (PCA) finds the two directions in which those points spread the most:
with ``Xc`` the points minus their mean (n, d) and its singular value decomposition
``Xc = U S V^T``, the first two rows of ``V^T`` are those directions and ``U[:, :2] S[:2]``
the points' coordinates along them (the map). ``S**2`` is the spread along each direction,
so ``S[:2]**2 / sum(S**2)`` is the share of the spread the map shows.

How well a map separates the classes is measured by the nearest-centroid accuracy: each
point is given the class whose mean point (centroid) in the map is closest; the share of
points that get their own class. 10% is chance for 10 balanced classes; 100% means every
class forms its own cluster around its centre.

Maps of the same layer at different epochs are turned to match (:func:`align`: a rotation
or reflection, never a stretch), so that a replay shows the classes moving, not the axes
flipping. NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import Network
from .training import iterate_float_batches

# pca(): up to this many rows or columns the full SVD is cheap; above, the range finder.
EXACT_SIDE = 300
OVERSAMPLING = 10  # extra random directions beyond the two wanted
POWER_ITERATIONS = 16


@dataclass
class Projection:
    """A 2-D map of n points of d dimensions.

    coordinates: (n, 2) each point's place along the two principal directions.
    components: (2, d) the directions (unit vectors); mean: (d,) the points' mean.
    explained: (2,) the share of the points' spread (variance) along each direction.
    """

    coordinates: np.ndarray
    components: np.ndarray
    mean: np.ndarray
    explained: np.ndarray


def pca(points, n_components: int = 2) -> Projection:
    """The principal-component map of ``points`` (n, d), by NumPy's SVD, in float64.

    Small matrices (``min(n, d) <= EXACT_SIDE``) get the full thin SVD. A bigger one is first
    projected on a few random directions that power iterations turn towards its leading
    singular vectors (the range finder of Halko, Martinsson & Tropp 2011, seeded, so one set
    of points always gives one map), and the small projection gets the SVD: the two
    leading directions at a fraction of the cost (the README has the measurements). Each
    direction's sign is fixed (its largest coordinate positive). Where a direction does not
    exist (fewer points or dimensions) its coordinates are 0.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(f"expected points of shape (n, d) with n >= 1, got {points.shape}")
    mean = points.mean(axis=0)
    centred = points - mean
    if min(centred.shape) <= EXACT_SIDE:
        u, s, vt = np.linalg.svd(centred, full_matrices=False)
    else:
        basis = _leading_range(centred, n_components + OVERSAMPLING)
        small_u, s, vt = np.linalg.svd(basis.T @ centred, full_matrices=False)
        u = basis @ small_u
    k = min(n_components, len(s))
    coordinates = np.zeros((len(points), n_components))
    components = np.zeros((n_components, points.shape[1]))
    coordinates[:, :k] = u[:, :k] * s[:k]
    components[:k] = vt[:k]
    for i in range(k):  # a sign convention, so one set of points always gives one map
        if coordinates[np.abs(coordinates[:, i]).argmax(), i] < 0:
            coordinates[:, i] *= -1
            components[i] *= -1
    total = float(np.sum(centred * centred))
    explained = np.zeros(n_components)
    explained[:k] = s[:k] ** 2 / total if total > 0 else 0.0
    return Projection(coordinates, components, mean, explained)


def _leading_range(centred: np.ndarray, width: int) -> np.ndarray:
    """(n, width) orthonormal columns spanning (very nearly) the ``width`` leading left
    singular vectors of ``centred`` (n, d): random directions, then POWER_ITERATIONS
    multiplications by ``centred centred^T``, re-orthonormalised each time."""
    directions = np.random.default_rng(0).standard_normal((centred.shape[1], width))
    basis, _ = np.linalg.qr(centred @ directions)
    for _ in range(POWER_ITERATIONS):
        basis, _ = np.linalg.qr(centred @ (centred.T @ basis))
    return basis


def align(coordinates, reference) -> np.ndarray:
    """``coordinates`` (n, 2) turned (rotated, maybe mirrored, never stretched) to lie as
    close as possible to ``reference`` (n, 2), the same points: orthogonal Procrustes,
    ``R = U V^T`` from the SVD of ``coordinates^T reference``."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    u, _, vt = np.linalg.svd(coordinates.T @ np.asarray(reference, dtype=np.float64))
    return coordinates @ (u @ vt)


def nearest_centroid_accuracy(coordinates, labels) -> float:
    """Share of points (n, 2) whose nearest class centroid (mean point of each class in
    ``labels`` (n,)) is their own class's."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    classes = np.unique(labels)
    centroids = np.stack([coordinates[labels == c].mean(axis=0) for c in classes])
    distances = ((coordinates[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return float(np.mean(classes[distances.argmin(axis=1)] == labels))


def layer_names(network: Network) -> list[str]:
    """The names of :func:`layer_outputs`' entries: "input pixels", "conv1 (8 maps)",
    "hidden layer 1 (128 units)", ..., "output scores (logits)"."""
    names = [f"input pixels ({network.layer_sizes[0]})"]
    for number, spec in enumerate(network.conv_specs, start=1):
        names.append(f"conv{number} ({spec.filters} maps)")
    names += [f"hidden layer {number} ({size} units)" for number, size in enumerate(network.hidden_sizes, start=1)]
    return [*names, f"output scores ({network.layer_sizes[-1]} logits)"]


def layer_outputs(network: Network, images, batch_size: int = 512) -> list[np.ndarray]:
    """Every layer's outputs for ``images`` (n, n_inputs) uint8 or float, from the network's
    own forward pass: ``[X, conv blocks (pooled maps, flattened), A[1], ..., A[L-1], logits]``
    (see :func:`layer_names`), each (n, width) float32."""
    images = np.asarray(images)
    n = len(images)
    kinds = [layer.kind for layer in network.layers]
    n_hidden = kinds.count("activation") - len(network.conv_specs)
    outputs = None
    for start, batch in iterate_float_batches(images, batch_size, network.dtype):
        forward = network.forward(batch, record=True)
        hidden = forward.activations[1 + len(network.conv_specs): -1]
        parts = [batch, *(p.reshape(len(batch), -1) for p in forward.pooled), *hidden[:n_hidden],
                 forward.pre_activations[-1]]
        if outputs is None:
            outputs = [np.empty((n, part.shape[1]), network.dtype) for part in parts]
        for out, part in zip(outputs, parts):
            out[start : start + len(batch)] = part
    return outputs
