"""Layers: the steps a network is made of, each with a forward and a backward pass.

A network is a list of layers applied in turn, ``A = layer(A)``, on a batch of m
examples (the first axis). Every layer has the same small interface:

- ``forward(x, params, buffers) -> (y, memo)``: its output for input ``x``, and
  whatever its backward pass needs besides ``x`` and ``y`` (``memo``, usually None).
- ``backward(grad_y, x, y, memo, params, grads, buffers, input_gradient) ->
  (grad_x, param_grads)``: given ``dJ/dy``, the gradient of the loss with respect to
  its input (None unless ``input_gradient``) and to each of its parameters.

``params`` are the layer's parameter arrays (``(W, b)`` for a weight layer, ``()``
otherwise), kept by the network in one contiguous array; ``grads`` are arrays to write
their gradients into (or Nones); ``buffers`` are arrays reused between training steps
(``nn.speed.Workspace``; outside training every buffer is None and arrays are made).

The layers here are the dense ones; ``nn/conv.py`` adds Conv2D and MaxPool2D.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .activations import ACTIVATIONS, DERIVATIVES
from .speed import NO_BUFFERS, add_bias, ones


class Layer:
    """One step of a network, ``y = layer(x)``.

    kind: "dense", "conv", "activation", "pool" or "flatten".
    parameter_shapes: the shapes of its parameter arrays (``()``: it has none).
    """

    kind = ""
    parameter_shapes: tuple = ()

    def output_shape(self, input_shape: tuple) -> tuple:
        """The shape of one example's output, for one example's ``input_shape``."""
        return input_shape

    def buffers(self, m: int, input_shape: tuple, dtype, *, first: bool):
        """The arrays a training step on m examples reuses (``first``: the network's
        first layer, whose input gradient is rarely wanted)."""
        return NO_BUFFERS

    def forward(self, x, params=(), buffers=NO_BUFFERS):
        raise NotImplementedError

    def backward(self, grad_y, x, y, memo, params=(), grads=(), buffers=NO_BUFFERS, input_gradient=True):
        raise NotImplementedError


class Dense(Layer):
    """A fully connected layer: ``Z = A W + b``, W (n_inputs, n_outputs), b (n_outputs,).

    Weights are stored as ``(inputs, outputs)`` so a batch goes through with one matrix
    multiply, ``A @ W``, examples as rows: the layout BLAS is fastest on. Backward, with
    ``delta = dJ/dZ`` (m, n_outputs)::

        dJ/dW = A.T @ delta        dJ/db = 1^T delta        dJ/dA = delta @ W.T
    """

    kind = "dense"

    def __init__(self, n_inputs: int, n_outputs: int) -> None:
        self.n_inputs, self.n_outputs = int(n_inputs), int(n_outputs)
        self.parameter_shapes = ((self.n_inputs, self.n_outputs), (self.n_outputs,))
        self.fan_in, self.fan_out = self.n_inputs, self.n_outputs

    def output_shape(self, input_shape: tuple) -> tuple:
        return (self.n_outputs,)

    def buffers(self, m, input_shape, dtype, *, first):
        return SimpleNamespace(output=np.empty((m, self.n_outputs), dtype),
                               grad_input=None if first else np.empty((m, self.n_inputs), dtype))

    def forward(self, x, params, buffers=NO_BUFFERS):
        weight, bias = params
        z = np.matmul(x, weight, out=buffers.output)
        add_bias(z, bias)
        return z, None

    def backward(self, delta, x, y, memo, params, grads=(None, None), buffers=NO_BUFFERS, input_gradient=True):
        weight, _ = params
        grad_weight = np.matmul(x.T, delta, out=grads[0])
        grad_bias = np.matmul(ones(len(delta), delta.dtype), delta, out=grads[1])
        grad_x = np.matmul(delta, weight.T, out=buffers.grad_input) if input_gradient else None
        return grad_x, (grad_weight, grad_bias)


class Activation(Layer):
    """``A = f(Z)``, elementwise and in place (see ``nn/activations.py``).

    Backward: ``dJ/dZ = dJ/dA * f'(Z)``, with ``f'`` written from the output ``A``, so
    the pass never has to keep ``Z``.
    """

    kind = "activation"

    def __init__(self, name: str) -> None:
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
        self.name, self.function, self.derivative = name, ACTIVATIONS[name], DERIVATIVES[name]

    def forward(self, z, params=(), buffers=NO_BUFFERS):
        return self.function(z), None

    def backward(self, grad_a, z, a, memo, params=(), grads=(), buffers=NO_BUFFERS, input_gradient=True):
        self.derivative(a, grad_a)  # in place: grad_a becomes dJ/dZ
        return grad_a, ()


class Flatten(Layer):
    """(m, H, W, C) -> (m, H*W*C), row-major (a free view of a contiguous batch)."""

    kind = "flatten"

    def output_shape(self, input_shape: tuple) -> tuple:
        return (int(np.prod(input_shape)),)

    def forward(self, x, params=(), buffers=NO_BUFFERS):
        return x.reshape(len(x), -1), None

    def backward(self, grad, x, y, memo, params=(), grads=(), buffers=NO_BUFFERS, input_gradient=True):
        return grad.reshape(x.shape), ()
