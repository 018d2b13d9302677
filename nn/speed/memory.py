"""Speed: memory. Parameters in one block, buffers reused for every batch of a size.

Each trick here gives exactly the numbers the plain code would; it only avoids work.
"""

from __future__ import annotations

import numpy as np


def one_block(arrays, dtype, *, copy=True) -> tuple[np.ndarray, list[np.ndarray]]:
    """One contiguous 1-D array with room for ``arrays``, and views of it shaped like them.

    Why: an optimiser then updates every parameter with one NumPy call per operation
    instead of one per array. copy: fill the views with the arrays' values (else the
    block is uninitialised).
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
    element to its last, or None if they are not (the optimiser's one-array test)."""
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


_CONSTANTS: dict = {}  # (value, dtype) -> one read-only 1-D array, replaced by a longer one when needed


def _constant(value: float, size: int, dtype) -> np.ndarray:
    key = (value, np.dtype(dtype))
    array = _CONSTANTS.get(key)
    if array is None or array.size < size:
        array = np.zeros(max(size, 1 << 16), dtype) if value == 0 else np.full(max(size, 1 << 16), value, dtype)
        array.flags.writeable = False
        _CONSTANTS[key] = array
    return array[:size]


def zeros_like(z: np.ndarray) -> np.ndarray:
    """A read-only array of zeros shaped like ``z``, without allocating each time.

    Why: ``np.maximum(z, 0)`` against a scalar runs several times slower than against an array,
    and never-written zero pages cost no memory (the kernel maps them all to one page).
    """
    return _constant(0, z.size, z.dtype).reshape(z.shape)


def ones(n: int, dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones, without allocating each time.

    Why: a column sum ``1^T delta`` is then one BLAS matrix-vector product, far faster
    than NumPy's row-by-row ``sum(axis=0)`` when rows are short (10 classes, F filters).
    """
    return _constant(1, n, dtype)


class _NoBuffers:
    """Every buffer is None: the layers then allocate their arrays (outside training)."""

    def __getattr__(self, name: str) -> None:
        return None


NO_BUFFERS = _NoBuffers()


class Scratch:
    """Small arrays the softmax, the loss and the output error need for a batch of m rows."""

    def __init__(self, m: int, n_classes: int, dtype) -> None:
        self.columns = np.empty((n_classes, m), dtype)  # the logits, transposed
        self.row_max = np.empty(m, dtype)
        self.sums = np.empty(m, dtype)
        self.true_logit = np.empty(m, dtype)  # shifted logit of each row's label
        self.index = np.empty(m, np.intp)
        self.m = np.intp(m)
        self.rows = np.arange(m, dtype=np.intp)
        self.row_starts = self.rows * np.intp(n_classes)  # flat index of each row's first class


class StepBuffers:
    """Every array one training step of a batch of m examples writes to.

    layers: one object per layer, its buffers as attributes (``Layer.buffers``);
    scratch: for the softmax and the loss; delta: dJ/dZ[L], (m, n_classes).
    """

    def __init__(self, layers: list, scratch: Scratch | None, delta: np.ndarray | None) -> None:
        self.layers, self.scratch, self.delta = layers, scratch, delta


def unbuffered(n_layers: int) -> StepBuffers:
    """Buffers for a pass outside training: none (every array is allocated as needed)."""
    return StepBuffers([NO_BUFFERS] * n_layers, None, None)


class Workspace:
    """Reusable arrays for a network's training steps, so a step allocates (almost) nothing.

    Why: allocating fresh arrays each step costs little per array but adds up over
    thousands of steps. The gradients are views of one contiguous array, like the
    parameters (the optimiser's one-array path); the step buffers are kept for the last
    two batch sizes seen (an epoch's final batch is usually smaller).
    """

    def __init__(self, network) -> None:
        self.network = network
        _, views = one_block([*network.weights, *network.biases], network.dtype, copy=False)
        n_layers = len(network.weights)
        self.grad_weights, self.grad_biases = views[:n_layers], views[n_layers:]
        self._by_batch_size: dict[int, StepBuffers] = {}
        self._kept_columns = None

    def buffers(self, batch_size: int) -> StepBuffers:
        """The step buffers for a batch of ``batch_size`` (made on first use)."""
        found = self._by_batch_size.get(batch_size)
        if found is None:
            if len(self._by_batch_size) >= 2:
                self._by_batch_size.pop(next(iter(self._by_batch_size)))
            network, dtype = self.network, self.network.dtype
            layers = [layer.buffers(batch_size, shape, dtype, first=index == 0)
                      for index, (layer, shape) in enumerate(zip(network.layers, network.input_shapes))]
            n_classes = network.layer_sizes[-1]
            found = self._by_batch_size[batch_size] = StepBuffers(
                layers, Scratch(batch_size, n_classes, dtype), np.empty((batch_size, n_classes), dtype))
        return found

    def kept_columns(self):
        """The arrays of ``KeptInputColumns`` (made on first use, then reused)."""
        if self._kept_columns is None:
            n_inputs, n_units = self.network.weights[0].shape
            self._kept_columns = KeptColumnsArrays(n_inputs, n_units, self.network.dtype)
        return self._kept_columns


class KeptColumnsArrays:
    """The arrays ``KeptInputColumns`` reuses: the kept rows of W[1], their gradient after
    a row of zeros, the row of each input in that gradient, and 1 .. n_inputs."""

    def __init__(self, n_inputs: int, n_units: int, dtype) -> None:
        self.rows = np.empty((n_inputs, n_units), dtype)
        self.gradient = np.zeros((n_inputs + 1, n_units), dtype)
        self.row_of_input = np.empty(n_inputs, np.intp)
        self.counting = np.arange(1, n_inputs + 1, dtype=np.intp)
