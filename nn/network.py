"""The network: layers applied in turn, then the softmax and the loss. From scratch in NumPy.

A ``Network`` is a list of layers (``nn/layers.py``: Dense, Activation, Flatten;
``nn/conv.py``: Conv2D, MaxPool2D). A dense network maps a batch of images to class
probabilities through ``L`` dense layers. With ``A[0] = X`` (shape ``(m, 784)``: m images, one per row)::

    Z[l] = A[l-1] @ W[l] + b[l]          W[l]: (n[l-1], n[l]),  b[l]: (n[l],)
    A[l] = f(Z[l])                       f = relu / leaky_relu / sigmoid / tanh
    A[L] = softmax(Z[L])                 (m, 10): one probability per class

and is trained to minimise the mean cross-entropy ``J = -1/m sum_i log A[L][i, y_i]``.

Backpropagation is the chain rule applied layer by layer, from the output back.
Softmax and cross-entropy together have the famously simple gradient::

    dJ/dZ[L] = (A[L] - Y) / m            Y: one-hot labels, (m, 10)

and for every layer, given ``delta[l] = dJ/dZ[l]`` of shape ``(m, n[l])``::

    dJ/dW[l]     = A[l-1].T @ delta[l]                   (n[l-1], n[l])
    dJ/db[l]     = delta[l].sum(axis=0)                  (n[l],)
    dJ/dA[l-1]   = delta[l] @ W[l].T                     (m, n[l-1])
    delta[l-1]   = dJ/dA[l-1] * f'(Z[l-1])

The last line's first factor, taken at ``l = 1``, is ``dJ/dX``: how much each pixel
of each input image pushes the loss up or down (a 28x28 "saliency" map per image).

Weights are stored as ``(inputs, outputs)`` so a batch is pushed through with one
matrix multiply per layer, ``A @ W``, with examples as rows: this is the layout BLAS
is fastest on and the one the data arrives in.

In code, the forward pass is ``A = layer(A)`` for every layer, the backward pass the
same layers in reverse, each turning ``dJ/d(its output)`` into ``dJ/d(its input)`` and
the gradients of its parameters. A convolutional network is the same class with conv
blocks first (``Network.convolutional``). The faster NumPy these steps call instead of
the obvious one is in ``nn/speed/``.
"""


from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS, DEFAULT_INIT
from .conv import ConvSpec, conv_block_layers, conv_shapes
from .layers import Activation, Dense, Flatten, Layer
from .speed import (
    KeptInputColumns,
    Workspace,
    backward_order,
    one_block,
    output_error,
    softmax,
    softmax_cross_entropy,
    unbuffered,
)

N_INPUTS = 784
N_CLASSES = 10
# A convolutional network's predict_proba/evaluate push at most this many images at once
# (the im2col matrix of 512 28x28 images and a 5x5 kernel is 30 MB).
CONV_EVALUATION_BATCH = 512


@dataclass
class ForwardPass:
    """What one forward pass computed.

    inputs: X as given, (m, n_inputs). layers: the layers it went through.
    outputs: ``[input of the first layer, output of each layer]``; the last entry, the
        logits, was turned into the probabilities in place.
    memos: per layer, what its backward pass needs besides its input and output
        (a conv layer's im2col matrix; None for the others).
    pre_activations: ``[Z[1], ..., Z[L]]`` (each weight layer's output, ``Z[L]`` = the
        logits) when recorded, else None.
    loss: mean cross-entropy when labels were given, else None.
    n_correct: with labels, how many rows' most probable class (first one on a tie,
        like ``argmax``) is the label, else None.
    input_columns: the input columns X holds, if not all (see ``Network.forward``).
    """

    inputs: np.ndarray
    layers: list[Layer]
    outputs: list[np.ndarray]
    memos: list
    pre_activations: list[np.ndarray] | None = None
    loss: float | None = None
    n_correct: int | None = None
    input_columns: np.ndarray | None = None

    @property
    def probabilities(self) -> np.ndarray:
        """(m, n_classes) softmax outputs."""
        return self.outputs[-1]

    @property
    def activations(self) -> list[np.ndarray]:
        """``[X, A[1], ..., A[L]]``: the input, every activation's output (a conv layer's
        maps before pooling, (m, Ho, Wo, F)), and the probabilities."""
        hidden = [self.outputs[i + 1] for i, layer in enumerate(self.layers) if layer.kind == "activation"]
        return [self.inputs, *hidden, self.outputs[-1]]

    @property
    def pooled(self) -> list[np.ndarray]:
        """Per conv block, what it hands on (after the pool, if it has one): the input of
        the next conv layer, or of the flatten. Empty for a dense network."""
        return [self.outputs[i] for i, layer in enumerate(self.layers) if i and layer.kind in ("conv", "flatten")]

    @property
    def columns(self) -> list[np.ndarray]:
        """Per conv layer, the im2col matrix it multiplied."""
        return [memo for memo, layer in zip(self.memos, self.layers) if layer.kind == "conv"]


@dataclass
class Gradients:
    """dJ/dW[l] and dJ/db[l] for every weight layer, and dJ/dX (m, n_inputs) when asked for.

    layer_outputs: when recorded, ``dJ/d(output of layer i)`` for every layer ``i`` (copies):
        for a dense network ``[dJ/dZ[1], dJ/dA[1], ..., dJ/dZ[L]]``, the last being
        ``(P - Y) / m``.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    inputs: np.ndarray | None = None
    layer_outputs: list[np.ndarray] | None = None


def dense_layers(layer_sizes: Sequence[int], activation: str) -> list[Layer]:
    """Dense layers of these widths, each but the last followed by the activation."""
    layers = []
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        layers += [Dense(n_in, n_out), Activation(activation)]
    return layers[:-1]


class Network:
    """A classifier: layers applied in turn, then a softmax over ``layer_sizes[-1]`` classes.

    ``Network(layer_sizes)`` is a dense network; ``Network.convolutional(...)`` starts
    with conv blocks. Parameters: ``weights`` and ``biases``, one of each per weight
    layer, all views of one contiguous array.

    >>> net = Network([784, 128, 10], activation="relu", seed=0)
    >>> net.hidden_sizes
    (128,)
    >>> [layer.kind for layer in net.layers]
    ['dense', 'activation', 'dense']
    """

    def __init__(self, layer_sizes=(N_INPUTS, 10, N_CLASSES), activation: str = "relu", *,
                 init: str | None = None, seed: int | None = 0, dtype=np.float32) -> None:
        layer_sizes = tuple(int(n) for n in layer_sizes)
        if len(layer_sizes) < 2 or min(layer_sizes) < 1:
            raise ValueError(f"layer sizes must be at least two positive numbers, got {layer_sizes}")
        _check_activation(activation, init)
        self._assemble(dense_layers(layer_sizes, activation), (layer_sizes[0],), activation, init, dtype)
        self._initialise(seed)

    @classmethod
    def convolutional(cls, conv_layers: Sequence[ConvSpec], hidden_sizes=(), n_classes: int = N_CLASSES,
                      image_shape=(28, 28), activation: str = "relu", *, init: str | None = None,
                      seed: int | None = 0, dtype=np.float32) -> Network:
        """Conv blocks (conv -> activation -> optional 2x2 max pool) on ``image_shape``
        images, a flatten, dense hidden layers and the softmax output."""
        specs = tuple(s if isinstance(s, ConvSpec) else ConvSpec(*s) for s in conv_layers)
        if not specs:
            raise ValueError("a convolutional network needs at least one conv layer (use Network otherwise)")
        hidden_sizes = tuple(int(n) for n in hidden_sizes)
        if any(n < 1 for n in hidden_sizes) or n_classes < 1:
            raise ValueError(f"layer widths must be positive, got {hidden_sizes} and {n_classes} classes")
        _check_activation(activation, init)
        net = cls.__new__(cls)
        net._assemble(_conv_layers(specs, image_shape, activation, (*hidden_sizes, int(n_classes))),
                      (*_image_shape(image_shape), 1), activation, init, dtype)
        net._initialise(seed)
        return net

    @classmethod
    def from_arrays(cls, weights, biases, activation="relu", init=None, *, conv_specs=(),
                    image_shape=(28, 28)) -> Network:
        """A network holding (copies of) the given arrays (used when loading a model file).

        conv_specs: the conv blocks the first weights belong to (none: a dense network).
        Raises ValueError when the arrays' shapes do not fit them.
        """
        weights = [np.ascontiguousarray(w) for w in weights]
        biases = [np.ascontiguousarray(b) for b in biases]
        specs = tuple(s if isinstance(s, ConvSpec) else ConvSpec(*s) for s in conv_specs)
        dense = weights[len(specs) :]
        sizes = [w.shape[1] for w in dense if w.ndim == 2]
        if specs:
            if not dense or len(biases) != len(weights):
                raise ValueError(f"expected {len(specs)} conv kernels and at least one dense layer")
            layers, input_shape = _conv_layers(specs, image_shape, activation, sizes), (*_image_shape(image_shape), 1)
        else:
            layers, input_shape = dense_layers((weights[0].shape[0], *sizes), activation), (weights[0].shape[0],)
        net = cls.__new__(cls)
        net._assemble(layers, input_shape, activation, init, weights[0].dtype)
        expected = [net.layers[i].parameter_shapes for i in net.weight_indices]
        if len(expected) != len(weights) or len(biases) != len(weights):
            raise ValueError(f"expected {len(expected)} weight and bias arrays, got {len(weights)} and {len(biases)}")
        for number, (w, b, (w_shape, b_shape)) in enumerate(zip(weights, biases, expected), start=1):
            if w.shape != w_shape or b.shape != b_shape:
                raise ValueError(f"layer {number}: weights {w.shape} and bias {b.shape} do not fit "
                                 f"the architecture (expected {w_shape} and {b_shape})")
        net.weights, net.biases = weights, biases
        net._pack()
        return net

    def _assemble(self, layers: list[Layer], input_shape: tuple, activation: str, init: str | None, dtype) -> None:
        """Take ``layers`` for inputs of ``input_shape`` (one example's); no parameters yet."""
        self.layers, self.input_shape = layers, tuple(input_shape)
        self.activation, self.init, self.dtype = activation, init or DEFAULT_INIT[activation], np.dtype(dtype)
        self.input_shapes = [self.input_shape]  # of each layer's input, then of the output
        for layer in layers:
            self.input_shapes.append(layer.output_shape(self.input_shapes[-1]))
        self.weight_indices = [i for i, layer in enumerate(layers) if layer.parameter_shapes]
        # Inputs, then the numbers out of each weight layer (what the next one reads).
        ends = [self.input_shapes[i] for i in self.weight_indices[1:]] + [self.input_shapes[-1]]
        self._layer_sizes = tuple(math.prod(shape) for shape in (self.input_shape, *ends))
        self.backward_order = backward_order(layers)
        kinds = [layer.kind for layer in layers]
        self.conv_specs = tuple(
            ConvSpec(layer.filters, layer.kernel, layer.padding, "pool" in kinds[i + 1 : i + 3])
            for i, layer in enumerate(layers) if layer.kind == "conv")

    def _initialise(self, seed: int | None) -> None:
        """Random weights and zero biases, then ``_pack``.

        He: Var(w) = 2 / fan_in keeps ReLU activations from shrinking or growing layer by
        layer; Xavier: 2 / (fan_in + fan_out) does the same for tanh/sigmoid. Drawn in
        float64 then cast, so float32 and float64 nets share one seed's numbers.
        """
        rng = np.random.default_rng(seed)
        self.weights, self.biases = [], []
        for i in self.weight_indices:
            layer = self.layers[i]
            variance = 2.0 / layer.fan_in if self.init == "he" else 2.0 / (layer.fan_in + layer.fan_out)
            weight_shape, bias_shape = layer.parameter_shapes
            self.weights.append(rng.normal(0.0, np.sqrt(variance), size=weight_shape).astype(self.dtype))
            self.biases.append(np.zeros(bias_shape, dtype=self.dtype))
        self._pack()

    def _pack(self) -> None:
        """Move all weights, then all biases, into one contiguous array; keep views of it
        (``nn.speed.one_block``: an optimiser step is then one NumPy call per operation)."""
        arrays = [*self.weights, *self.biases]
        if any(a.dtype != self.dtype for a in arrays):
            return  # mixed float types cannot share one array; everything still works
        _, views = one_block(arrays, self.dtype)
        self.weights, self.biases = views[: len(self.weights)], views[len(self.weights) :]

    def layer_parameters(self) -> list[tuple]:
        """Per layer, its parameters: ``(W, b)`` for a weight layer, ``()`` otherwise."""
        params = [()] * len(self.layers)
        for i, w, b in zip(self.weight_indices, self.weights, self.biases):
            params[i] = w, b
        return params

    # -- shape ----------------------------------------------------------------
    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Inputs, then the numbers out of each weight layer (a conv layer's after pooling)."""
        return self._layer_sizes

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Widths of the dense hidden layers."""
        return tuple(layer.n_outputs for layer in self.layers if layer.kind == "dense")[:-1]

    @property
    def n_parameters(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    @property
    def layer_kinds(self) -> tuple[str, ...]:
        """'conv' or 'dense' for each entry of ``weights``."""
        return tuple(self.layers[i].kind for i in self.weight_indices)

    @property
    def image_shape(self) -> tuple[int, int] | None:
        """(height, width) of the images a convolutional network reads; None for a dense one."""
        return self.input_shape[:2] if self.conv_specs else None

    @property
    def feature_map_shapes(self) -> tuple[tuple[int, int, int], ...]:
        """(Ho, Wo, F) of each conv layer's maps, before pooling."""
        return tuple(conv for conv, _ in conv_shapes(self.conv_specs, self.image_shape or ()))

    @property
    def pooled_shapes(self) -> tuple[tuple[int, int, int], ...]:
        """(Hp, Wp, F) of what each conv block hands on, after its pool (if any)."""
        return tuple(pooled for _, pooled in conv_shapes(self.conv_specs, self.image_shape or ()))

    @property
    def evaluation_batch_size(self) -> int | None:
        """The most images ``predict_proba`` pushes at once (None: no limit)."""
        return CONV_EVALUATION_BATCH if self.conv_specs else None

    def describe(self) -> str:
        """e.g. '784 → 128 relu → 10 softmax' or '28×28 → conv 8@5×5 relu → max-pool 2×2 → 10 softmax'."""
        parts = ["×".join(map(str, self.image_shape)) if self.conv_specs else str(self.layer_sizes[0])]
        specs = iter(self.conv_specs)
        for layer in self.layers:
            if layer.kind == "conv":
                parts.append(next(specs).describe())
            elif layer.kind == "dense":
                parts.append(str(layer.n_outputs))
            elif layer.kind == "activation":
                parts[-1] += f" {layer.name}"
            elif layer.kind == "pool":
                parts.append("max-pool 2×2")
        parts[-1] += " softmax"
        return " → ".join(parts)

    def copy(self, dtype=None) -> Network:
        """A deep copy, optionally converted to another float type."""
        dtype = np.dtype(dtype or self.dtype)
        return Network.from_arrays([w.astype(dtype, copy=True) for w in self.weights],
                                   [b.astype(dtype, copy=True) for b in self.biases], self.activation, self.init,
                                   conv_specs=self.conv_specs, image_shape=self.image_shape or (28, 28))

    def make_workspace(self) -> Workspace:
        """Reusable buffers for training steps (``nn.speed.Workspace``)."""
        return Workspace(self)

    # -- forward --------------------------------------------------------------
    def forward(self, inputs, labels=None, *, record=False, workspace=None, input_columns=None) -> ForwardPass:
        """Push ``inputs`` (m, n_inputs) through the network: ``A = layer(A)`` for every
        layer, then ``P = softmax(Z[L])``.

        labels: (m,) integer classes; when given, the mean cross-entropy is computed
            from the logits with the log-sum-exp trick (exact even when a
            probability underflows to 0).
        record: also keep each weight layer's output ``Z[l]`` (pre-activations).
        workspace: reuse its arrays instead of allocating (training hot path); the
            result then aliases them and is overwritten by the next step.
        input_columns: (k,) increasing indices; ``inputs`` is then (m, k) and holds only
            these input columns, every other input being 0 in every row (dense networks:
            see ``nn.speed.KeptInputColumns``). ``backward`` then returns a gradient of
            exactly 0 for the rows of ``W[1]`` left out.
        """
        inputs = np.asarray(inputs)
        n_inputs = self._layer_sizes[0] if input_columns is None else len(input_columns)
        if inputs.ndim != 2 or inputs.shape[1] != n_inputs:
            raise ValueError(f"expected inputs of shape (m, {n_inputs}), got {inputs.shape}")
        m = len(inputs)
        buffers = unbuffered(len(self.layers)) if workspace is None else workspace.buffers(m)
        layers = self.layers
        if input_columns is not None:
            kept_arrays = None if workspace is None else workspace.kept_columns()
            layers = [KeptInputColumns(layers[0], input_columns, kept_arrays), *layers[1:]]
        a = inputs.reshape(m, *self.input_shape) if len(self.input_shape) > 1 else inputs
        outputs, memos = [a], []
        pre_activations = [] if record else None
        for layer, params, layer_buffers in zip(layers, self.layer_parameters(), buffers.layers):
            a, memo = layer.forward(a, params, layer_buffers)
            if record and params:
                pre_activations.append(a.copy())
            outputs.append(a)
            memos.append(memo)
        loss = n_correct = None
        if labels is None:
            softmax(a)
        else:
            _, loss, n_correct = softmax_cross_entropy(a, np.asarray(labels), buffers.scratch)
        return ForwardPass(inputs, layers, outputs, memos, pre_activations, loss, n_correct, input_columns)

    def predict_proba(self, inputs) -> np.ndarray:
        """(m, n_classes) class probabilities for float inputs in [0, 1] (in chunks of
        ``evaluation_batch_size``)."""
        inputs = np.asarray(inputs)
        chunk = self.evaluation_batch_size
        if chunk is None or len(inputs) <= chunk:
            return self.forward(inputs).probabilities
        return np.concatenate([self.forward(inputs[start : start + chunk]).probabilities
                               for start in range(0, len(inputs), chunk)])

    def predict(self, inputs) -> np.ndarray:
        """(m,) most likely class of each input."""
        return self.predict_proba(inputs).argmax(axis=1)

    # -- backward -------------------------------------------------------------
    def backward(self, forward: ForwardPass, labels, *, input_gradient=False, workspace=None,
                 record=False) -> Gradients:
        """Gradients of the mean cross-entropy for the batch of ``forward``:
        ``delta[L] = (P - Y) / m``, then every layer from the last to the first turns
        ``dJ/d(its output)`` into ``dJ/d(its input)`` and its parameters' gradients.

        labels: (m,) integer classes of that batch.
        input_gradient: also return dJ/dX, shape (m, n_inputs) (a saliency map per image).
        workspace: write into its arrays; the returned Gradients then alias them
            and are overwritten by the next step.
        record: also keep a copy of ``dJ/d(output of each layer)`` (``Gradients.layer_outputs``;
            dense networks only: a conv network fuses an activation with its pool, see
            ``nn.speed.backward_order``, so some of these are never computed).
        """
        if record and self.conv_specs:
            raise ValueError("backward(record=True) records dense networks only")
        probabilities = forward.probabilities
        m = len(probabilities)
        buffers = unbuffered(len(self.layers)) if workspace is None else workspace.buffers(m)
        params, grads = self.layer_parameters(), self._gradient_arrays(workspace)
        grad = output_error(probabilities, np.asarray(labels), buffers.delta, buffers.scratch)
        recorded = [None] * len(self.layers) if record else None
        for index, reads in self.backward_order:  # the last layer first (see nn.speed.backward_order)
            if record:  # a copy: an activation's backward turns dJ/dA into dJ/dZ in place
                recorded[index] = grad.copy()
            grad, grads[index] = forward.layers[index].backward(
                grad, forward.outputs[index], forward.outputs[reads], forward.memos[index], params[index],
                grads[index], buffers.layers[index], input_gradient=index > 0 or input_gradient)
        weights, biases = zip(*(grads[i] for i in self.weight_indices))
        return Gradients(list(weights), list(biases), None if grad is None else grad.reshape(m, -1), recorded)

    def _gradient_arrays(self, workspace) -> list[tuple]:
        """Per layer, where its parameters' gradients go: ``(dW, db)`` of the workspace
        (views of one array), ``(None, None)`` (new arrays), or ``()`` (no parameters)."""
        grads = [()] * len(self.layers)
        for j, i in enumerate(self.weight_indices):
            grads[i] = (None, None) if workspace is None else (workspace.grad_weights[j], workspace.grad_biases[j])
        return grads

    def gradients(self, inputs, labels, *, input_gradient=False) -> tuple[float, Gradients]:
        """(loss, gradients) for one batch: a forward then a backward pass."""
        forward = self.forward(inputs, labels)
        return forward.loss, self.backward(forward, labels, input_gradient=input_gradient)

    def loss(self, inputs, labels) -> float:
        """Mean cross-entropy on a batch."""
        return self.forward(inputs, labels).loss


def _check_activation(activation: str, init: str | None) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    if (init or DEFAULT_INIT[activation]) not in ("he", "xavier"):
        raise ValueError(f"unknown initialisation {init!r}; choose 'he' or 'xavier'")


def _image_shape(image_shape) -> tuple[int, int]:
    shape = tuple(int(n) for n in image_shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"image_shape must be (height, width), got {image_shape}")
    return shape


def _conv_layers(specs, image_shape, activation: str, dense_sizes) -> list[Layer]:
    """Conv blocks, a flatten, then dense layers of ``dense_sizes`` (the last: the classes)."""
    shapes = conv_shapes(specs, _image_shape(image_shape))  # raises when a kernel does not fit
    n_features = math.prod(shapes[-1][1])
    return [*conv_block_layers(specs, activation), Flatten(), *dense_layers((n_features, *dense_sizes), activation)]


def ConvNetwork(conv_layers: Sequence[ConvSpec], hidden_sizes=(), n_classes: int = 10, image_shape=(28, 28),
                activation: str = "relu", *, init: str | None = None, seed: int | None = 0, dtype=np.float32):
    """A ``Network`` of conv blocks (conv -> activation -> optional 2x2 max pool), a
    flatten, dense hidden layers and the softmax output (see ``Network.convolutional``).

    >>> net = ConvNetwork([ConvSpec(8, 5)], seed=0)
    >>> net.describe()
    '28×28 → conv 8@5×5 relu → max-pool 2×2 → 10 softmax'
    >>> [w.shape for w in net.weights]
    [(5, 5, 1, 8), (1152, 10)]
    """
    return Network.convolutional(conv_layers, hidden_sizes, n_classes, image_shape, activation,
                                 init=init, seed=seed, dtype=dtype)
