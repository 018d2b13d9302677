"""One training step, kept whole: the numbers the Step by step page shows.

``nn.training.training_steps(..., watch=True)`` is the training loop of ``train`` itself,
one step at a time: after every step it hands out a :class:`StepRecord` with copies of
what that step computed with the engine's own forward pass, backward pass and optimiser
(the loop's arrays are reused by the next step, hence the copies). ``train`` drives the
same loop without watching, so a watched run leaves exactly the weights of ``train``.

Dense networks only: their first layer's units each read the 784 pixels, which is what
the page draws (a conv network's backward pass fuses steps, see
``nn.speed.backward_order``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OPTIMIZER_SETTINGS = ("momentum", "nesterov", "rho", "beta1", "beta2", "eps", "weight_decay", "step_count")


@dataclass
class StepRecord:
    """What one step computed, on a batch of m examples, for a dense network of L weight
    layers (shapes as in ``nn/network.py``: ``W[l]`` is ``(n[l-1], n[l])``).

    step: its number in the run (1 = the first); epoch: the epoch it belongs to (1 = first).
    rows: (m,) the batch's rows of the training images, in batch order.
    inputs: (m, n_inputs) floats the network read (every column: blank ones are 0).
    labels: (m,); learning_rate: the rate this step used.
    loss: the batch's mean cross-entropy before the step; loss_after: after it.
    pre_activations: ``[Z[1], ..., Z[L]]`` (m, n[l]), ``Z[L]`` the logits.
    activations: ``[A[1], ..., A[L-1]]`` (m, n[l]), the hidden layers' outputs.
    probabilities: (m, n_classes), the softmax of the logits.
    grad_pre_activations: ``[dJ/dZ[1], ..., dJ/dZ[L]]``; ``dJ/dZ[L] = (P - Y) / m``.
    grad_activations: ``[dJ/dA[1], ..., dJ/dA[L-1]]``.
    grad_weights, grad_biases: ``dJ/dW[l]`` and ``dJ/db[l]``, before any weight decay.
    weights_before, biases_before: the parameters before the step; after it they are the
        network's (``weights_before[l] - updates[l]``).
    updates, bias_updates: what the optimiser subtracted (``p <- p - u``).
    optimizer: its name; optimizer_settings: its constants and step count ("momentum",
        "beta1", "weight_decay", "step_count"...); optimizer_state: its state after the step
        as its docstring's table writes it (``nn.optimizers.Optimizer.state_values``), weights
        then biases per symbol.
    """

    step: int
    epoch: int
    rows: np.ndarray
    inputs: np.ndarray
    labels: np.ndarray
    learning_rate: float
    loss: float
    pre_activations: list[np.ndarray]
    activations: list[np.ndarray]
    probabilities: np.ndarray
    grad_pre_activations: list[np.ndarray]
    grad_activations: list[np.ndarray]
    grad_weights: list[np.ndarray]
    grad_biases: list[np.ndarray]
    weights_before: list[np.ndarray]
    biases_before: list[np.ndarray]
    optimizer: str = ""
    optimizer_settings: dict[str, float] = field(default_factory=dict)
    updates: list[np.ndarray] = field(default_factory=list)
    bias_updates: list[np.ndarray] = field(default_factory=list)
    optimizer_state: dict[str, list[np.ndarray]] = field(default_factory=dict)
    loss_after: float = float("nan")

    @property
    def batch_size(self) -> int:
        return len(self.labels)

    @classmethod
    def before_update(cls, network, batches, batch, forward, grads, *, step: int, epoch: int,
                      learning_rate: float) -> StepRecord:
        """Copies of a step's batch, forward pass (recorded) and gradients (recorded),
        taken before the optimiser changes the weights (and, with weight decay, the gradients)."""
        m = len(batch.labels)
        order = batches.order
        rows = np.arange(m) if order is None else order[batch.start : batch.start + m].copy()
        inputs = np.asarray(batch.inputs)
        if batch.columns is not None:  # only the columns inked in this batch were read
            full = np.zeros((m, network.layer_sizes[0]), inputs.dtype)
            full[:, batch.columns] = inputs
            inputs = full
        kinds = [layer.kind for layer in network.layers]
        outputs = grads.layer_outputs
        return cls(
            step=step, epoch=epoch, rows=rows, inputs=inputs.copy(), labels=np.array(batch.labels),
            learning_rate=float(learning_rate), loss=float(forward.loss),
            pre_activations=[z.copy() for z in forward.pre_activations],
            activations=[a.copy() for a in forward.activations[1:-1]],
            probabilities=forward.probabilities.copy(),
            grad_pre_activations=[g for g, kind in zip(outputs, kinds) if kind == "dense"],
            grad_activations=[g for g, kind in zip(outputs, kinds) if kind == "activation"],
            grad_weights=[g.copy() for g in grads.weights], grad_biases=[g.copy() for g in grads.biases],
            weights_before=[w.copy() for w in network.weights], biases_before=[b.copy() for b in network.biases],
        )

    def after_update(self, network, optimizer, batch) -> None:
        """Add what the optimiser did, and the batch's loss with the new weights (a forward
        pass of its own: the loop's arrays stay untouched)."""
        n_weights = len(network.weights)
        updates = [u.copy() for u in optimizer.last_updates]
        self.optimizer = optimizer.name
        self.optimizer_settings = {name: getattr(optimizer, name) for name in OPTIMIZER_SETTINGS
                                   if hasattr(optimizer, name)}
        self.updates, self.bias_updates = updates[:n_weights], updates[n_weights:]
        self.optimizer_state = optimizer.state_values()
        self.loss_after = float(network.forward(batch.inputs, batch.labels, input_columns=batch.columns).loss)


def run_to_end(steps):
    """Drive a generator (``nn.training.training_steps``) to its end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value
