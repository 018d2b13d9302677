"""Training / validation split, class by class."""

from __future__ import annotations

import numpy as np

from nn.errors import DataError

# ---------------------------------------------------------------------------
# Train / validation split
# ---------------------------------------------------------------------------


def stratified_split(
    labels: np.ndarray, validation_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into training and validation, class by class.

    Each class contributes ``round(count * validation_fraction)`` randomly chosen
    samples to validation, so both parts keep the class proportions of ``labels``
    (to within one sample per class).  A class is never moved entirely into
    validation: at least one of its samples stays in training.

    Args:
        labels: ``(n,)`` integer class labels.
        validation_fraction: in ``[0, 1)``; 0 gives an empty validation set.
        seed: seed for ``numpy.random.default_rng``; the same seed gives the same split.

    Returns:
        ``(train_indices, validation_indices)``: int64 arrays, each **sorted
        ascending** (shuffle per epoch where you use them), disjoint, and together
        covering ``0 .. n-1``.
    """
    if labels is None:
        raise DataError("stratified_split needs labels (this dataset is unlabelled)")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"labels must be one-dimensional, got shape {labels.shape}")
    if not 0.0 <= validation_fraction < 1.0:
        raise DataError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    rng = np.random.default_rng(seed)
    validation_parts = []
    for class_value in np.unique(labels):
        class_indices = np.flatnonzero(labels == class_value)
        # Round half up (Python's round() would round 0.5 to even).
        n_validation = int(np.floor(class_indices.size * validation_fraction + 0.5))
        n_validation = min(n_validation, class_indices.size - 1)
        if n_validation > 0:
            validation_parts.append(rng.choice(class_indices, size=n_validation, replace=False))
    is_validation = np.zeros(labels.shape[0], dtype=bool)
    if validation_parts:
        is_validation[np.concatenate(validation_parts)] = True
    train_indices = np.flatnonzero(~is_validation).astype(np.int64)
    validation_indices = np.flatnonzero(is_validation).astype(np.int64)
    return train_indices, validation_indices
