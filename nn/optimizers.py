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

import numpy as np


class Optimizer:
    """Base class: keeps per-parameter state and applies updates in place."""

    name = "base"

    def __init__(self, weight_decay: float = 0.0) -> None:
        self.weight_decay = float(weight_decay)
        self.step_count = 0
        self.last_updates: list[np.ndarray] = []

    def step(self, weights, biases, grad_weights, grad_biases, learning_rate: float) -> None:
        """Update every weight and bias array in place from its gradient.

        Gradients of the weights are modified in place when weight decay is on.
        """
        if not self.last_updates:
            self.last_updates = [np.empty_like(p) for p in (*weights, *biases)]
            self._init_state(self.last_updates)
        self.step_count += 1
        if self.weight_decay:
            for w, g in zip(weights, grad_weights):
                g += w.dtype.type(self.weight_decay) * w
        params = (*weights, *biases)
        grads = (*grad_weights, *grad_biases)
        for index, (param, grad, update) in enumerate(zip(params, grads, self.last_updates)):
            self._compute_update(index, grad, update, param.dtype.type(learning_rate))
            param -= update

    def _init_state(self, shapes_like: list[np.ndarray]) -> None:
        """Create the optimiser's state arrays (zeros) shaped like the parameters."""

    def _compute_update(self, index, grad, update, learning_rate) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Plain (stochastic) gradient descent: step against the gradient."""

    name = "sgd"

    def _compute_update(self, index, grad, update, learning_rate) -> None:
        np.multiply(grad, learning_rate, out=update)


class Momentum(Optimizer):
    """SGD with momentum: a velocity that accumulates past gradients.

    Steps keep going in directions the gradient agrees on and cancel where it
    oscillates. With ``nesterov=True`` the gradient is used as if taken after the
    velocity step, which damps overshooting.
    """

    name = "momentum"

    def __init__(self, momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(weight_decay)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _init_state(self, like) -> None:
        self.velocities = [np.zeros_like(p) for p in like]

    def _compute_update(self, index, grad, update, learning_rate) -> None:
        velocity = self.velocities[index]
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

    def __init__(self, rho: float = 0.9, eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(weight_decay)
        self.rho, self.eps = float(rho), float(eps)

    def _init_state(self, like) -> None:
        self.mean_squares = [np.zeros_like(p) for p in like]

    def _compute_update(self, index, grad, update, learning_rate) -> None:
        mean_square = self.mean_squares[index]
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
    """

    name = "adam"

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay: float = 0.0):
        super().__init__(weight_decay)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _init_state(self, like) -> None:
        self.first_moments = [np.zeros_like(p) for p in like]
        self.second_moments = [np.zeros_like(p) for p in like]

    def _compute_update(self, index, grad, update, learning_rate) -> None:
        m, v = self.first_moments[index], self.second_moments[index]
        kind = m.dtype.type
        t = self.step_count
        m *= kind(self.beta1)
        np.multiply(grad, kind(1 - self.beta1), out=update)
        m += update
        v *= kind(self.beta2)
        np.multiply(grad, grad, out=update)
        update *= kind(1 - self.beta2)
        v += update
        # The bias corrections folded into two scalars (same maths, fewer array passes):
        # u = (lr / (1-b1^t)) m / (sqrt(v) / sqrt(1-b2^t) + eps)
        np.sqrt(v, out=update)
        update *= kind(1 / math.sqrt(1 - self.beta2**t))
        update += kind(self.eps)
        np.divide(m, update, out=update)
        update *= kind(learning_rate / (1 - self.beta1**t))


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
