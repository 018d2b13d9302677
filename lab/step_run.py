"""The Step by step page's run (no Streamlit): the Train page's own training loop
(``nn.training.training_steps``, the loop ``train`` drives) advanced one mini-batch at a
time and watched, so every number the page shows is one the engine computed, and N steps
here leave exactly the weights of ``train`` after N steps with the same settings.

:func:`unit_step` picks out of a step's record (``nn.stepping.StepRecord``) what the page
shows for one example of the batch and one unit of the first hidden layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nn.activations import DERIVATIVES
from nn.stepping import StepRecord
from nn.training import History, TrainConfig, TrainResult, build_network, training_steps

from . import settings

# The page's own default: a network small enough to follow (16 units to pick from), plain
# SGD, small batches (every step a visible change). Any Train page settings can be used instead.
SMALL_SETTINGS = {**settings.GOOD_DEFAULT, "width": 16, "layers": 1, "activation": "relu", "optimizer": "sgd",
                  "learning_rate": 0.1, "batch_mode": settings.BATCH_MINI, "batch_size": 32, "epochs": 5,
                  "l2": 0.0, "seed": 0}
TOP_PIXELS = 5  # the pixels that contribute most to z, written out in the equation


def step_config(chosen: dict) -> TrainConfig:
    """The TrainConfig of page settings ``chosen``; ValueError (with the reason) when the
    settings cannot make a network this page can show (a convolutional one)."""
    config = settings.to_config(chosen)
    if config.conv_layers:
        raise ValueError("Step by step follows dense networks, whose units each read the 784 pixels: "
                         "the Train page's settings have convolution layers (set them to 0 there, or use "
                         "the small network)")
    return config


class StepRun:
    """A run trained by hand: ``step()`` advances it by one mini-batch.

    config: its settings; network: trained in place; history: as ``train`` keeps it;
    last: the latest step's record (None before the first); result: the ``TrainResult``
    once the run has ended (all its epochs done, or diverged).
    """

    def __init__(self, config: TrainConfig, train_images, train_labels, *, validation=None,
                 n_classes: int = 10) -> None:
        self.config = config
        self.network = build_network(config, n_inputs=np.asarray(train_images).shape[1], n_classes=n_classes)
        self.history = History()
        n = len(train_labels)
        self.steps_per_epoch = math.ceil(n / (config.batch_size or n))
        self.total_steps = self.steps_per_epoch * config.epochs
        self.last: StepRecord | None = None
        self.result: TrainResult | None = None
        self._steps = training_steps(self.network, train_images, train_labels, config, validation=validation,
                                     history=self.history, watch=True)

    @property
    def finished(self) -> bool:
        return self.result is not None

    @property
    def steps_done(self) -> int:
        return self.last.step if self.last is not None else 0

    def step(self, n: int = 1) -> int:
        """Advance ``n`` steps (fewer when the run ends first); how many were taken."""
        taken = 0
        while taken < n and self.result is None:
            try:
                record = next(self._steps)
            except StopIteration as end:
                self.result = end.value
                break
            self.last, taken = record, taken + 1
        return taken


@dataclass
class UnitStep:
    """One example ``e`` of a step's batch and one unit ``j`` of the first hidden layer,
    with the numbers of that step (``x``: the example's pixels, ``W1``, ``b1``: the first
    layer's parameters before the step, ``f``: the activation).

    image (784,) = x; label, prediction: its class and the network's answer.
    weights (784,) = W1[:, j]; bias = b1[j]; contributions (784,) = W1[:, j] * x, which add
    up, with the bias, to z; top_pixels: the TOP_PIXELS pixels of largest |contribution|.
    z, a = f(z); derivative = f'(z) (the engine's own derivative function).
    logits, probabilities (k,); example_loss = -log p_label.
    output_error (k,) = dJ/dZ[L] for this example, (p - y) / m.
    next_weights (n_next,) = W[2][j, :] and next_error (n_next,) = dJ/dZ[2] of this example:
    dJ/da = next_weights . next_error. grad_a = dJ/da, grad_z = dJ/dz (of unit j, example e).
    grad_weights (784,) = dJ/dW1[:, j] over the whole batch; example_share (784,) = x * dJ/dz,
    this example's term of that sum; grad_bias = dJ/db1[j].
    change (784,) = the update, -u (the weights after = weights + change); bias_change.
    state: the optimiser's state for these weights after the step, by symbol ("v", "m"...).
    """

    example: int
    unit: int
    image: np.ndarray
    label: int
    prediction: int
    weights: np.ndarray
    bias: float
    contributions: np.ndarray
    top_pixels: np.ndarray
    z: float
    a: float
    derivative: float
    logits: np.ndarray
    probabilities: np.ndarray
    example_loss: float
    output_error: np.ndarray
    next_weights: np.ndarray
    next_error: np.ndarray
    grad_a: float
    grad_z: float
    grad_weights: np.ndarray
    example_share: np.ndarray
    grad_bias: float
    change: np.ndarray
    bias_change: float
    state: dict[str, np.ndarray]

    @property
    def weights_after(self) -> np.ndarray:
        return self.weights + self.change


def unit_step(record: StepRecord, example: int, unit: int, activation: str) -> UnitStep:
    """What the page shows of ``record`` for batch example ``example`` and hidden unit ``unit``."""
    if not 0 <= example < record.batch_size:
        raise ValueError(f"example must be in 0..{record.batch_size - 1}, got {example}")
    n_units = record.weights_before[0].shape[1]
    if not 0 <= unit < n_units or len(record.weights_before) < 2:
        raise ValueError(f"unit must be a unit of the first hidden layer (0..{n_units - 1}), got {unit}")
    e, j = example, unit
    image, weights = record.inputs[e], record.weights_before[0][:, j]
    contributions = weights * image
    order = np.argsort(-np.abs(contributions), kind="stable")
    a = record.activations[0][e, j : j + 1].copy()
    derivative = np.ones_like(a)
    DERIVATIVES[activation](a, derivative)  # f'(z), written with a = f(z), as backprop computes it
    probabilities, label = record.probabilities[e], int(record.labels[e])
    return UnitStep(
        example=e, unit=j, image=image, label=label, prediction=int(np.argmax(probabilities)),
        weights=weights, bias=float(record.biases_before[0][j]), contributions=contributions,
        top_pixels=order[:TOP_PIXELS][contributions[order[:TOP_PIXELS]] != 0],
        z=float(record.pre_activations[0][e, j]), a=float(a[0]), derivative=float(derivative[0]),
        logits=record.pre_activations[-1][e], probabilities=probabilities,
        example_loss=float(-np.log(probabilities[label], dtype=np.float64)),
        output_error=record.grad_pre_activations[-1][e],
        next_weights=record.weights_before[1][j], next_error=record.grad_pre_activations[1][e],
        grad_a=float(record.grad_activations[0][e, j]), grad_z=float(record.grad_pre_activations[0][e, j]),
        grad_weights=record.grad_weights[0][:, j], example_share=image * record.grad_pre_activations[0][e, j],
        grad_bias=float(record.grad_biases[0][j]), change=-record.updates[0][:, j],
        bias_change=float(-record.bias_updates[0][j]),
        state={symbol: arrays[0][:, j] for symbol, arrays in record.optimizer_state.items()},
    )
