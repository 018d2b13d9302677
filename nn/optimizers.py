"""Gradient-descent optimisers and learning-rate schedules.

Each optimiser turns the gradient ``g`` of a parameter ``p`` into an update ``u``
and applies ``p <- p - u``. Updates are written into a kept array per parameter
(``last_updates``), so a step allocates nothing and a dashboard can read how big
the last update was.

=========  ==================================================================
sgd        u = lr g
momentum   v <- mu v + g;          u = lr v             (heavy ball)
           Nesterov:               u = lr (g + mu v)    (looks one step ahead)
rmsprop    s <- rho s + (1-rho) g^2;                  u = lr g / (sqrt(s) + eps)
adam       m <- b1 m + (1-b1) g;   v <- b2 v + (1-b2) g^2
           u = lr m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1-b1^t), v_hat = v / (1-b2^t)
=========  ==================================================================

L2 weight decay adds ``l2 * W`` to each *weight* gradient (not the biases), the
gradient of the penalty ``l2/2 ||W||^2``: it pulls weights towards zero.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .speed import joined, one_block


class Optimizer:
    """Base class: keeps per-parameter state and applies updates in place.

    ``state`` names the optimiser's per-parameter arrays (e.g. ``velocities``), each a
    list with one array per parameter, zeros at the start.
    """

    name = "base"
    state: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()  # what the table above calls each state array

    def state_values(self) -> dict[str, list[np.ndarray]]:
        """Copies of the state arrays as the table above writes them, by symbol, one array
        per parameter (weights, then biases): ``{"v": [...]}`` for momentum, ``{"m": [...],
        "v": [...]}`` for Adam. Empty before the first step."""
        if not self.last_updates:
            return {}
        return {symbol: [array * array.dtype.type(self._state_scale(name)) for array in getattr(self, name)]
                for name, symbol in zip(self.state, self.symbols)}

    def _state_scale(self, name: str) -> float:
        """The factor from a kept state array to its textbook value (1: kept as written)."""
        return 1.0

    def __init__(self, weight_decay: float = 0.0) -> None:
        self.weight_decay = float(weight_decay)
        self.step_count = 0
        self.last_updates: list[np.ndarray] = []
        self._blocks: tuple[np.ndarray, ...] | None = None  # (updates, *state) as single arrays
        self._joined_for: tuple = ()  # the parameters and gradients of the last step ...
        self._joined: tuple | None = None  # ... and their single arrays, if they have them

    def step(self, weights, biases, grad_weights, grad_biases, learning_rate: float) -> None:
        """Update every weight and bias array in place from its gradient.

        Gradients of the weights are modified in place when weight decay is on.
        """
        params = (*weights, *biases)
        grads = (*grad_weights, *grad_biases)
        if not self.last_updates:
            self._allocate(params)
        self.step_count += 1
        if self.weight_decay:
            for w, g in zip(weights, grad_weights):
                g += w.dtype.type(self.weight_decay) * w
        # Speed: parameters and gradients that are views of one array each (as Network and
        # Workspace arrange) are updated as that array: one NumPy call per operation.
        together = self._as_single_arrays(params, grads)
        if together is not None:
            param, grad = together
            update, *state = self._blocks
            self._compute_update(state, grad, update, param.dtype.type(learning_rate))
            param -= update
            return
        for index, (param, grad, update) in enumerate(zip(params, grads, self.last_updates)):
            state = [getattr(self, name)[index] for name in self.state]
            self._compute_update(state, grad, update, param.dtype.type(learning_rate))
            param -= update

    def _allocate(self, params) -> None:
        """The update arrays and the state arrays (zeros), shaped like the parameters.

        With one float type, each kind lives in one array (the per-parameter arrays are
        views of it), so that it can be updated in one go.
        """
        kinds = 1 + len(self.state)
        if all(p.dtype == params[0].dtype for p in params):
            self._blocks, views = zip(*(one_block(params, params[0].dtype, copy=False)
                                        for _ in range(kinds)))
            for block in self._blocks[1:]:
                block[...] = 0
        else:
            views = [[np.zeros_like(p) for p in params] for _ in range(kinds)]
        self.last_updates = list(views[0])
        for name, arrays in zip(self.state, views[1:]):
            setattr(self, name, list(arrays))

    def _as_single_arrays(self, params, grads) -> tuple[np.ndarray, np.ndarray] | None:
        """(all parameters, all gradients) as two 1-D arrays, or None when they are not
        consecutive views of one array each. Checked once per new set of arrays."""
        arrays = (*params, *grads)
        if len(arrays) != len(self._joined_for) or not all(map(operator.is_, arrays, self._joined_for)):
            param, grad = joined(params), joined(grads)
            fits = self._blocks is not None and param is not None and grad is not None and \
                param.shape == grad.shape == self._blocks[0].shape and param.dtype == grad.dtype
            self._joined_for, self._joined = arrays, ((param, grad) if fits else None)
        return self._joined

    def _compute_update(self, state, grad, update, learning_rate) -> None:
        """Write the update for ``grad`` into ``update``, advancing this parameter's
        ``state`` arrays (in the order of ``self.state``)."""
        raise NotImplementedError


class SGD(Optimizer):
    """Plain (stochastic) gradient descent: step against the gradient."""

    name = "sgd"

    def _compute_update(self, state, grad, update, learning_rate) -> None:
        np.multiply(grad, learning_rate, out=update)


class Momentum(Optimizer):
    """SGD with momentum: a velocity that accumulates past gradients.

    Steps keep going in directions the gradient agrees on and cancel where it
    oscillates. With ``nesterov=True`` the gradient is used as if taken after the
    velocity step, which damps overshooting.
    """

    name = "momentum"
    state = ("velocities",)
    symbols = ("v",)

    def __init__(self, momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(weight_decay)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _compute_update(self, state, grad, update, learning_rate) -> None:
        (velocity,) = state
        velocity *= velocity.dtype.type(self.momentum)
        velocity += grad
        if self.nesterov:
            np.multiply(velocity, velocity.dtype.type(self.momentum), out=update)
            update += grad
            update *= learning_rate
        else:
            np.multiply(velocity, learning_rate, out=update)


class RMSprop(Optimizer):
    """Divide each step by a running root-mean-square of that parameter's gradients.

    Parameters with large, noisy gradients take smaller steps, rarely-updated ones
    larger steps: a per-parameter learning rate.
    """

    name = "rmsprop"
    state = ("mean_squares",)
    symbols = ("s",)

    def __init__(self, rho: float = 0.9, eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(weight_decay)
        self.rho, self.eps = float(rho), float(eps)

    def _compute_update(self, state, grad, update, learning_rate) -> None:
        (mean_square,) = state
        kind = mean_square.dtype.type
        mean_square *= kind(self.rho)
        np.multiply(grad, grad, out=update)
        update *= kind(1 - self.rho)
        mean_square += update
        np.sqrt(mean_square, out=update)
        update += kind(self.eps)
        np.divide(grad, update, out=update)
        update *= learning_rate


class Adam(Optimizer):
    """Momentum and RMSprop together, with bias correction for the zero start.

    ``m`` estimates the gradient's mean, ``v`` its uncentred variance; both start at
    zero, so early on they are divided by ``1 - beta^t`` to remove that bias.

    Stored as ``first_moments = m / (1 - beta1)`` and ``second_moments = v / (1 - beta2)``
    (see ``_compute_update``).
    """

    name = "adam"
    state = ("first_moments", "second_moments")
    symbols = ("m", "v")

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay: float = 0.0):
        super().__init__(weight_decay)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _state_scale(self, name: str) -> float:
        return 1 - (self.beta1 if name == "first_moments" else self.beta2)

    def _compute_update(self, state, grad, update, learning_rate) -> None:
        m, v = state
        kind = m.dtype.type
        t, b1, b2 = self.step_count, self.beta1, self.beta2
        # Speed: m <- b1 m + (1-b1) g and v <- b2 v + (1-b2) g^2 are kept divided by (1-b1)
        # and (1-b2), i.e. m' <- b1 m' + g, v' <- b2 v' + g^2: three array passes fewer.
        m *= kind(b1)
        m += grad
        v *= kind(b2)
        np.multiply(grad, grad, out=update)
        v += update
        # u = lr m_hat / (sqrt(v_hat) + eps), m_hat = m / (1-b1^t), v_hat = v / (1-b2^t), is
        # (lr (1-b1) / ((1-b1^t) c)) m' / (sqrt(v') + eps / c) with c = sqrt((1-b2) / (1-b2^t)):
        # the corrections and factors folded into two scalars (fewer array passes).
        c = math.sqrt((1 - b2) / (1 - b2**t))
        np.sqrt(v, out=update)
        update += kind(self.eps / c)
        np.divide(m, update, out=update)
        update *= kind(learning_rate * (1 - b1) / ((1 - b1**t) * c))


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "rmsprop": RMSprop, "adam": Adam}


def make_optimizer(name: str, *, weight_decay=0.0, momentum=0.9, nesterov=False) -> Optimizer:
    """Build an optimiser by name ('sgd', 'momentum', 'nesterov', 'rmsprop', 'adam')."""
    if name == "nesterov":
        name, nesterov = "momentum", True
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)} or 'nesterov'")
    if name == "momentum":
        return Momentum(momentum, nesterov, weight_decay=weight_decay)
    return OPTIMIZERS[name](weight_decay=weight_decay)


SCHEDULES = ("constant", "step", "cosine")


def scheduled_learning_rate(
    base: float, schedule: str, epoch_progress: float, total_epochs: int,
    step_size: int = 10, gamma: float = 0.5,
) -> float:
    """The learning rate at ``epoch_progress`` epochs into training (a float).

    constant: ``base`` throughout.
    step:     multiplied by ``gamma`` every ``step_size`` whole epochs.
    cosine:   from ``base`` down to 0 along half a cosine over the run,
              ``base/2 (1 + cos(pi * progress / total))``.
    """
    if schedule == "constant":
        return base
    if schedule == "step":
        return base * gamma ** math.floor(epoch_progress / max(1, step_size))
    if schedule == "cosine":
        fraction = min(1.0, epoch_progress / max(1, total_epochs))
        return 0.5 * base * (1 + math.cos(math.pi * fraction))
    raise ValueError(f"unknown schedule {schedule!r}; choose from {SCHEDULES}")
