"""Speed: convolution and pooling. The im2col copy in the layout that keeps its runs long,
the 2x2 max pool as two maxima of pairs, and the activation's derivative taken on the
pooled grid.

Each trick here gives exactly the numbers the plain code would; it only avoids work.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# With fewer input channels than this, the im2col matrix is stored transposed (one row
# per kernel offset): copying windows then runs along image rows, not along C channels.
MANY_CHANNELS = 4


def columns_storage(m: int, out_h: int, out_w: int, n_rows: int, channels: int) -> tuple[int, int]:
    """The shape of the array that holds the im2col matrix of m images: (N, K), or (K, N)
    when there are few input channels (N = m*Ho*Wo positions, K = k*k*C_in = ``n_rows``).

    Why: with one input channel the transposed copy is several times faster; BLAS
    multiplies either layout at the same speed.
    """
    n = m * out_h * out_w
    return (n, n_rows) if channels >= MANY_CHANNELS else (n_rows, n)


def im2col(x: np.ndarray, kernel: int, pad: int, out: np.ndarray | None = None,
           padded: np.ndarray | None = None) -> np.ndarray:
    """The ``(m*Ho*Wo, k*k*C)`` matrix of the ``k x k`` windows of ``x`` (m, H, W, C).

    Row ``(n, y, x)`` holds the window under output position (y, x) of image n, in the
    order (i, j, c) of the kernel's entries: ``X[n, y+i-p, x+j-p, c]``, 0 where that
    falls into the padding ``p``. out: a reused buffer shaped ``columns_storage``; the
    result is a view of it (a transposed one when there are few channels). padded: a
    reused buffer for the zero-padded input, its border all zeros.
    """
    m, height, width, channels = x.shape
    if pad:
        if padded is None:
            padded = np.zeros((m, height + 2 * pad, width + 2 * pad, channels), x.dtype)
        padded[:, pad : pad + height, pad : pad + width, :] = x  # the border stays 0
        x = padded
    out_h, out_w = x.shape[1] - kernel + 1, x.shape[2] - kernel + 1
    n_rows = kernel * kernel * channels
    # A view of every k x k window, (m, Ho, Wo, C, k, k): nothing is copied yet.
    windows = sliding_window_view(x, (kernel, kernel), axis=(1, 2))
    storage = columns_storage(m, out_h, out_w, n_rows, channels)
    out = np.empty(storage, x.dtype) if out is None else out
    # One copy, in the order that keeps its innermost runs long.
    if storage[0] == n_rows:
        np.copyto(out.reshape(kernel, kernel, channels, m, out_h, out_w), windows.transpose(4, 5, 3, 0, 1, 2))
        return out.T
    np.copyto(out.reshape(m, out_h, out_w, kernel, kernel, channels), windows.transpose(0, 1, 2, 4, 5, 3))
    return out


def col2im(grad_cols: np.ndarray, input_shape, kernel: int, pad: int, out: np.ndarray | None = None) -> np.ndarray:
    """Add every window's gradient back where the window came from: ``dJ/dX`` (m, H, W, C).

    grad_cols: ``(m*Ho*Wo, k*k*C)``, i.e. ``delta @ W.T``. Windows overlap, so their
    gradients add. Done as one slice addition per kernel offset (k*k of them) instead of
    one per window. ``out`` is overwritten.
    """
    m, height, width, channels = input_shape
    out_h, out_w = height + 2 * pad - kernel + 1, width + 2 * pad - kernel + 1
    out = np.zeros(input_shape, grad_cols.dtype) if out is None else out
    out.fill(0)
    windows = grad_cols.reshape(m, out_h, out_w, kernel, kernel, channels)
    for i in range(kernel):
        for j in range(kernel):
            di, dj = i - pad, j - pad  # output (y, x) read input (y + di, x + dj)
            y0, y1 = max(0, -di), min(out_h, height - di)
            x0, x1 = max(0, -dj), min(out_w, width - dj)
            out[:, y0 + di : y1 + di, x0 + dj : x1 + dj, :] += windows[:, y0:y1, x0:x1, i, j, :]
    return out


def _row_pairs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Views of the even and the odd rows, (m, H//2, W', C), W' = W floored to even."""
    height, width = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    return x[:, 0:height:2, :width, :], x[:, 1:height:2, :width, :]


def _column_pairs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Views of the even and the odd columns of the row maxima, (m, H//2, W//2, C)."""
    return rows[:, :, 0::2, :], rows[:, :, 1::2, :]


def max_pool_2x2(x: np.ndarray, out: np.ndarray | None = None, row_max: np.ndarray | None = None) -> np.ndarray:
    """The maximum of every 2x2 block of ``x`` (m, H, W, C): (m, H//2, W//2, C).

    Why two steps: the maximum of each pair of rows runs along whole rows of W*C
    numbers; only the second step, between neighbouring columns, has to step through
    the C channels of one pixel at a time, which NumPy does far slower.
    row_max: a buffer for the first step, (m, H//2, W', C).
    """
    row_max = np.maximum(*_row_pairs(x), out=row_max)
    return np.maximum(*_column_pairs(row_max), out=out)


def max_pool_2x2_backward(x, pooled, grad_pooled, *, out=None, row_max=None, grad_rows=None, mask=None,
                          row_mask=None) -> np.ndarray:
    """dJ/dX (m, H, W, C): ``grad_pooled`` routed to each block's maximum, through the
    two steps of ``max_pool_2x2`` in reverse.

    x, pooled: the forward pass's input and output. On a tie the left column wins, then
    the top row, so exactly one input gets the gradient. The rest are optional buffers:
    row_max and grad_rows (m, H//2, W', C) floats, mask (pooled-sized) and row_mask
    (row_max-sized) booleans.
    """
    top, bottom = _row_pairs(x)
    row_max = np.maximum(top, bottom, out=row_max)  # recomputed: one fast pass
    left, right = _column_pairs(row_max)
    grad_rows = np.empty(row_max.shape, grad_pooled.dtype) if grad_rows is None else grad_rows
    grad_left, grad_right = _column_pairs(grad_rows)
    # The left column takes the gradient where it holds the maximum; the right one the rest.
    mask = np.equal(left, pooled, out=mask)
    np.multiply(grad_pooled, mask, out=grad_left)
    np.subtract(grad_pooled, grad_left, out=grad_right)
    out = np.empty(x.shape, grad_pooled.dtype) if out is None else out
    if x.shape[1] % 2 or x.shape[2] % 2:
        out.fill(0)  # the dropped last row/column
    grad_top, grad_bottom = _row_pairs(out)
    # Then the same between each pair of rows.
    row_mask = np.equal(top, row_max, out=row_mask)
    np.multiply(grad_rows, row_mask, out=grad_top)
    np.subtract(grad_rows, grad_top, out=grad_bottom)
    return out


def backward_order(layers) -> list[tuple[int, int]]:
    """The order the backward pass visits ``layers`` in: (layer index, index of the output
    its backward reads), last layer first.

    One exception: an activation right before a max pool is differentiated *before* the
    pool routes the gradient, reading the pooled output. Why: only each block's maximum
    gets a gradient, and there ``a = pooled``, so ``f'`` is known from the pooled values
    alone (4x fewer numbers; exact because every activation here is monotone).
    """
    order, index = [], len(layers) - 1
    while index >= 0:
        if index > 0 and layers[index].kind == "pool" and layers[index - 1].kind == "activation":
            order += [(index - 1, index + 1), (index, index + 1)]
            index -= 2
        else:
            order.append((index, index + 1))
            index -= 1
    return order
