"""Convolutional layers, from scratch in NumPy: Conv2D, MaxPool2D, Flatten, ConvNetwork.

A dense layer gives every hidden unit its own weight for every pixel. A convolutional
layer instead slides one small ``k x k`` filter over the whole image: the same few
weights look for the same pattern (an edge, a stroke end) everywhere, and the layer's
output is a *feature map* per filter saying where the pattern was found.

Images travel as NHWC arrays ``(m, H, W, C)``: m images, height, width, channels
(1 for the grey input, one per filter after a convolution). For one output position
``(y, x)`` of filter ``f``, a 'valid' convolution (strictly: cross-correlation, as in
every deep-learning library) computes::

    Z[n, y, x, f] = b[f] + sum_{i, j < k} sum_c X[n, y + i, x + j, c] * W[i, j, c, f]

im2col turns this into ONE matrix multiply. Copy every ``k x k x C_in`` window of the
input into a row of a matrix, one row per output position of every image, then
multiply by the kernel seen as a ``(k*k*C_in, filters)`` matrix::

    input X (m, H, W, C_in)          cols (m*Ho*Wo, k*k*C_in)          W (k*k*C_in, F)
    +-------------+                  one row per output position (n, y, x):
    | +---+       |   copy each      the window X[n, y:y+k, x:x+k, :] flattened
    | |win|-->    |   window ----->  in the order (i, j, c), like W's rows
    | +---+       |   into a row
    +-------------+                  Z (m*Ho*Wo, F) = cols @ W + b   ->  (m, Ho, Wo, F)

(``numpy.lib.stride_tricks.sliding_window_view`` gives all the windows as a view
without copying; one ``copyto`` lays them out. With a single input channel the matrix
is stored transposed, one row per kernel offset, which makes that copy 4x faster;
BLAS multiplies either layout at the same speed.)

'valid' keeps only positions where the filter fits: ``Ho = H - k + 1``. 'same' pads the
input with ``p = (k - 1) / 2`` zeros on every side first (k odd), so ``Ho = H``.

Backpropagation, with ``delta = dJ/dZ`` reshaped to ``(m*Ho*Wo, F)``::

    dJ/dW    = cols.T @ delta               (k*k*C_in, F): one matrix multiply
    dJ/db    = delta summed over rows       (F,)
    dJ/dcols = delta @ W.T                  (m*Ho*Wo, k*k*C_in)
    dJ/dX    = col2im(dJ/dcols)             every window's gradient added back where the
                                            window came from (windows overlap: they add)

A 2x2 max pool keeps the largest of each 2x2 block (halving height and width). Only
that largest input influenced the output, so its gradient is the pooled gradient and
the other three inputs get 0: backprop *routes* the gradient to the argmax.

Every weight layer of a ConvNetwork (conv and dense alike) keeps its parameters as
views of one contiguous array, like ``Network``, so the optimisers update all of them
in one NumPy call per operation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .activations import ACTIVATIONS, DEFAULT_INIT, DERIVATIVES
from .network import ForwardPass, Gradients, Network, _add_bias, _Scratch, dense_layer_forward, one_block

PADDINGS = ("valid", "same")
MAX_FILTERS = 64  # per conv layer, in TrainConfig (the app's knobs); the layers take any number
# Largest training batch for a conv network in TrainConfig: the im2col matrix of 1,024 28x28
# images and a 5x5 kernel is 59 MB; full batch on 60,000 images would need 3.5 GB.
MAX_CONV_BATCH = 1024

# The recommended convolutional run, as TrainConfig keyword arguments: two conv blocks,
# conv 16@3x3 -> ReLU -> 2x2 max pool -> conv 32@3x3 -> ReLU -> 2x2 max pool -> 10 softmax
# (28x28 -> 26x26x16 -> 13x13x16 -> 11x11x32 -> 5x5x32 -> 10; 12,810 parameters), Adam at a
# constant rate, trained on all the bundled 5,000 images: 97.7% on the real 10,000 MNIST test
# images with seeds 0, 1 and 2 (97.66%, 97.70%, 97.67%; after 10 epochs 97.2-97.6%). One conv
# 8@5x5 block straight into the softmax (11,738 parameters) stays near 96.5-96.8% at its best
# settings found (SGD with momentum, lr 0.1): see the README's Convolution section.
RECOMMENDED_CONV_CONFIG = {
    "conv_layers": ((16, 3), (32, 3)),
    "conv_padding": "valid",
    "conv_pool": True,
    "hidden_sizes": (),
    "activation": "relu",
    "optimizer": "adam",
    "learning_rate": 2e-3,
    "batch_size": 64,
    "epochs": 15,
}


@dataclass(frozen=True)
class ConvSpec:
    """One convolutional block: ``filters`` filters of ``kernel x kernel``, then the
    activation, then (``pool``) a 2x2 max pool."""

    filters: int
    kernel: int
    padding: str = "valid"
    pool: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.filters, (int, np.integer)) and self.filters >= 1):
            raise ValueError(f"filters must be a positive integer, got {self.filters!r}")
        if not (isinstance(self.kernel, (int, np.integer)) and self.kernel >= 1):
            raise ValueError(f"kernel size must be a positive integer, got {self.kernel!r}")
        if self.padding not in PADDINGS:
            raise ValueError(f"padding must be 'valid' or 'same', got {self.padding!r}")
        if self.padding == "same" and self.kernel % 2 == 0:
            raise ValueError(f"'same' padding needs an odd kernel size (equal padding on both sides), "
                             f"got {self.kernel}")

    def describe(self) -> str:
        """e.g. 'conv 8@5×5' or 'conv 8@5×5 same'."""
        return f"conv {self.filters}@{self.kernel}×{self.kernel}" + (" same" if self.padding == "same" else "")


def conv_shapes(specs: Sequence[ConvSpec], image_shape=(28, 28)) -> list[tuple[tuple, tuple]]:
    """For each conv block, ((Ho, Wo, F) after the convolution, (Hp, Wp, F) after pooling).

    Raises ValueError when a kernel does not fit its input or a map shrinks to nothing.
    """
    height, width = image_shape
    shapes = []
    for number, spec in enumerate(specs, start=1):
        if spec.padding == "valid" and (spec.kernel > height or spec.kernel > width):
            raise ValueError(f"conv layer {number}: a {spec.kernel}×{spec.kernel} kernel does not fit "
                             f"its {height}×{width} input")
        if spec.padding == "valid":
            height, width = height - spec.kernel + 1, width - spec.kernel + 1
        conv_shape = (height, width, spec.filters)
        if spec.pool:
            if height < 2 or width < 2:
                raise ValueError(f"conv layer {number}: its {height}×{width} maps are too small for a "
                                 "2×2 max pool")
            height, width = height // 2, width // 2
        shapes.append((conv_shape, (height, width, spec.filters)))
    return shapes


def conv_config_problems(conv_layers, padding: str, pool: bool, image_shape=(28, 28)) -> list[str]:
    """What is wrong with TrainConfig's conv settings, as readable messages (empty if fine)."""
    problems = []
    if padding not in PADDINGS:
        problems.append(f"conv padding must be 'valid' or 'same', got {padding!r}")
        padding = "valid"
    side = min(image_shape)
    for number, (filters, kernel) in enumerate(conv_layers, start=1):
        if not 1 <= filters <= MAX_FILTERS:
            problems.append(f"conv layer {number}: filters must be 1..{MAX_FILTERS}, got {filters}")
        if not 1 <= kernel <= side:
            problems.append(f"conv layer {number}: kernel size must be 1..{side} (the image side), got {kernel}")
        elif padding == "same" and kernel % 2 == 0:
            problems.append(f"conv layer {number}: 'same' padding needs an odd kernel size, got {kernel}")
    if not problems and conv_layers:
        try:
            conv_shapes([ConvSpec(f, k, padding, pool) for f, k in conv_layers], image_shape)
        except ValueError as error:
            problems.append(f"{error} (the maps shrink to nothing: use fewer or smaller kernels, "
                            "'same' padding or no pooling)")
    return problems


# -- the layers ------------------------------------------------------------------------
class Conv2D:
    """``filters`` filters of ``kernel x kernel x in_channels``, stride 1, on NHWC batches.

    The layer holds no parameters: ``forward``/``backward`` take the kernel ``W`` of shape
    ``(k, k, in_channels, filters)`` and the bias ``b`` of shape ``(filters,)``, so a
    network can keep all its parameters in one array. ``W.reshape(k*k*in_channels,
    filters)`` is the im2col weight matrix (a free view: the kernel offsets (i, j, c) are
    its rows in the same order as the columns of ``cols``).
    """

    # With fewer input channels than this, the im2col matrix is stored transposed (one row
    # per kernel offset): copying windows then runs along image rows, not along C channels.
    MANY_CHANNELS = 4

    def __init__(self, in_channels: int, filters: int, kernel: int, padding: str = "valid") -> None:
        spec = ConvSpec(filters, kernel, padding)  # validates
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        self.in_channels, self.filters, self.kernel, self.padding = in_channels, spec.filters, spec.kernel, padding
        self.pad = (kernel - 1) // 2 if padding == "same" else 0

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.kernel, self.kernel, self.in_channels, self.filters)

    @property
    def n_rows(self) -> int:
        """k*k*in_channels: the rows of ``cols`` and of the weight matrix."""
        return self.kernel * self.kernel * self.in_channels

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(Ho, Wo): H - k + 1 for 'valid', H for 'same'."""
        shrink = self.kernel - 1 - 2 * self.pad
        return height - shrink, width - shrink

    def _windows(self, height: int, width: int):
        """For each kernel offset (i, j): (i, j, input rows, input cols, output rows, output cols),
        the slices where the shifted window overlaps the (unpadded) input. With 'same'
        padding the rest of the window lies in the zero padding."""
        out_h, out_w = self.output_size(height, width)
        for i in range(self.kernel):
            for j in range(self.kernel):
                di, dj = i - self.pad, j - self.pad  # output (y, x) reads input (y + di, x + dj)
                y0, y1 = max(0, -di), min(out_h, height - di)
                x0, x1 = max(0, -dj), min(out_w, width - dj)
                yield i, j, slice(y0 + di, y1 + di), slice(x0 + dj, x1 + dj), slice(y0, y1), slice(x0, x1)

    def columns_storage(self, m: int, height: int, width: int) -> tuple[int, int]:
        """The shape of the array that holds the im2col matrix of m images: (N, K), or
        (K, N) when there are few input channels (N = m*Ho*Wo, K = k*k*C_in)."""
        out_h, out_w = self.output_size(height, width)
        n = m * out_h * out_w
        return (n, self.n_rows) if self.in_channels >= self.MANY_CHANNELS else (self.n_rows, n)

    def padded_shape(self, x_shape) -> tuple[int, int, int, int]:
        m, height, width, channels = x_shape
        return (m, height + 2 * self.pad, width + 2 * self.pad, channels)

    def im2col(self, x: np.ndarray, out: np.ndarray | None = None, padded: np.ndarray | None = None) -> np.ndarray:
        """The ``(m*Ho*Wo, k*k*C_in)`` matrix of the input windows of ``x`` (m, H, W, C_in).

        Row ``(n, y, x)`` holds the window under output position (y, x) of image n, in
        the order (i, j, c) of the kernel's entries: ``X[n, y+i-p, x+j-p, c]``, 0 where
        that falls into the padding.
        out: a reused buffer shaped ``columns_storage(m, H, W)``; the result is a view of it
        (a transposed one when there are few input channels). padded: a reused buffer
        for the zero-padded input ('same'), its border all zeros.
        """
        m, height, width, channels = x.shape
        if channels != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got {channels}")
        out_h, out_w = self.output_size(height, width)
        k = self.kernel
        if self.pad:
            p = self.pad
            padded = np.zeros(self.padded_shape(x.shape), x.dtype) if padded is None else padded
            padded[:, p : p + height, p : p + width, :] = x  # the border stays 0
            x = padded
        # A view of every k x k window, (m, Ho, Wo, C, k, k): nothing is copied yet.
        windows = sliding_window_view(x, (k, k), axis=(1, 2))
        storage = self.columns_storage(m, height, width)
        out = np.empty(storage, x.dtype) if out is None else out
        # Speed: one copy, in the order that keeps its innermost runs long.
        if storage[0] == self.n_rows:
            np.copyto(out.reshape(k, k, channels, m, out_h, out_w), windows.transpose(4, 5, 3, 0, 1, 2))
            return out.T
        np.copyto(out.reshape(m, out_h, out_w, k, k, channels), windows.transpose(0, 1, 2, 4, 5, 3))
        return out

    def col2im(self, grad_cols: np.ndarray, input_shape, out: np.ndarray | None = None) -> np.ndarray:
        """Add every window's gradient back where the window came from: ``dJ/dX``.

        grad_cols: ``(m*Ho*Wo, k*k*C_in)``, i.e. ``delta @ W.T``.
        Returns (m, H, W, C_in); ``out`` is overwritten.
        """
        m, height, width, channels = input_shape
        out_h, out_w = self.output_size(height, width)
        k = self.kernel
        out = np.zeros(input_shape, grad_cols.dtype) if out is None else out
        out.fill(0)
        windows = grad_cols.reshape(m, out_h, out_w, k, k, channels)
        for i, j, rows, columns, out_rows, out_columns in self._windows(height, width):
            out[:, rows, columns, :] += windows[:, out_rows, out_columns, i, j, :]
        return out

    def forward(self, x, weight, bias, *, cols=None, out=None) -> np.ndarray:
        """``Z = im2col(X) @ W + b``, shape (m, Ho, Wo, filters).

        cols: a buffer for the im2col matrix (see ``im2col``); out: for Z (contiguous).
        """
        m, height, width, _ = x.shape
        return self.multiply(self.im2col(x, cols), weight, bias, (m, *self.output_size(height, width)), out)

    def multiply(self, cols, weight, bias, out_shape, out=None) -> np.ndarray:
        """The matrix half of ``forward``: ``cols @ W + b`` as (m, Ho, Wo, filters)."""
        z = np.matmul(cols, weight.reshape(self.n_rows, self.filters),
                      out=None if out is None else out.reshape(-1, self.filters))
        _add_bias(z, bias)
        return z.reshape(*out_shape, self.filters)

    def backward(self, grad_z, weight, cols, input_shape, *, input_gradient=True, grad_weight=None,
                 grad_bias=None, grad_cols=None, grad_input=None, ones=None):
        """(dJ/dX or None, dJ/dW, dJ/db) from ``grad_z = dJ/dZ`` (m, Ho, Wo, filters).

        cols: the im2col matrix of the forward pass; input_shape: X's shape.
        grad_weight, grad_bias, grad_cols, grad_input: optional output buffers.
        ones: a vector of m*Ho*Wo ones (reused, else made here).
        """
        delta = grad_z.reshape(-1, self.filters)
        dw = np.matmul(cols.T, delta, out=None if grad_weight is None else grad_weight.reshape(self.n_rows, -1))
        # dJ/db = 1^T delta: one BLAS product, faster than sum(axis=0) over rows of F numbers.
        db = np.matmul(np.ones(len(delta), delta.dtype) if ones is None else ones, delta, out=grad_bias)
        dx = None
        if input_gradient:
            grad_cols = np.matmul(delta, weight.reshape(self.n_rows, self.filters).T, out=grad_cols)
            dx = self.col2im(grad_cols, input_shape, grad_input)
        return dx, dw.reshape(self.weight_shape), db


class MaxPool2D:
    """2x2 max pooling with stride 2 on NHWC batches: (m, H, W, C) -> (m, H//2, W//2, C).

    Odd sizes are floored: the last row (or column) of an odd-sized map is dropped and
    gets zero gradient, as in PyTorch's ``MaxPool2d(2)``.

    Computed as two maxima of pairs: each pair of rows (2i, 2i+1) gives the *row maxima*
    (m, H//2, W, C), then each pair of neighbouring columns of those gives the pool.
    (Speed: the first step runs along whole rows of W*C numbers; only the second has to
    step through the C channels of one pixel at a time, which NumPy does ~9x slower.)

    Gradient: ``P = max(a, b, c, d)`` changes only with its largest input, with slope 1,
    so ``dJ/da = dJ/dP`` if ``a`` is the maximum, else 0: backprop routes the pooled
    gradient to the argmax, through the same two steps in reverse. On a tie the left
    column wins, then the top row (order: top-left, bottom-left, top-right, bottom-right),
    so exactly one input gets the gradient and their sum stays the pooled gradient.
    """

    @staticmethod
    def _row_pairs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Views of the even and the odd rows, (m, H//2, W', C), W' = W floored to even."""
        height, width = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
        return x[:, 0:height:2, :width, :], x[:, 1:height:2, :width, :]

    @staticmethod
    def _column_pairs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Views of the even and the odd columns of the row maxima, (m, H//2, W//2, C)."""
        return rows[:, :, 0::2, :], rows[:, :, 1::2, :]

    def output_shape(self, input_shape):
        m, height, width, channels = input_shape
        return (m, height // 2, width // 2, channels)

    def forward(self, x: np.ndarray, out: np.ndarray | None = None, *, row_max=None) -> np.ndarray:
        """The maximum of every 2x2 block, (m, H//2, W//2, C). row_max: optional buffer."""
        row_max = np.maximum(*self._row_pairs(x), out=row_max)
        return np.maximum(*self._column_pairs(row_max), out=out)

    def backward(self, x, pooled, grad_pooled, *, out=None, row_max=None, grad_rows=None, mask=None,
                 row_mask=None) -> np.ndarray:
        """dJ/dX (m, H, W, C): ``grad_pooled`` routed to each block's maximum.

        x, pooled: the forward pass's input and output. The rest are optional buffers:
        row_max and grad_rows (m, H//2, W', C) floats, mask (pooled-sized) and row_mask
        (row_max-sized) booleans.
        """
        top, bottom = self._row_pairs(x)
        row_max = np.maximum(top, bottom, out=row_max)  # recomputed: one fast pass
        left, right = self._column_pairs(row_max)
        grad_rows = np.empty(row_max.shape, grad_pooled.dtype) if grad_rows is None else grad_rows
        grad_left, grad_right = self._column_pairs(grad_rows)
        # The left column takes the gradient where it holds the maximum; the right one the rest.
        mask = np.equal(left, pooled, out=mask)
        np.multiply(grad_pooled, mask, out=grad_left)
        np.subtract(grad_pooled, grad_left, out=grad_right)
        out = np.empty(x.shape, grad_pooled.dtype) if out is None else out
        if x.shape[1] % 2 or x.shape[2] % 2:
            out.fill(0)  # the dropped last row/column
        grad_top, grad_bottom = self._row_pairs(out)
        # Then the same between each pair of rows.
        row_mask = np.equal(top, row_max, out=row_mask)
        np.multiply(grad_rows, row_mask, out=grad_top)
        np.subtract(grad_rows, grad_top, out=grad_bottom)
        return out


class Flatten:
    """(m, H, W, C) -> (m, H*W*C), row-major (a free view of a contiguous batch)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1)

    def backward(self, grad: np.ndarray, input_shape) -> np.ndarray:
        return grad.reshape(input_shape)


# -- the network -----------------------------------------------------------------------
@dataclass
class ConvForwardPass(ForwardPass):
    """A ForwardPass with what a convolutional network adds.

    activations: ``[X (m, H*W), maps of each conv layer after the activation, before
        pooling (m, Ho, Wo, F), ..., dense outputs, probabilities]``.
    pooled: per conv layer, its output after the optional pool (the next layer's input).
    columns: per conv layer, the im2col matrix it multiplied (backward needs it).
    """

    pooled: list[np.ndarray] = field(default_factory=list)
    columns: list[np.ndarray] = field(default_factory=list)


class ConvNetwork:
    """Conv blocks (conv -> activation -> optional 2x2 max pool), flatten, dense hidden
    layers, softmax output. Used wherever a ``Network`` is (trainer, optimisers,
    gradient check, model files).

    >>> net = ConvNetwork([ConvSpec(8, 5)], seed=0)
    >>> net.describe()
    '28×28 → conv 8@5×5 relu → max-pool 2×2 → 10 softmax'
    >>> [w.shape for w in net.weights]
    [(5, 5, 1, 8), (1152, 10)]
    """

    is_convolutional = True
    # evaluate()/predict_proba() push at most this many images at once (the im2col
    # matrix of 512 28x28 images and a 5x5 kernel is 30 MB).
    evaluation_batch_size = 512

    def __init__(
        self,
        conv_layers: Sequence[ConvSpec],
        hidden_sizes=(),
        n_classes: int = 10,
        image_shape=(28, 28),
        activation: str = "relu",
        *,
        init: str | None = None,
        seed: int | None = 0,
        dtype=np.float32,
    ) -> None:
        specs = tuple(s if isinstance(s, ConvSpec) else ConvSpec(*s) for s in conv_layers)
        if not specs:
            raise ValueError("a ConvNetwork needs at least one conv layer (use Network otherwise)")
        hidden_sizes = tuple(int(n) for n in hidden_sizes)
        if any(n < 1 for n in hidden_sizes) or n_classes < 1:
            raise ValueError(f"layer widths must be positive, got {hidden_sizes} and {n_classes} classes")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        init = init or DEFAULT_INIT[activation]
        if init not in ("he", "xavier"):
            raise ValueError(f"unknown initialisation {init!r}; choose 'he' or 'xavier'")
        self._set_architecture(specs, image_shape, activation, init, np.dtype(dtype))
        rng = np.random.default_rng(seed)
        weights, biases = [], []
        for conv in self.convs:
            fan_in, fan_out = conv.n_rows, conv.kernel * conv.kernel * conv.filters
            weights.append(self._draw(rng, conv.weight_shape, fan_in, fan_out))
            biases.append(np.zeros(conv.filters, self.dtype))
        sizes = (self.n_features, *hidden_sizes, int(n_classes))
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            weights.append(self._draw(rng, (fan_in, fan_out), fan_in, fan_out))
            biases.append(np.zeros(fan_out, self.dtype))
        self.weights, self.biases = weights, biases
        self._pack()

    def _draw(self, rng, shape, fan_in, fan_out) -> np.ndarray:
        # He (2 / fan_in) or Xavier (2 / (fan_in + fan_out)), as in Network; a filter's fan-in
        # is its k*k*C_in inputs. Drawn in float64, then cast: one seed, same numbers.
        variance = 2.0 / fan_in if self.init == "he" else 2.0 / (fan_in + fan_out)
        return rng.normal(0.0, np.sqrt(variance), size=shape).astype(self.dtype)

    def _set_architecture(self, specs, image_shape, activation, init, dtype) -> None:
        self.image_shape = tuple(int(n) for n in image_shape)
        if len(self.image_shape) != 2 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (height, width), got {image_shape}")
        shapes = conv_shapes(specs, self.image_shape)
        self.conv_specs = specs
        self.activation, self.init, self.dtype = activation, init, dtype
        self.feature_map_shapes = tuple(conv for conv, _ in shapes)
        self.pooled_shapes = tuple(pooled for _, pooled in shapes)
        channels = [1] + [spec.filters for spec in specs]
        self.convs = [Conv2D(c, s.filters, s.kernel, s.padding) for c, s in zip(channels, specs)]
        self.pools = [MaxPool2D() if s.pool else None for s in specs]
        self.flatten = Flatten()
        self.n_features = math.prod(self.pooled_shapes[-1])

    @classmethod
    def from_arrays(cls, conv_layers, image_shape, weights, biases, activation="relu", init=None) -> ConvNetwork:
        """A network holding (copies of) the given arrays (used when loading a model file).

        Raises ValueError when the arrays' shapes do not fit the conv specs.
        """
        specs = tuple(s if isinstance(s, ConvSpec) else ConvSpec(*s) for s in conv_layers)
        net = cls.__new__(cls)
        net._set_architecture(specs, image_shape, activation, init or DEFAULT_INIT[activation],
                              np.dtype(weights[0].dtype))
        weights = [np.ascontiguousarray(w) for w in weights]
        biases = [np.ascontiguousarray(b) for b in biases]
        expected = [conv.weight_shape for conv in net.convs]
        if len(weights) <= len(expected) or len(biases) != len(weights):
            raise ValueError(f"expected {len(expected)} conv kernels and at least one dense layer")
        n_in = net.n_features
        for w in weights[len(expected):]:
            expected.append((n_in, w.shape[-1] if w.ndim == 2 else -1))
            n_in = expected[-1][1]
        for number, (w, b, shape) in enumerate(zip(weights, biases, expected), start=1):
            if w.shape != shape or b.shape != (shape[-1],):
                raise ValueError(f"layer {number}: weights {w.shape} and bias {b.shape} do not fit "
                                 f"the architecture (expected {shape} and {(shape[-1],)})")
        net.weights, net.biases = weights, biases
        net._pack()
        return net

    def _pack(self) -> None:
        """All weights, then all biases, in one contiguous array (see ``Network._pack``)."""
        arrays = [*self.weights, *self.biases]
        if any(a.dtype != self.dtype for a in arrays):
            return
        _, views = one_block(arrays, self.dtype)
        self.weights, self.biases = views[: len(self.weights)], views[len(self.weights) :]

    # -- shape ----------------------------------------------------------------
    @property
    def n_conv(self) -> int:
        return len(self.conv_specs)

    @property
    def layer_kinds(self) -> tuple[str, ...]:
        """'conv' or 'dense' for each entry of ``weights``."""
        return ("conv",) * self.n_conv + ("dense",) * (len(self.weights) - self.n_conv)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Inputs, then the numbers out of each weight layer (a conv layer's after pooling)."""
        return (math.prod(self.image_shape), *(math.prod(s) for s in self.pooled_shapes),
                *(w.shape[1] for w in self.weights[self.n_conv :]))

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Widths of the dense hidden layers (between the flatten and the output)."""
        return tuple(w.shape[1] for w in self.weights[self.n_conv : -1])

    @property
    def n_parameters(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    def describe(self) -> str:
        """e.g. '28×28 → conv 8@5×5 relu → max-pool 2×2 → 10 softmax'."""
        parts = ["×".join(map(str, self.image_shape))]
        for spec in self.conv_specs:
            parts.append(f"{spec.describe()} {self.activation}")
            if spec.pool:
                parts.append("max-pool 2×2")
        parts += [f"{n} {self.activation}" for n in self.hidden_sizes]
        parts.append(f"{self.weights[-1].shape[1]} softmax")
        return " → ".join(parts)

    def copy(self, dtype=None) -> ConvNetwork:
        """A deep copy, optionally converted to another float type."""
        dtype = np.dtype(dtype or self.dtype)
        return ConvNetwork.from_arrays(self.conv_specs, self.image_shape,
                                       [w.astype(dtype, copy=True) for w in self.weights],
                                       [b.astype(dtype, copy=True) for b in self.biases],
                                       self.activation, self.init)

    def make_workspace(self) -> ConvWorkspace:
        """Reusable buffers for training steps (see ``ConvWorkspace``)."""
        return ConvWorkspace(self)

    # -- forward --------------------------------------------------------------
    def forward(self, inputs, labels=None, *, record=False, workspace=None) -> ConvForwardPass:
        """Push ``inputs`` (m, H*W) through the network (see ``Network.forward``).

        The flat rows are viewed as (m, H, W, 1) images. With ``workspace`` every
        intermediate array is one of its buffers (overwritten by the next step).
        """
        inputs = np.asarray(inputs)
        n_pixels = math.prod(self.image_shape)
        if inputs.ndim != 2 or inputs.shape[1] != n_pixels:
            raise ValueError(f"expected inputs of shape (m, {n_pixels}), got {inputs.shape}")
        m = len(inputs)
        buffers = workspace.buffers(m) if workspace is not None else None
        activations, pooled, columns = [inputs], [], []
        pre_activations = [] if record else None
        hidden_activation = ACTIVATIONS[self.activation]
        x = inputs.reshape(m, *self.image_shape, 1)
        for layer, (conv, pool) in enumerate(zip(self.convs, self.pools)):
            cols = conv.im2col(x, *(() if buffers is None else (buffers.columns[layer], buffers.padded[layer])))
            z = conv.multiply(cols, self.weights[layer], self.biases[layer], (m, *self.feature_map_shapes[layer][:2]),
                              None if buffers is None else buffers.maps[layer])
            if record:
                pre_activations.append(z.copy())
            a = hidden_activation(z)
            if pool is not None:
                x = pool.forward(a, **({} if buffers is None else dict(out=buffers.pooled[layer],
                                                                       row_max=buffers.row_max[layer])))
            else:
                x = a
            activations.append(a)
            pooled.append(x)
            columns.append(cols)
        a = self.flatten.forward(x)
        last = len(self.weights) - 1
        for layer in range(self.n_conv, last + 1):
            a, loss, n_correct = dense_layer_forward(
                a, self.weights[layer], self.biases[layer],
                None if buffers is None else buffers.dense[layer - self.n_conv], hidden_activation,
                last=layer == last, labels=labels, scratch=None if buffers is None else buffers.scratch,
                pre_activations=pre_activations)
            activations.append(a)
        return ConvForwardPass(activations, pre_activations, loss, n_correct, pooled=pooled, columns=columns)

    def predict_proba(self, inputs) -> np.ndarray:
        """(m, n_classes) class probabilities for float inputs in [0, 1] (in chunks)."""
        inputs = np.asarray(inputs)
        chunk = self.evaluation_batch_size
        if len(inputs) <= chunk:
            return self.forward(inputs).probabilities
        return np.concatenate([self.forward(inputs[start : start + chunk]).probabilities
                               for start in range(0, len(inputs), chunk)])

    def predict(self, inputs) -> np.ndarray:
        """(m,) most likely class of each input."""
        return self.predict_proba(inputs).argmax(axis=1)

    # -- backward -------------------------------------------------------------
    def backward(self, forward: ConvForwardPass, labels, *, input_gradient=False, workspace=None) -> Gradients:
        """Gradients of the mean cross-entropy for the batch of ``forward``.

        Dense layers as in ``Network.backward``; the first dense layer's input error is
        reshaped to the last pooled maps, then each conv block, last to first:

        1. the activation's derivative, applied on the pooled grid: only each block's
           maximum gets a gradient, and there ``a = pooled``, so ``f'`` is known from the
           pooled values alone (4x fewer numbers; exact for these monotone activations);
        2. the max pool routes it to the argmax: ``delta = dJ/dZ`` (m, Ho, Wo, F);
        3. ``dJ/dW = cols.T @ delta``, ``dJ/db``, and unless this is the first layer (or
           ``input_gradient``) ``dJ/dX = col2im(delta @ W.T)``: the previous block's
           pooled-output error.

        input_gradient: also return dJ/dX as (m, H*W) (a saliency map per image).
        """
        activations = forward.activations
        probabilities = activations[-1]
        m = len(probabilities)
        labels = np.asarray(labels)
        n_layers, n_conv = len(self.weights), self.n_conv
        derivative = DERIVATIVES[self.activation]
        buffers = workspace.buffers(m) if workspace is not None else None
        if workspace is not None:
            grad_weights, grad_biases = workspace.grad_weights, workspace.grad_biases
            scratch = buffers.scratch
            delta = buffers.dense_errors[-1]
            np.copyto(delta, probabilities)
        else:
            grad_weights, grad_biases = [None] * n_layers, [None] * n_layers
            scratch = _Scratch(m, probabilities.shape[1], probabilities.dtype)
            delta = probabilities.copy()
        # dJ/dZ[L] = (P - Y) / m, as in Network.backward.
        index = np.multiply(scratch.rows, np.intp(delta.shape[1]), out=scratch.index)
        index += labels
        delta.reshape(-1)[index] -= 1
        delta *= self.dtype.type(1.0 / m)
        features = self.flatten.forward(forward.pooled[-1])
        for layer in range(n_layers - 1, n_conv - 1, -1):
            a_prev = features if layer == n_conv else activations[layer]
            grad_weights[layer] = np.matmul(a_prev.T, delta, out=grad_weights[layer])
            grad_biases[layer] = np.matmul(scratch.ones, delta, out=grad_biases[layer])
            out = None if buffers is None else buffers.dense_errors[layer - n_conv]
            grad_a_prev = np.matmul(delta, self.weights[layer].T, out=out)
            if layer > n_conv:
                derivative(a_prev, grad_a_prev)
            delta = grad_a_prev
        grad_output = self.flatten.backward(delta, forward.pooled[-1].shape)  # dJ/d(pooled maps)
        input_grad = None
        for layer in range(n_conv - 1, -1, -1):
            conv, pool = self.convs[layer], self.pools[layer]
            maps, pooled = activations[layer + 1], forward.pooled[layer]
            derivative(pooled, grad_output)
            if pool is not None:
                grad_output = pool.backward(
                    maps, pooled, grad_output,
                    **({} if buffers is None else dict(out=buffers.grad_maps[layer], row_max=buffers.row_max[layer],
                                                       grad_rows=buffers.grad_rows[layer], mask=buffers.mask[layer],
                                                       row_mask=buffers.row_mask[layer])))
            x_shape = (m, *self.image_shape, 1) if layer == 0 else forward.pooled[layer - 1].shape
            wants_input = layer > 0 or input_gradient
            dx, dw, db = conv.backward(
                grad_output, self.weights[layer], forward.columns[layer], x_shape, input_gradient=wants_input,
                grad_weight=grad_weights[layer], grad_bias=grad_biases[layer],
                **({} if buffers is None else dict(
                    grad_cols=buffers.grad_columns[layer], grad_input=buffers.grad_inputs[layer],
                    ones=buffers.ones_for(layer))))
            grad_weights[layer], grad_biases[layer] = dw, db
            if layer == 0:
                input_grad = None if dx is None else dx.reshape(m, -1)
            else:
                grad_output = dx
        return Gradients(grad_weights, grad_biases, input_grad)

    # A forward then a backward pass, exactly as for a dense network.
    gradients = Network.gradients
    loss = Network.loss


class _ConvBuffers:
    """Every array one training step of a batch of m images needs, allocated once."""

    def __init__(self, network: ConvNetwork, m: int) -> None:
        dtype = network.dtype
        inputs = [(*network.image_shape, 1), *network.pooled_shapes[:-1]]
        self.columns, self.padded, self.maps, self.pooled, self.grad_maps, self.mask = [], [], [], [], [], []
        self.row_max, self.grad_rows, self.row_mask = [], [], []
        self.grad_columns, self.grad_inputs, self._ones = [], [], []
        for conv, pool, in_shape, map_shape, pooled_shape in zip(
                network.convs, network.pools, inputs, network.feature_map_shapes, network.pooled_shapes):
            n_positions = m * map_shape[0] * map_shape[1]
            self.columns.append(np.empty(conv.columns_storage(m, *in_shape[:2]), dtype))
            # zeros: the padding's border is never written.
            self.padded.append(np.zeros(conv.padded_shape((m, *in_shape)), dtype) if conv.pad else None)
            self.maps.append(np.empty((m, *map_shape), dtype))
            self.pooled.append(np.empty((m, *pooled_shape), dtype) if pool else None)
            self.grad_maps.append(np.empty((m, *map_shape), dtype) if pool else None)
            self.mask.append(np.empty((m, *pooled_shape), bool) if pool else None)
            rows_shape = (m, pooled_shape[0], pooled_shape[1] * 2, pooled_shape[2])
            self.row_max.append(np.empty(rows_shape, dtype) if pool else None)
            self.grad_rows.append(np.empty(rows_shape, dtype) if pool else None)
            self.row_mask.append(np.empty(rows_shape, bool) if pool else None)
            # dJ/dX of the first layer is only wanted for saliency maps: allocated then.
            first = not self.grad_columns
            self.grad_columns.append(None if first else np.empty((n_positions, conv.n_rows), dtype))
            self.grad_inputs.append(None if first else np.empty((m, *in_shape), dtype))
            self._ones.append(n_positions)
        dense = network.weights[network.n_conv :]
        self.dense = [np.empty((m, w.shape[1]), dtype) for w in dense]
        # dense_errors[j]: dJ/d(input of dense layer j), then delta[L] (m, n_classes) last.
        self.dense_errors = [np.empty((m, w.shape[0]), dtype) for w in dense]
        self.dense_errors.append(np.empty((m, dense[-1].shape[1]), dtype))
        self.scratch = _Scratch(m, dense[-1].shape[1], dtype)
        self._ones_vector = np.ones(max(self._ones), dtype)

    def ones_for(self, layer: int) -> np.ndarray:
        return self._ones_vector[: self._ones[layer]]


@dataclass
class ConvWorkspace:
    """Reusable arrays for a ConvNetwork's training steps, like ``Workspace`` for Network.

    The gradients are views of one contiguous array (the optimiser's fast path); the
    per-step buffers are kept for the last two batch sizes seen.
    """

    network: ConvNetwork
    grad_weights: list[np.ndarray] = field(init=False)
    grad_biases: list[np.ndarray] = field(init=False)
    _by_batch_size: dict = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        _, views = one_block([*self.network.weights, *self.network.biases], self.network.dtype, copy=False)
        n_layers = len(self.network.weights)
        self.grad_weights, self.grad_biases = views[:n_layers], views[n_layers:]

    def buffers(self, batch_size: int) -> _ConvBuffers:
        found = self._by_batch_size.get(batch_size)
        if found is None:
            if len(self._by_batch_size) >= 2:
                self._by_batch_size.pop(next(iter(self._by_batch_size)))
            found = self._by_batch_size[batch_size] = _ConvBuffers(self.network, batch_size)
        return found

    def scratch(self, batch_size: int) -> _Scratch:
        """Small arrays for the softmax and the loss of a batch of ``batch_size``."""
        return self.buffers(batch_size).scratch
