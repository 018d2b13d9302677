"""The Weights page's two views of a dense network's weights (no Streamlit): the weights
``W`` as they are, and the learned change since the start ``W - W0`` (``W0``: the run's
first weight snapshot, taken before its first step). In both, the first layer's pixels that
no training image inks are left out (NaN: drawn grey): their weights never receive a
gradient (see ``nn/weight_change.py``).

The page opens on the view whose first-layer pictures show more structure, measured by
their mean lag-1 neighbour correlation (``nn.weight_change.neighbour_correlation``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nn.weight_change import inked_pixels, learned_change, masked_pixels, neighbour_correlation

RAW, CHANGE = "raw", "change"
VIEW_LABELS = {CHANGE: "Learned change since the start (W − W₀)", RAW: "Weights as they are (W)"}
VALUE_NAMES = {CHANGE: "w − w₀", RAW: "w"}


@dataclass
class WeightViews:
    """What the views need for one model.

    start: ``[W0[1], ..., W0[L]]`` of its run's first snapshot (epoch 0), or None when the
        run kept none (a model restored from the database or uploaded: no change view).
    inked: (784,) bool, the pixels some training image inks (None: all are shown).
    correlation: {view: mean lag-1 neighbour correlation of the first layer's pictures}.
    default: the view with the higher correlation.
    """

    start: list[np.ndarray] | None
    inked: np.ndarray | None
    correlation: dict[str, float]
    default: str

    @property
    def views(self) -> tuple[str, ...]:
        return (CHANGE, RAW) if self.start is not None else (RAW,)


def start_weights(history) -> list[np.ndarray] | None:
    """The weights of a run's snapshot taken before its first step, or None."""
    snapshots = getattr(history, "snapshots", None) or []
    if not snapshots or snapshots[0].step != 0:
        return None
    return snapshots[0].weights


def weight_views(network, history, train_images=None) -> WeightViews:
    """The views of ``network`` (dense, trained in a run with ``history``); ``train_images``
    (n, 784) say which pixels are ever inked."""
    start = start_weights(history)
    if start is not None and [w.shape for w in start] != [w.shape for w in network.weights]:
        start = None
    inked = None
    if train_images is not None and np.asarray(train_images).shape[1:] == (network.weights[0].shape[0],):
        inked = inked_pixels(train_images)
    views = WeightViews(start, inked, {}, RAW)
    for view in views.views:
        views.correlation[view] = neighbour_correlation(first_layer(network.weights[0], view, views))
    views.default = max(views.views, key=lambda view: np.nan_to_num(views.correlation[view], nan=-1.0))
    return views


def first_layer(weights, view: str, views: WeightViews) -> np.ndarray:
    """(784, n_units) float32: the first layer's ``weights`` (the network's or a snapshot's)
    in ``view``, never-inked pixels NaN."""
    values = layer(weights, view, views, 0)
    return values if views.inked is None else masked_pixels(values, views.inked)


def layer(weights, view: str, views: WeightViews, index: int) -> np.ndarray:
    """Weight matrix ``index`` (0 = the first) in ``view``: ``W`` or ``W - W0``."""
    if view == CHANGE:
        if views.start is None:
            raise ValueError("this model kept no start weights: only the raw view exists")
        return learned_change(weights, views.start[index])
    return np.asarray(weights)
