"""What a training run leaves to draw: a ``History`` of losses, accuracies, per-layer
statistics and weight snapshots, appended to while the run trains."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Points History.step_loss keeps at most (even: full points are averaged in pairs), so that a
# run of 10 million batch-1 steps costs a page that draws its curve what 10,000 steps do.
MAX_STEP_LOSS_POINTS = 10_000


@dataclass
class WeightSnapshot:
    """A copy of every layer's weights and biases at one moment of training."""

    epoch: int
    step: int
    weights: list[np.ndarray]
    biases: list[np.ndarray]


@dataclass
class History:
    """Everything a dashboard draws, appended to while training runs.

    Lists only ever grow, so a reader in another thread can take ``len()`` and read
    up to it; ``step_loss`` is the exception (see :meth:`add_step_loss`), read it in the
    training thread (a progress callback) or after training. Per-layer lists hold one value
    per layer (``layer_*[record][layer]``).
    """

    # One point per step_loss_every steps (their mean), at most MAX_STEP_LOSS_POINTS points.
    step_loss: list[float] = field(default_factory=list)
    step_loss_every: int = 1
    steps: int | None = None  # steps trained; None: one per point (a history made from a list)
    epoch: list[int] = field(default_factory=list)  # 1, 2, ...
    train_loss: list[float] = field(default_factory=list)  # mean over the epoch's batches
    train_accuracy: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)  # NaN without validation
    validation_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)  # at each epoch's end
    stats_step: list[int] = field(default_factory=list)  # step number of each stats record
    layer_grad_norm: list[list[float]] = field(default_factory=list)  # ||dJ/dW||
    layer_weight_norm: list[list[float]] = field(default_factory=list)  # ||W||
    layer_update_ratio: list[list[float]] = field(default_factory=list)  # ||dW|| / ||W||
    layer_dead_fraction: list[list[float]] = field(default_factory=list)  # hidden layers only
    snapshots: list[WeightSnapshot] = field(default_factory=list)
    last_grad_weights: list[np.ndarray] | None = None  # copy from the last stats record

    @property
    def n_steps(self) -> int:
        """Steps trained (``step_loss`` may hold fewer points: one per ``step_loss_every``)."""
        return len(self.step_loss) if self.steps is None else self.steps

    def add_step_loss(self, loss: float) -> None:
        """Record one step's loss. Point ``i`` of ``step_loss`` is the mean loss of steps
        ``i * every + 1 ... (i + 1) * every`` (the last point: of those trained so far); when
        MAX_STEP_LOSS_POINTS full points are there, neighbours are averaged in pairs and
        ``step_loss_every`` doubles, so the list stays bounded and each append is O(1) amortised."""
        steps = self.n_steps
        if steps % self.step_loss_every == 0:  # the last point is full: a new one starts
            while len(self.step_loss) >= MAX_STEP_LOSS_POINTS:
                self._merge_step_loss_pairs()
        filled = steps % self.step_loss_every  # steps already in the last, open point
        if filled:
            self.step_loss[-1] += (float(loss) - self.step_loss[-1]) / (filled + 1)
        else:
            self.step_loss.append(float(loss))
        self.steps = steps + 1

    def thin_step_loss(self, max_points: int) -> None:
        """Average neighbouring points in pairs until at most ``max_points`` remain (for a copy
        that only draws the curve; an open last point is then averaged as if it were full)."""
        while len(self.step_loss) > max(int(max_points), 1):
            self.steps = self.n_steps
            self._merge_step_loss_pairs()

    def _merge_step_loss_pairs(self) -> None:
        """Halve ``step_loss``: each pair of full points becomes their mean (a lone last
        point stays, now the open half of a point twice as long)."""
        points = self.step_loss
        pairs = len(points) // 2
        merged = [(points[2 * i] + points[2 * i + 1]) / 2 for i in range(pairs)]
        self.step_loss = merged + points[2 * pairs:]
        self.step_loss_every *= 2

    def summary(self) -> dict:
        """Final numbers, JSON-friendly (for model files and run tables)."""
        def last(values):
            return float(values[-1]) if values else None

        return {
            "epochs": len(self.epoch),
            "steps": self.n_steps,
            "train_loss": last(self.train_loss),
            "train_accuracy": last(self.train_accuracy),
            "validation_loss": last(self.validation_loss),
            "validation_accuracy": last(self.validation_accuracy),
            "seconds": float(sum(self.epoch_seconds)),
        }
