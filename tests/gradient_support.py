"""Finite differences for the engine's gradient tests (tests/nn): the one copy they share."""

from __future__ import annotations

import numpy as np

EPSILON = 1e-6


def relative_error(a, b) -> float:
    """‖a − b‖ / (‖a‖ + ‖b‖) over all entries."""
    a, b = np.ravel(a), np.ravel(b)
    return float(np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)))


def numeric_gradient(f, array, picks=None) -> np.ndarray:
    """Central differences of the scalar f() with respect to the entries of ``array``
    (all of them, shaped like ``array``, or the flat indices ``picks``, flat), nudged in place."""
    flat = array.reshape(-1)
    indices = range(flat.size) if picks is None else picks
    out = []
    for index in indices:
        original = flat[index]
        flat[index] = original + EPSILON
        plus = f()
        flat[index] = original - EPSILON
        minus = f()
        flat[index] = original
        out.append((plus - minus) / (2 * EPSILON))
    out = np.array(out)
    return out.reshape(array.shape) if picks is None else out
