"""Convolutional layers, from scratch in NumPy: Conv2D and MaxPool2D (``nn.network.ConvNetwork``
builds a Network that starts with them).

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
without copying; one ``copyto`` lays them out: see ``nn.speed.im2col``.)

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

A convolutional network is a ``Network`` of these layers, a ``Flatten`` and dense
layers: ``nn.network.ConvNetwork`` builds one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from .layers import Activation, Layer
from .speed import NO_BUFFERS, add_bias, col2im, columns_storage, im2col, max_pool_2x2, max_pool_2x2_backward, ones

PADDINGS = ("valid", "same")
MAX_FILTERS = 64  # per conv layer, in TrainConfig; the layers themselves take any number
# Largest training batch for a conv network in TrainConfig: the im2col matrix of 1,024 28x28
# images and a 5x5 kernel is 59 MB; full batch on 60,000 images would need 3.5 GB.
MAX_CONV_BATCH = 1024

# The recommended convolutional run, as TrainConfig keyword arguments: two conv blocks,
# conv 16@3x3 -> ReLU -> 2x2 max pool -> conv 32@3x3 -> ReLU -> 2x2 max pool -> 10 softmax
# (28x28 -> 26x26x16 -> 13x13x16 -> 11x11x32 -> 5x5x32 -> 10; 12,810 parameters), Adam at a
# constant rate: the most accurate small network found for the bundled 5,000 images (its
# accuracy, and that of smaller ones, is in the README's Convolution section).
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
class Conv2D(Layer):
    """``filters`` filters of ``kernel x kernel x in_channels``, stride 1, on NHWC batches:
    ``Z = im2col(X) @ W + b``, shape (m, Ho, Wo, filters).

    Its parameters are the kernel ``W`` of shape ``(k, k, in_channels, filters)`` and the
    bias ``b`` of shape ``(filters,)``. ``W.reshape(k*k*in_channels, filters)`` is the
    im2col weight matrix (a free view: the kernel offsets (i, j, c) are its rows in the
    same order as the columns of ``cols``).
    """

    kind = "conv"

    def __init__(self, in_channels: int, filters: int, kernel: int, padding: str = "valid") -> None:
        spec = ConvSpec(filters, kernel, padding)  # validates
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        self.in_channels, self.filters, self.kernel, self.padding = in_channels, spec.filters, spec.kernel, padding
        self.pad = (kernel - 1) // 2 if padding == "same" else 0
        self.parameter_shapes = (self.weight_shape, (self.filters,))
        # He/Xavier: a filter's fan-in is its k*k*C_in inputs.
        self.fan_in, self.fan_out = self.n_rows, kernel * kernel * filters

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.kernel, self.kernel, self.in_channels, self.filters)

    @property
    def n_rows(self) -> int:
        """k*k*in_channels: the rows of the weight matrix (columns of ``cols``)."""
        return self.kernel * self.kernel * self.in_channels

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(Ho, Wo): H - k + 1 for 'valid', H for 'same'."""
        shrink = self.kernel - 1 - 2 * self.pad
        return height - shrink, width - shrink

    def output_shape(self, input_shape: tuple) -> tuple:
        return (*self.output_size(*input_shape[:2]), self.filters)

    def buffers(self, m, input_shape, dtype, *, first):
        height, width, channels = input_shape
        out_h, out_w = self.output_size(height, width)
        return SimpleNamespace(
            columns=np.empty(columns_storage(m, out_h, out_w, self.n_rows, channels), dtype),
            # zeros: the padding's border is never written.
            padded=np.zeros((m, height + 2 * self.pad, width + 2 * self.pad, channels), dtype) if self.pad else None,
            output=np.empty((m, out_h, out_w, self.filters), dtype),
            # dJ/dX of the first layer is only wanted for saliency maps: allocated then.
            grad_columns=None if first else np.empty((m * out_h * out_w, self.n_rows), dtype),
            grad_input=None if first else np.empty((m, *input_shape), dtype))

    def im2col(self, x: np.ndarray) -> np.ndarray:
        """The ``(m*Ho*Wo, k*k*C_in)`` matrix of the input windows of ``x`` (m, H, W, C_in)."""
        return im2col(x, self.kernel, self.pad)

    def forward(self, x, params, buffers=NO_BUFFERS):
        """(Z, cols): cols is the im2col matrix, which the backward pass multiplies again."""
        if x.shape[3] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got {x.shape[3]}")
        weight, bias = params
        m, height, width, _ = x.shape
        cols = im2col(x, self.kernel, self.pad, buffers.columns, buffers.padded)
        out = None if buffers.output is None else buffers.output.reshape(-1, self.filters)
        z = np.matmul(cols, weight.reshape(self.n_rows, self.filters), out=out)
        add_bias(z, bias)
        return z.reshape(m, *self.output_size(height, width), self.filters), cols

    def backward(self, grad_z, x, y, cols, params, grads=(None, None), buffers=NO_BUFFERS, input_gradient=True):
        """With ``delta = dJ/dZ`` as (m*Ho*Wo, F)::

            dJ/dW = cols.T @ delta      dJ/db = 1^T delta      dJ/dX = col2im(delta @ W.T)
        """
        weight, _ = params
        grad_weight, grad_bias = grads
        delta = grad_z.reshape(-1, self.filters)
        if grad_weight is None:
            grad_weight = np.empty(self.weight_shape, delta.dtype)
        np.matmul(cols.T, delta, out=grad_weight.reshape(self.n_rows, self.filters))
        grad_bias = np.matmul(ones(len(delta), delta.dtype), delta, out=grad_bias)
        grad_x = None
        if input_gradient:
            grad_cols = np.matmul(delta, weight.reshape(self.n_rows, self.filters).T, out=buffers.grad_columns)
            grad_x = col2im(grad_cols, x.shape, self.kernel, self.pad, buffers.grad_input)
        return grad_x, (grad_weight, grad_bias)


class MaxPool2D(Layer):
    """2x2 max pooling with stride 2 on NHWC batches: (m, H, W, C) -> (m, H//2, W//2, C).

    Odd sizes are floored: the last row (or column) of an odd-sized map is dropped and
    gets zero gradient, as in PyTorch's ``MaxPool2d(2)``.

    Gradient: ``P = max(a, b, c, d)`` changes only with its largest input, with slope 1,
    so ``dJ/da = dJ/dP`` if ``a`` is the maximum, else 0: backprop routes the pooled
    gradient to the argmax. On a tie the left column wins, then the top row (order:
    top-left, bottom-left, top-right, bottom-right), so exactly one input gets the
    gradient and their sum stays the pooled gradient.
    """

    kind = "pool"

    def output_shape(self, input_shape: tuple) -> tuple:
        height, width, channels = input_shape
        return (height // 2, width // 2, channels)

    def buffers(self, m, input_shape, dtype, *, first):
        height, width, channels = input_shape
        pooled_shape = (m, *self.output_shape(input_shape))
        rows_shape = (m, height // 2, width // 2 * 2, channels)
        return SimpleNamespace(output=np.empty(pooled_shape, dtype), grad_input=np.empty((m, *input_shape), dtype),
                               row_max=np.empty(rows_shape, dtype), grad_rows=np.empty(rows_shape, dtype),
                               mask=np.empty(pooled_shape, bool), row_mask=np.empty(rows_shape, bool))

    def forward(self, x, params=(), buffers=NO_BUFFERS):
        return max_pool_2x2(x, buffers.output, buffers.row_max), None

    def backward(self, grad_pooled, x, pooled, memo, params=(), grads=(), buffers=NO_BUFFERS, input_gradient=True):
        return max_pool_2x2_backward(x, pooled, grad_pooled, out=buffers.grad_input, row_max=buffers.row_max,
                                     grad_rows=buffers.grad_rows, mask=buffers.mask, row_mask=buffers.row_mask), ()


# -- the network -----------------------------------------------------------------------
def conv_block_layers(specs: Sequence[ConvSpec], activation: str, in_channels: int = 1) -> list[Layer]:
    """The layers of conv blocks: Conv2D, its activation, then (``spec.pool``) a MaxPool2D."""
    layers = []
    for spec in specs:
        layers += [Conv2D(in_channels, spec.filters, spec.kernel, spec.padding), Activation(activation)]
        if spec.pool:
            layers.append(MaxPool2D())
        in_channels = spec.filters
    return layers
