"""A fully connected feedforward network, from scratch in NumPy.

The network maps a batch of images to class probabilities through ``L`` dense
layers. With ``A[0] = X`` (shape ``(m, 784)``: m images, one per row)::

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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .activations import ACTIVATIONS, DEFAULT_INIT, DERIVATIVES, softmax

N_INPUTS = 784
N_CLASSES = 10


@dataclass
class ForwardPass:
    """What one forward pass computed.

    activations: ``[X, A[1], ..., A[L]]``; the last entry holds the probabilities.
    pre_activations: ``[Z[1], ..., Z[L]]`` (``Z[L]`` = the logits) when recorded, else None.
    loss: mean cross-entropy when labels were given, else None.
    n_correct: with labels, how many rows' most probable class (first one on a tie,
        like ``argmax``) is the label, else None.
    """

    activations: list[np.ndarray]
    pre_activations: list[np.ndarray] | None = None
    loss: float | None = None
    n_correct: int | None = None  # rows whose most probable class is the label (with labels)
    input_columns: np.ndarray | None = None  # the inputs X holds, if not all (see Network.forward)

    @property
    def probabilities(self) -> np.ndarray:
        """(m, n_classes) softmax outputs."""
        return self.activations[-1]


@dataclass
class Gradients:
    """dJ/dW[l] and dJ/db[l] for every layer, and dJ/dX when it was asked for."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    inputs: np.ndarray | None = None


def one_block(arrays, dtype, *, copy=True) -> tuple[np.ndarray, list[np.ndarray]]:
    """One contiguous 1-D array with room for ``arrays``, and views of it shaped like them.

    copy: fill the views with the arrays' values (else the block is uninitialised).
    """
    block = np.empty(sum(a.size for a in arrays), dtype)
    views, start = [], 0
    for a in arrays:
        view = block[start : start + a.size].reshape(a.shape)
        if copy:
            view[...] = a
        views.append(view)
        start += a.size
    return block, views


def joined(arrays) -> np.ndarray | None:
    """The contiguous 1-D array that ``arrays`` are consecutive views of, from its first
    element to its last, or None if they are not."""
    block = arrays[0].base if arrays else None
    if block is None or block.ndim != 1 or not block.flags.c_contiguous:
        return None
    address = block.__array_interface__["data"][0]
    for a in arrays:
        if a.base is not block or a.dtype != block.dtype or not a.flags.c_contiguous or \
                a.__array_interface__["data"][0] != address:
            return None
        address += a.nbytes
    return block if address == block.__array_interface__["data"][0] + block.nbytes else None


@dataclass
class Workspace:
    """Reusable arrays for training steps, so a step allocates (almost) nothing.

    Allocating fresh arrays each step costs little per array but adds up over
    thousands of steps; the buffers for the last two batch sizes seen are kept
    (an epoch's final batch is usually smaller).
    """

    network: Network
    grad_weights: list[np.ndarray] = field(init=False)
    grad_biases: list[np.ndarray] = field(init=False)
    _by_batch_size: dict = field(init=False, default_factory=dict)
    _first_layer: tuple | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        # One contiguous array for all gradients, like the network's parameters.
        _, views = one_block([*self.network.weights, *self.network.biases], self.network.dtype,
                             copy=False)
        n_layers = len(self.network.weights)
        self.grad_weights, self.grad_biases = views[:n_layers], views[n_layers:]

    def buffers(self, batch_size: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(layer outputs, back-propagated errors) for a batch of ``batch_size``."""
        return self._for_batch_size(batch_size)[:2]

    def scratch(self, batch_size: int) -> _Scratch:
        """Small arrays for the softmax and the loss of a batch of ``batch_size``."""
        return self._for_batch_size(batch_size)[2]

    def first_layer(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Arrays for batches that hold only some input columns (``input_columns``):
        (rows of W[1], their gradient after a row of zeros, the row of each input in
        that gradient, 1 .. n_inputs)."""
        if self._first_layer is None:
            n_inputs, n_units = self.network.weights[0].shape
            dtype = self.network.dtype
            self._first_layer = (np.empty((n_inputs, n_units), dtype), np.zeros((n_inputs + 1, n_units), dtype),
                                 np.empty(n_inputs, np.intp), np.arange(1, n_inputs + 1, dtype=np.intp))
        return self._first_layer

    def _for_batch_size(self, batch_size: int) -> tuple:
        found = self._by_batch_size.get(batch_size)
        if found is None:
            if len(self._by_batch_size) >= 2:
                self._by_batch_size.pop(next(iter(self._by_batch_size)))
            dtype = self.network.dtype
            outputs = [np.empty((batch_size, w.shape[1]), dtype) for w in self.network.weights]
            # errors[l] holds dJ/dA[l] for the hidden layers (l = 1 .. L-1) and delta[L].
            errors = [np.empty((batch_size, w.shape[0]), dtype) for w in self.network.weights[1:]]
            errors.append(np.empty((batch_size, self.network.weights[-1].shape[1]), dtype))
            scratch = _Scratch(batch_size, self.network.weights[-1].shape[1], dtype)
            found = self._by_batch_size[batch_size] = (outputs, errors, scratch)
        return found


class _Scratch:
    """Arrays the softmax, the loss and the output error need for a batch of m rows."""

    def __init__(self, m: int, n_classes: int, dtype) -> None:
        self.columns = np.empty((n_classes, m), dtype)  # the logits, transposed
        self.row_max = np.empty(m, dtype)
        self.sums = np.empty(m, dtype)
        self.true_logit = np.empty(m, dtype)  # shifted logit of each row's label
        self.index = np.empty(m, np.intp)
        self.m = np.intp(m)
        self.rows = np.arange(m, dtype=np.intp)
        self.row_starts = self.rows * np.intp(n_classes)  # flat index of each row's first class
        self.ones = np.ones(m, dtype)


class Network:
    """A dense feedforward classifier: ``layer_sizes[0]`` inputs, ``layer_sizes[-1]`` classes.

    >>> net = Network([784, 128, 10], activation="relu", seed=0)
    >>> net.hidden_sizes
    (128,)
    """

    is_convolutional = False  # ConvNetwork (nn/conv.py) says True
    conv_specs: tuple = ()  # the conv blocks before the dense layers: none

    def __init__(
        self,
        layer_sizes=(N_INPUTS, 10, N_CLASSES),
        activation: str = "relu",
        *,
        init: str | None = None,
        seed: int | None = 0,
        dtype=np.float32,
    ) -> None:
        layer_sizes = tuple(int(n) for n in layer_sizes)
        if len(layer_sizes) < 2 or min(layer_sizes) < 1:
            raise ValueError(f"layer sizes must be at least two positive numbers, got {layer_sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        init = init or DEFAULT_INIT[activation]
        if init not in ("he", "xavier"):
            raise ValueError(f"unknown initialisation {init!r}; choose 'he' or 'xavier'")
        self.activation = activation
        self.init = init
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
            # He: Var(w) = 2 / fan_in keeps ReLU activations from shrinking or growing
            # layer by layer; Xavier: 2 / (fan_in + fan_out) does the same for tanh/sigmoid.
            variance = 2.0 / fan_in if init == "he" else 2.0 / (fan_in + fan_out)
            # Drawn in float64 then cast, so float32 and float64 nets share one seed's numbers.
            w = rng.normal(0.0, np.sqrt(variance), size=(fan_in, fan_out))
            self.weights.append(w.astype(self.dtype))
            self.biases.append(np.zeros(fan_out, dtype=self.dtype))
        self._pack()

    @classmethod
    def from_arrays(cls, weights, biases, activation="relu", init=None) -> Network:
        """A network holding (copies of) the given arrays (used when loading a model file)."""
        weights = [np.ascontiguousarray(w) for w in weights]
        biases = [np.ascontiguousarray(b) for b in biases]
        net = cls.__new__(cls)
        net.activation = activation
        net.init = init or DEFAULT_INIT[activation]
        net.dtype = weights[0].dtype
        net.weights, net.biases = weights, biases
        net._pack()
        return net

    def _pack(self) -> None:
        """Move all weights, then all biases, into one contiguous array; keep views of it.

        Speed: an optimiser then updates every parameter with one NumPy call per
        operation instead of one per array (see ``Optimizer.step``). The lists still
        hold one (n_in, n_out) weight and one (n_out,) bias array per layer, as views.
        """
        arrays = [*self.weights, *self.biases]
        if any(a.dtype != self.dtype for a in arrays):
            return  # mixed float types cannot share one array; everything still works
        _, views = one_block(arrays, self.dtype)
        self.weights, self.biases = views[: len(self.weights)], views[len(self.weights) :]

    # -- shape ----------------------------------------------------------------
    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.weights[0].shape[0],) + tuple(w.shape[1] for w in self.weights)

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return self.layer_sizes[1:-1]

    @property
    def n_parameters(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    def describe(self) -> str:
        """e.g. '784 → 128 relu → 10 softmax'."""
        sizes = self.layer_sizes
        hidden = " → ".join(f"{n} {self.activation}" for n in sizes[1:-1])
        return " → ".join(filter(None, [str(sizes[0]), hidden, f"{sizes[-1]} softmax"]))

    def copy(self, dtype=None) -> Network:
        """A deep copy, optionally converted to another float type."""
        dtype = np.dtype(dtype or self.dtype)
        return Network.from_arrays(
            [w.astype(dtype, copy=True) for w in self.weights],
            [b.astype(dtype, copy=True) for b in self.biases],
            self.activation,
            self.init,
        )

    def make_workspace(self) -> Workspace:
        """Reusable buffers for training steps (the trainer asks every network for its own)."""
        return Workspace(self)

    # -- forward --------------------------------------------------------------
    def forward(self, inputs, labels=None, *, record=False, workspace=None, input_columns=None) -> ForwardPass:
        """Push ``inputs`` (m, n_inputs) through the network.

        labels: (m,) integer classes; when given, the mean cross-entropy is computed
            from the logits with the log-sum-exp trick (exact even when a
            probability underflows to 0).
        record: also keep each layer's pre-activations ``Z[l]``.
        workspace: reuse its arrays instead of allocating (training hot path).
        input_columns: (k,) increasing indices; ``inputs`` is then (m, k) and holds only
            these input columns, every other input being 0 in every row. A 0 input adds
            ``0 * w = 0`` to ``Z[1]`` (w finite), so only the k matching rows of ``W[1]`` are used:
            the same sums over fewer terms (a third fewer for a batch of 128 MNIST digits,
            whose borders are blank). Used by the trainer; ``backward`` then returns a
            gradient of exactly 0 for the rows of ``W[1]`` left out.
        """
        inputs = np.asarray(inputs)
        n_inputs = self.weights[0].shape[0] if input_columns is None else len(input_columns)
        if inputs.ndim != 2 or inputs.shape[1] != n_inputs:
            raise ValueError(f"expected inputs of shape (m, {n_inputs}), got {inputs.shape}")
        outputs, _, scratch = workspace._for_batch_size(len(inputs)) if workspace is not None \
            else (None, None, None)
        activations = [inputs]
        pre_activations = [] if record else None
        hidden_activation = ACTIVATIONS[self.activation]
        last = len(self.weights) - 1
        a = inputs
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            if layer == 0 and input_columns is not None:
                kept = None if workspace is None else workspace.first_layer()[0][:n_inputs]
                w = w.take(input_columns, axis=0, out=kept, mode="clip")  # the rows of the inputs kept
            a, loss, n_correct = dense_layer_forward(
                a, w, b, None if outputs is None else outputs[layer], hidden_activation,
                last=layer == last, labels=labels, scratch=scratch, pre_activations=pre_activations)
            activations.append(a)
        return ForwardPass(activations, pre_activations, loss, n_correct, input_columns)

    def predict_proba(self, inputs) -> np.ndarray:
        """(m, n_classes) class probabilities for float inputs in [0, 1]."""
        return self.forward(inputs).probabilities

    def predict(self, inputs) -> np.ndarray:
        """(m,) most likely class of each input."""
        return self.predict_proba(inputs).argmax(axis=1)

    # -- backward -------------------------------------------------------------
    def backward(
        self, forward: ForwardPass, labels, *, input_gradient=False, workspace=None
    ) -> Gradients:
        """Gradients of the mean cross-entropy for the batch of ``forward``.

        labels: (m,) integer classes of that batch.
        input_gradient: also return dJ/dX, shape (m, n_inputs).
        workspace: write into its arrays; the returned Gradients then alias them
            and are overwritten by the next step.
        """
        activations = forward.activations
        probabilities = activations[-1]
        m = len(probabilities)
        labels = np.asarray(labels)
        n_layers = len(self.weights)
        derivative = DERIVATIVES[self.activation]
        if workspace is not None:
            _, errors, scratch = workspace._for_batch_size(m)
            grad_weights, grad_biases = workspace.grad_weights, workspace.grad_biases
            delta = errors[-1]
            np.copyto(delta, probabilities)
        else:
            errors = [None] * n_layers
            scratch = _Scratch(m, probabilities.shape[1], probabilities.dtype)
            grad_weights = [None] * n_layers
            grad_biases = [None] * n_layers
            delta = probabilities.copy()
        # Softmax + cross-entropy: dJ/dZ[L] = (P - Y) / m, without building Y:
        # subtract 1 at (i, y_i), addressed in the flattened array as i * k + y_i.
        index = np.add(scratch.row_starts, labels, out=scratch.index)
        flat = delta.reshape(-1)
        flat[index] -= 1
        delta *= self.dtype.type(1.0 / m)
        input_grad = None
        columns = forward.input_columns
        if columns is not None and input_gradient:
            raise ValueError("dJ/dX needs every input column: run forward without input_columns")
        for layer in range(n_layers - 1, -1, -1):
            a_prev = activations[layer]
            if layer == 0 and columns is not None:
                _first_layer_gradient(a_prev, delta, columns, self.weights[0], grad_weights, workspace)
            else:
                grad_weights[layer] = np.matmul(a_prev.T, delta, out=grad_weights[layer])
            # dJ/db = 1^T delta: a BLAS matrix-vector product, far faster than NumPy's
            # row-by-row sum(axis=0) when rows are short (10 classes).
            grad_biases[layer] = np.matmul(scratch.ones, delta, out=grad_biases[layer])
            if layer == 0 and not input_gradient:
                break
            out = errors[layer - 1] if (workspace is not None and layer > 0) else None
            grad_a_prev = np.matmul(delta, self.weights[layer].T, out=out)
            if layer == 0:
                input_grad = grad_a_prev
            else:
                derivative(a_prev, grad_a_prev)
                delta = grad_a_prev
        return Gradients(grad_weights, grad_biases, input_grad)

    def gradients(self, inputs, labels, *, input_gradient=False) -> tuple[float, Gradients]:
        """(loss, gradients) for one batch: a forward then a backward pass."""
        forward = self.forward(inputs, labels)
        return forward.loss, self.backward(forward, labels, input_gradient=input_gradient)

    def loss(self, inputs, labels) -> float:
        """Mean cross-entropy on a batch."""
        return self.forward(inputs, labels).loss


def dense_layer_forward(inputs, weights, biases, out, hidden_activation, *, last: bool,
                        labels=None, scratch=None, pre_activations=None):
    """One dense layer: ``Z = A W + b`` (written into ``out`` when given), then the hidden
    activation, or for the ``last`` layer the softmax (with the mean cross-entropy when
    ``labels`` are given). Returns ``(A, loss, n_correct)``; loss and n_correct are None
    unless computed. ``pre_activations``, a list, receives a copy of ``Z``.
    (Shared by ``Network.forward`` and the dense part of ``ConvNetwork.forward``.)
    """
    z = np.matmul(inputs, weights, out=out)
    _add_bias(z, biases)
    if pre_activations is not None:
        pre_activations.append(z.copy())
    if not last:
        return hidden_activation(z), None, None
    if labels is None:
        return softmax(z), None, None
    scratch = scratch or _Scratch(len(z), z.shape[1], z.dtype)
    return _softmax_cross_entropy(z, np.asarray(labels), scratch)


def _first_layer_gradient(inputs, delta, columns, first_weights, grad_weights, workspace) -> None:
    """dJ/dW[1] when ``inputs`` (m, k) holds only the input ``columns``: ``inputs.T @ delta``
    for those rows of W[1], exactly 0 for the others (their inputs were all 0)."""
    if workspace is None:
        grad = np.zeros(first_weights.shape, first_weights.dtype)
        grad[columns] = inputs.T @ delta
        grad_weights[0] = grad
        return
    _, kept_grad, row_of_input, counting = workspace.first_layer()
    k = len(columns)
    np.matmul(inputs.T, delta, out=kept_grad[1 : k + 1])
    row_of_input.fill(0)  # kept_grad[0] is all zeros: the gradient of every column left out
    row_of_input[columns] = counting[:k]
    # Speed: one row gather fills every row of the gradient (2x faster than zeroing, then scattering).
    kept_grad.take(row_of_input, axis=0, out=grad_weights[0], mode="clip")


def _add_bias(z: np.ndarray, b: np.ndarray) -> None:
    """``z += b`` on every row of ``z`` (m, n).

    Speed: NumPy's broadcasting loop is slow on short rows (a 10-unit layer), so for a
    big batch k consecutive rows are viewed as one row of about 1024 numbers and ``b``
    repeated k times is added to that (2-4x faster on 42,000 x 10; the same sums).
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


def _softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray, scratch: _Scratch):
    """Turn ``logits`` (m, k) into probabilities in place; return them, the mean loss
    and how many rows are classified right.

    With ``s = z - max(z)``:  ``-log softmax(z)_y = log(sum_j e^{s_j}) - s_y``.
    Both terms stay finite however confident the network is, unlike ``-log(p_y)``.
    A NaN or infinite logit (a diverged network) yields a non-finite loss, on purpose.
    """
    m = len(logits)
    # Speed: worked on transposed, (k, m): NumPy reduces and broadcasts fast along long
    # rows but slowly along rows of 10 classes (up to 10x for a full batch).
    s = scratch.columns
    np.copyto(s, logits.T)
    np.maximum.reduce(s, axis=0, out=scratch.row_max)
    s -= scratch.row_max
    # s_y of each row: element (y_i, i) of s, at y_i * m + i in the flattened array.
    index = np.multiply(labels, scratch.m, out=scratch.index)
    index += scratch.rows
    true_logit = s.take(index, out=scratch.true_logit)  # take() without an axis: flat
    # Right answers without argmax (slow on rows of 10): a row's maximum is now exactly 0,
    # so the row is right when s_y == 0, unless another class ties for the maximum.
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
