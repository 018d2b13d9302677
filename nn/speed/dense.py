"""Speed: the dense layers and the output. Bias on blocks of rows, softmax and loss on
transposed logits, the output error without one-hot labels, and blank input columns
left out of the first layer.

Each trick here gives exactly the numbers the plain code would (leaving input columns
out: the same sums over fewer terms); it only avoids work.
"""

from __future__ import annotations

import numpy as np

from .memory import NO_BUFFERS, KeptColumnsArrays, Scratch, ones


def add_bias(z: np.ndarray, b: np.ndarray) -> None:
    """``z += b`` on every row of ``z`` (m, n).

    Why: NumPy's broadcasting loop is slow on short rows (a 10-unit layer), so for a
    big batch k consecutive rows are viewed as one row of about 1024 numbers and ``b``
    repeated k times is added to that (the same sums).
    """
    m, n = z.shape
    k = 1024 // n
    if z.size < 1 << 16 or k < 2 or not z.flags.c_contiguous:
        z += b
        return
    rows = m - m % k
    blocks = z[:rows].reshape(rows // k, k * n)
    blocks += np.tile(b, k)
    z[rows:] += b


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray, scratch: Scratch | None = None):
    """Turn ``logits`` (m, k) into probabilities in place; return them, the mean loss
    and how many rows are classified right.

    With ``s = z - max(z)``:  ``-log softmax(z)_y = log(sum_j e^{s_j}) - s_y``.
    Both terms stay finite however confident the network is, unlike ``-log(p_y)``.
    A NaN or infinite logit (a diverged network) yields a non-finite loss, on purpose.

    Why transposed: NumPy reduces and broadcasts fast along long rows but slowly along
    rows of 10 classes, so the work is done on ``(k, m)``. Right answers are counted
    without argmax (slow on rows of 10): a row's maximum is exactly 0 after the shift.
    """
    m = len(logits)
    scratch = scratch or Scratch(m, logits.shape[1], logits.dtype)
    s = scratch.columns
    np.copyto(s, logits.T)
    np.maximum.reduce(s, axis=0, out=scratch.row_max)
    s -= scratch.row_max
    # s_y of each row: element (y_i, i) of s, at y_i * m + i in the flattened array.
    index = np.multiply(labels, scratch.m, out=scratch.index)
    index += scratch.rows
    true_logit = s.take(index, out=scratch.true_logit)  # take() without an axis: flat
    # A row is right when s_y == 0, unless another class ties for the maximum.
    n_correct = m - int(np.count_nonzero(true_logit))
    if s.size - np.count_nonzero(s) > m:  # ties: count as argmax does (first maximum wins)
        n_correct = int(np.count_nonzero(s.argmax(axis=0) == labels))
    np.exp(s, out=s)
    sums = np.add.reduce(s, axis=0, out=scratch.sums)
    s /= sums
    np.copyto(logits, s.T)
    np.log(sums, out=sums)
    sums -= true_logit
    loss = float(np.add.reduce(sums, dtype=np.float64)) / m
    return logits, loss, n_correct


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in place, numerically stable (``softmax(z) = softmax(z - max z)``).

    Why transposed: as in ``softmax_cross_entropy``, reductions along rows of 10 classes are slow.
    """
    columns = np.ascontiguousarray(z.T)
    columns -= columns.max(axis=0)
    np.exp(columns, out=columns)
    columns /= columns.sum(axis=0)
    np.copyto(z, columns.T)
    return z


def output_error(probabilities: np.ndarray, labels: np.ndarray, out=None, scratch: Scratch | None = None):
    """``delta[L] = (P - Y) / m`` (m, k), into ``out`` when given.

    Why: Y is never built: 1 is subtracted at (i, y_i), addressed in the flattened
    array as ``i * k + y_i``.
    """
    m, n_classes = probabilities.shape
    delta = probabilities.copy() if out is None else out
    if out is not None:
        np.copyto(delta, probabilities)
    starts = scratch.row_starts if scratch is not None else np.arange(m, dtype=np.intp) * np.intp(n_classes)
    index = np.add(starts, labels, out=None if scratch is None else scratch.index)
    delta.reshape(-1)[index] -= 1
    delta *= delta.dtype.type(1.0 / m)
    return delta


def used_columns(column_max: np.ndarray) -> np.ndarray | None:
    """Indices of the non-zero entries of ``column_max`` (one value per input column),
    or None when too few are zero for leaving them out to pay (it costs two gathers)."""
    used = np.flatnonzero(column_max)
    return used if len(used) <= len(column_max) - len(column_max) // 8 else None


class KeptInputColumns:
    """The first Dense layer, for a batch ``(m, k)`` that holds only the input ``columns``
    (k increasing indices), every other input being 0 in every row.

    Why: a 0 input adds ``0 * w = 0`` to ``Z[1]`` (w finite), so only the k matching rows
    of ``W[1]`` are used: the same sums over fewer terms (MNIST digits leave their borders
    blank). The gradient of the rows left out is exactly 0; dJ/dX is not available.
    """

    def __init__(self, dense, columns: np.ndarray, arrays: KeptColumnsArrays | None = None) -> None:
        self.dense, self.columns, self.arrays = dense, columns, arrays
        self.kind, self.parameter_shapes = dense.kind, dense.parameter_shapes

    def forward(self, x, params, buffers=NO_BUFFERS):
        weight, bias = params
        out = None if self.arrays is None else self.arrays.rows[: len(self.columns)]
        kept = weight.take(self.columns, axis=0, out=out, mode="clip")
        return self.dense.forward(x, (kept, bias), buffers)

    def backward(self, delta, x, y, memo, params, grads, buffers=NO_BUFFERS, input_gradient=False):
        if input_gradient:
            raise ValueError("dJ/dX needs every input column: run forward without input_columns")
        weight, _ = params
        grad_weight, grad_bias = grads
        columns, k = self.columns, len(self.columns)
        if self.arrays is None:
            grad_weight = np.zeros(weight.shape, weight.dtype)
            grad_weight[columns] = x.T @ delta
        else:
            kept_grad, row_of_input = self.arrays.gradient, self.arrays.row_of_input
            np.matmul(x.T, delta, out=kept_grad[1 : k + 1])
            row_of_input.fill(0)  # kept_grad[0] is all zeros: the gradient of every column left out
            row_of_input[columns] = self.arrays.counting[:k]
            # One row gather fills every row of the gradient (faster than zeroing, then scattering).
            kept_grad.take(row_of_input, axis=0, out=grad_weight, mode="clip")
        grad_bias = np.matmul(ones(len(delta), delta.dtype), delta, out=grad_bias)
        return None, (grad_weight, grad_bias)
