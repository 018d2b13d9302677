"""Training: epochs of (mini-)batch gradient descent, with a history to draw from.

One *step* takes a batch, runs forward and backward, and lets the optimiser update
the weights. One *epoch* is a pass over all training examples:

============  ============  =====================================================
mode          batch size    steps per epoch (n examples)
============  ============  =====================================================
full batch    n             1   - the classic "batch gradient descent"
mini-batch    e.g. 128      ceil(n / 128)
stochastic    1             n   - noisy, slow per epoch, but each step is cheap
============  ============  =====================================================

``train`` is that loop: for each batch, forward -> loss -> backward -> optimiser step.
Around it are the named steps it takes: the batches (``nn.speed.Batches``: images stay
``uint8`` until a batch is used, blank input columns are left out of the first layer),
the divergence guard (``DivergenceGuard``), the per-layer statistics and the history
(``LayerStats``, ``end_epoch``; the ``History`` itself is in ``nn/history.py``) and the
progress reports (``ProgressReporter``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass

import numpy as np

from .activations import ACTIVATIONS
from .augment import DEFAULT_MAX_DEGREES, DEFAULT_MAX_SHIFT, AugmentedBatches, Augmenter, augment_problems
from .conv import MAX_CONV_BATCH, ConvSpec, conv_config_problems
from .history import History, WeightSnapshot
from .network import N_INPUTS, Network
from .optimizers import SCHEDULES, Optimizer, make_optimizer, scheduled_learning_rate
from .speed import Batches, dead_fraction, leaves_out_blank_columns, norm, ones
from .stepping import StepRecord, run_to_end

# A loss this many times above its starting value (or chance level, log k) means the
# steps overshoot and feed on themselves: training has diverged even while finite.
DIVERGENCE_FACTOR = 5


@dataclass
class TrainConfig:
    """Every knob of a training run. ``batch_size=None`` means full batch."""

    hidden_sizes: tuple[int, ...] = (10,)
    activation: str = "relu"
    optimizer: str = "sgd"  # sgd | momentum | nesterov | rmsprop | adam
    learning_rate: float = 0.3
    epochs: int = 500
    batch_size: int | None = None
    l2: float = 0.0
    momentum: float = 0.9
    schedule: str = "constant"  # constant | step | cosine
    step_size: int = 10  # epochs between drops, for the step schedule
    gamma: float = 0.5  # factor per drop, for the step schedule
    seed: int = 0
    validation_fraction: float = 0.1
    snapshot_every: int = 1  # epochs between weight snapshots (0 = never)
    stats_every: int | None = None  # steps between per-layer stats (None = ~20 per epoch)
    dtype: str = "float32"
    # Convolutional blocks before the dense layers: (filters, kernel size) each; () = none.
    conv_layers: tuple[tuple[int, int], ...] = ()
    conv_padding: str = "valid"  # valid | same
    conv_pool: bool = True  # a 2x2 max pool after each conv layer
    # Each batch's images moved by random shifts and rotations (nn/augment.py).
    augment: bool = False
    augment_shift: float = DEFAULT_MAX_SHIFT  # at most this many pixels, right/left and up/down
    augment_degrees: float = DEFAULT_MAX_DEGREES  # at most this many degrees either way

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(n) for n in self.hidden_sizes)
        try:
            self.conv_layers = tuple((int(f), int(k)) for f, k in self.conv_layers)
        except (TypeError, ValueError):
            raise ValueError(f"conv layers must be (filters, kernel) pairs, got {self.conv_layers!r}") from None
        self.validate()

    def validate(self) -> None:
        """Raise ValueError with a clear message for an impossible setting."""
        problems = []
        if any(n < 1 for n in self.hidden_sizes):
            problems.append(f"hidden layer widths must be >= 1, got {self.hidden_sizes}")
        if self.activation not in ACTIVATIONS:
            problems.append(f"activation must be one of {sorted(ACTIVATIONS)}")
        if self.optimizer not in ("sgd", "momentum", "nesterov", "rmsprop", "adam"):
            problems.append("optimizer must be sgd, momentum, nesterov, rmsprop or adam")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            problems.append(f"learning rate must be a positive number, got {self.learning_rate}")
        if self.epochs < 0:
            problems.append(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append(f"batch size must be >= 1 or full, got {self.batch_size}")
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            problems.append(f"L2 must be >= 0, got {self.l2}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {SCHEDULES}")
        if not 0 <= self.validation_fraction < 1:
            problems.append("validation fraction must be in [0, 1)")
        if self.dtype not in ("float32", "float64"):
            problems.append("dtype must be float32 or float64")
        problems += conv_config_problems(self.conv_layers, self.conv_padding, self.conv_pool)
        if not isinstance(self.augment, bool):
            problems.append(f"augment must be True or False, got {self.augment!r}")
        problems += augment_problems(self.augment_shift, self.augment_degrees)
        if self.conv_layers and (self.batch_size is None or self.batch_size > MAX_CONV_BATCH):
            problems.append(f"conv layers train on batches of at most {MAX_CONV_BATCH} images (full batch "
                            f"would hold every image's im2col matrix in memory), got {self.batch_size or 'full'}")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        d["conv_layers"] = [list(layer) for layer in self.conv_layers]
        return d


@dataclass
class Progress:
    """What a progress callback receives."""

    epoch: int  # epochs completed (a float while inside an epoch)
    epochs: int
    step: int
    total_steps: int
    loss: float
    accuracy: float | None
    elapsed: float
    eta: float | None  # seconds left, estimated
    history: History

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 1.0


@dataclass
class TrainResult:
    network: Network
    history: History
    status: str  # "completed" | "stopped" | "diverged"
    message: str
    config: TrainConfig


def build_network(config: TrainConfig, n_inputs: int = N_INPUTS, n_classes: int = 10) -> Network:
    """A freshly initialised network for ``config`` (seeded): with conv layers first when
    it has some (on square images of ``n_inputs`` pixels), else dense."""
    if config.conv_layers:
        side = math.isqrt(n_inputs)
        if side * side != n_inputs:
            raise ValueError(f"conv layers need square images; {n_inputs} pixels are not a square")
        specs = [ConvSpec(f, k, config.conv_padding, config.conv_pool) for f, k in config.conv_layers]
        return Network.convolutional(specs, config.hidden_sizes, n_classes, (side, side), config.activation,
                                     seed=config.seed, dtype=config.dtype)
    sizes = (n_inputs, *config.hidden_sizes, n_classes)
    return Network(sizes, config.activation, seed=config.seed, dtype=config.dtype)


def iterate_float_batches(images, batch_size=4096, dtype=np.float32):
    """Yield (start, float batch in [0, 1]) for uint8 or float images, one buffer reused."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        for start in range(0, len(images), batch_size):
            yield start, images[start : start + batch_size].astype(dtype, copy=False)
        return
    buffer = np.empty((min(batch_size, len(images)), images.shape[1]), dtype)
    scale = buffer.dtype.type(1 / 255)
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        out = buffer[: len(chunk)]
        np.multiply(chunk, scale, out=out)
        yield start, out


def predict_proba(network: Network, images, batch_size=4096) -> np.ndarray:
    """(n, n_classes) probabilities for uint8 (0-255) or float (0-1) images, in chunks."""
    batch_size = min(batch_size, network.evaluation_batch_size or batch_size)
    out = np.empty((len(images), network.layer_sizes[-1]), network.dtype)
    for start, batch in iterate_float_batches(images, batch_size, network.dtype):
        out[start : start + len(batch)] = network.predict_proba(batch)
    return out


def evaluate(network: Network, images, labels, batch_size=4096) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a whole dataset, in chunks."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan"), float("nan")
    batch_size = min(batch_size, network.evaluation_batch_size or batch_size)
    total_loss, correct = 0.0, 0
    for start, batch in iterate_float_batches(images, batch_size, network.dtype):
        batch_labels = labels[start : start + len(batch)]
        forward = network.forward(batch, batch_labels)
        total_loss += forward.loss * len(batch)
        correct += forward.n_correct
    return total_loss / len(labels), correct / len(labels)


# -- the named steps of train() -----------------------------------------------------------
class DivergenceGuard:
    """Ends a run that can no longer learn and puts back the last sane weights.

    A NaN/infinite loss, or one exploded past ``DIVERGENCE_FACTOR`` times its start,
    means the steps overshoot; a ReLU layer whose every unit outputs 0 for a whole batch
    passes no gradient down ever again. The weights are copied at stats records, after
    their loss was checked, and restored when the loss goes bad.
    """

    def __init__(self, network: Network, config: TrainConfig, step: int) -> None:
        self.network, self.config = network, config
        self.backup = [p.copy() for p in (*network.weights, *network.biases)]
        self.backup_step = step
        self.limit = self.smoothed_loss = None
        self.chance_loss = math.log(network.layer_sizes[-1])

    def save(self, step: int) -> None:
        """Remember the current weights (they just produced a sane loss)."""
        for saved, p in zip(self.backup, (*self.network.weights, *self.network.biases)):
            np.copyto(saved, p)
        self.backup_step = step

    def check_loss(self, loss: float, batch_size: int, epoch: int, step: int) -> str | None:
        """None while ``loss`` is sane; else restore the saved weights and say what happened."""
        # Small batches give noisy losses: judge explosion on a running average.
        self.smoothed_loss = loss if (self.smoothed_loss is None or batch_size >= 32) \
            else 0.9 * self.smoothed_loss + 0.1 * loss
        if self.limit is None:
            self.limit = DIVERGENCE_FACTOR * max(loss, self.chance_loss)
        if math.isfinite(loss) and self.smoothed_loss <= self.limit:
            return None
        for saved, p in zip(self.backup, (*self.network.weights, *self.network.biases)):
            np.copyto(p, saved)
        what = f"became {loss}" if not math.isfinite(loss) else \
            f"exploded to {loss:.3g}, over {DIVERGENCE_FACTOR}x its start"
        return (f"Training diverged at epoch {epoch}, step {step}: the loss {what}; the learning rate "
                f"({self.config.learning_rate:g}) is probably too high. Kept the last weights with a "
                f"finite, sane loss (from step {self.backup_step}).")

    def check_dead_units(self, dead: list[float], batch_size: int, epoch: int, step: int) -> str | None:
        """None unless every unit of a ReLU layer outputs 0 for a whole batch (of 32+)."""
        if self.network.activation != "relu" or batch_size < 32 or max(dead, default=0.0) < 1.0:
            return None
        layer = dead.index(1.0) + 1
        return (f"Training stopped at epoch {epoch}, step {step}: every ReLU unit in hidden layer {layer} "
                f"outputs 0 for every image (all units died), so the network can no longer learn; the "
                f"learning rate ({self.config.learning_rate:g}) is probably too high.")


class LayerStats:
    """The per-layer statistics recorded into the history every ``every`` steps:
    ||dJ/dW||, ||W||, ||update|| / ||W|| and the fraction of dead hidden units."""

    def __init__(self, network: Network, history: History, every: int, first_step: int) -> None:
        self.network, self.history, self.every, self.first_step = network, history, every, first_step
        self.n_hidden = len(network.weights) - 1

    def due(self, step: int) -> bool:
        return (step - self.first_step) % self.every == 0

    def dead_fractions(self, forward) -> list[float]:
        """Per hidden layer, the fraction of its units that output <= 0 for the whole batch."""
        hidden = forward.activations[1 : self.n_hidden + 1]
        units_ones = ones(len(forward.probabilities), self.network.dtype)
        return [dead_fraction(a, self.network.activation, units_ones) for a in hidden]

    def record(self, step: int, grads, optimizer: Optimizer, dead: list[float]) -> bool:
        """Append one record (after the optimiser step); False, recording nothing, when a
        weight became NaN/infinite (the next forward pass reports the divergence)."""
        weight_norms = [norm(w) for w in self.network.weights]
        if not all(map(math.isfinite, weight_norms)):
            return False
        history = self.history
        history.stats_step.append(step)
        history.layer_grad_norm.append([norm(g) for g in grads.weights])
        history.layer_weight_norm.append(weight_norms)
        history.layer_update_ratio.append([norm(u) / (wn or 1.0)
                                           for u, wn in zip(optimizer.last_updates[: len(weight_norms)], weight_norms)])
        history.layer_dead_fraction.append(dead)
        history.last_grad_weights = [g.copy() for g in grads.weights]
        return True


class ProgressReporter:
    """Calls ``progress`` after every epoch and about every ``interval`` seconds within one."""

    def __init__(self, progress, interval: float, epochs: int, total_steps: int, history: History,
                 first_step: int) -> None:
        self.progress, self.interval, self.epochs, self.total_steps = progress, interval, epochs, total_steps
        self.history, self.first_step = history, first_step
        self.start = self.last = time.perf_counter()

    def during_epoch(self, step: int, epoch: float, loss: float) -> None:
        if self.progress is not None and time.perf_counter() - self.last >= self.interval:
            self.report(step, epoch, loss, None)

    def report(self, step: int, epoch: float, loss: float, accuracy: float | None) -> None:
        if self.progress is None:
            return
        self.last = time.perf_counter()
        done = step - self.first_step
        elapsed = self.last - self.start
        eta = elapsed / done * (self.total_steps - done) if done else None
        self.progress(Progress(epoch, self.epochs, done, self.total_steps, loss, accuracy, elapsed, eta,
                               self.history))


def snapshot(history: History, network: Network, epoch: int, step: int) -> None:
    """Append a copy of the weights to the history."""
    history.snapshots.append(WeightSnapshot(epoch, step, [w.copy() for w in network.weights],
                                            [b.copy() for b in network.biases]))


def end_epoch(history: History, network: Network, validation, *, epoch: int, step: int, loss: float,
              accuracy: float, seconds: float, learning_rate: float, take_snapshot: bool) -> None:
    """Append epoch ``epoch``'s numbers to the history (evaluating the validation set),
    and (``take_snapshot``) a copy of the weights."""
    history.epoch.append(epoch)
    history.train_loss.append(loss)
    history.train_accuracy.append(accuracy)
    if validation is not None and len(validation[1]):
        val_loss, val_acc = evaluate(network, validation[0], validation[1])
    else:
        val_loss, val_acc = float("nan"), float("nan")
    history.validation_loss.append(val_loss)
    history.validation_accuracy.append(val_acc)
    history.epoch_seconds.append(seconds)
    history.learning_rate.append(learning_rate)
    if take_snapshot:
        snapshot(history, network, epoch, step)


def _checked_data(images, labels) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels as intp), or ValueError saying what is wrong."""
    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.intp, copy=False)
    if len(images) == 0:
        raise ValueError("no training examples")
    if labels.shape != (len(images),):
        raise ValueError(f"expected {len(images)} labels, got shape {labels.shape}")
    return images, labels


def _image_side(images) -> int:
    """The side of the square images in ``images`` (n, side * side), or ValueError."""
    side = math.isqrt(images.shape[1])
    if side * side != images.shape[1]:
        raise ValueError(f"augment moves square images; {images.shape[1]} pixels are not a square")
    return side


def _should_stop(stop) -> bool:
    if stop is None:
        return False
    is_set = getattr(stop, "is_set", None)
    return bool(is_set() if is_set is not None else stop())


def _learning_rate(config: TrainConfig, epoch_progress: float) -> float:
    return scheduled_learning_rate(config.learning_rate, config.schedule, epoch_progress, config.epochs,
                                   config.step_size, config.gamma)


def train(
    network: Network,
    images: np.ndarray,
    labels: np.ndarray,
    config: TrainConfig,
    *,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Callable[[Progress], None] | None = None,
    progress_interval: float = 0.25,
    stop=None,
    history: History | None = None,
) -> TrainResult:
    """Train ``network`` in place on ``images`` (n, 784) uint8 or float and ``labels`` (n,).

    validation: (images, labels) evaluated after every epoch.
    progress: called after every epoch and about every ``progress_interval`` seconds.
    stop: a ``threading.Event`` or a no-argument callable; checked every step.
    history: continue appending to an existing history (resumed training).

    A NaN or infinite loss ends training ("diverged") and restores the weights
    saved at the last stats record, all of whose losses were finite.

    The loop is :func:`training_steps`, driven to its end without watching.
    """
    return run_to_end(training_steps(network, images, labels, config, validation=validation, progress=progress,
                                     progress_interval=progress_interval, stop=stop, history=history))


def training_steps(network: Network, images: np.ndarray, labels: np.ndarray, config: TrainConfig, *,
                   validation=None, progress=None, progress_interval: float = 0.25, stop=None,
                   history: History | None = None, watch: bool = False,
                   ) -> Generator[StepRecord | None, None, TrainResult]:
    """``train``'s loop, one step at a time: a generator that yields after every step and
    returns the ``TrainResult`` (arguments as for ``train``).

    watch: yield a :class:`nn.stepping.StepRecord` of every step (copies of its batch,
        forward and backward pass and update; dense networks only), else None. Watching
        changes no number: the weights after N steps are those of ``train`` after N steps.

    (Its 60 lines of body are the set-up and the loop, kept in one piece so that one
    step reads top to bottom: forward -> loss -> backward -> optimiser step.)
    """
    config.validate()
    images, labels = _checked_data(images, labels)
    n = len(images)
    batch_size = n if config.batch_size is None else min(config.batch_size, n)
    batches = Batches(images, labels, batch_size, network.dtype, seed=config.seed,
                      leave_out_blank=not config.augment and leaves_out_blank_columns(network, images, batch_size))
    if config.augment:
        batches = AugmentedBatches(batches, Augmenter(config.augment_shift, config.augment_degrees,
                                                      seed=config.seed, side=_image_side(images),
                                                      dtype=network.dtype))
    steps_per_epoch = math.ceil(n / batch_size)
    history = history if history is not None else History()
    first_step, first_epoch = history.n_steps, len(history.epoch)
    optimizer = make_optimizer(config.optimizer, weight_decay=config.l2, momentum=config.momentum)
    workspace = network.make_workspace()
    guard = DivergenceGuard(network, config, first_step)
    stats = LayerStats(network, history, config.stats_every or max(1, steps_per_epoch // 20), first_step)
    reporter = ProgressReporter(progress, progress_interval, config.epochs, steps_per_epoch * config.epochs,
                                history, first_step)
    if config.snapshot_every and not history.snapshots:
        snapshot(history, network, first_epoch, first_step)
    step, learning_rate = first_step, config.learning_rate
    status, message = "completed", f"Trained {config.epochs} epochs."
    for epoch_index in range(config.epochs):
        epoch, epoch_start = first_epoch + epoch_index + 1, time.perf_counter()
        loss_sum, correct = 0.0, 0
        for batch in batches.epoch():
            if _should_stop(stop):
                status, message = "stopped", f"Stopped by the user after {step - first_step} steps."
                break
            m, epoch_progress = len(batch.labels), epoch_index + batch.start / n
            learning_rate = _learning_rate(config, epoch_progress)
            forward = network.forward(batch.inputs, batch.labels, workspace=workspace, input_columns=batch.columns,
                                      record=watch)
            problem = guard.check_loss(forward.loss, m, epoch, step + 1)
            if problem:
                status, message = "diverged", problem
                break
            loss_sum += forward.loss * m
            correct += forward.n_correct
            history.add_step_loss(forward.loss)
            recording = stats.due(step)
            if recording:
                guard.save(step)
                dead = stats.dead_fractions(forward)
                problem = guard.check_dead_units(dead, m, epoch, step + 1)
                if problem:
                    status, message = "diverged", problem
                    break
            grads = network.backward(forward, batch.labels, workspace=workspace, record=watch)
            watched = StepRecord.before_update(network, batches, batch, forward, grads, step=step + 1, epoch=epoch,
                                               learning_rate=learning_rate) if watch else None
            optimizer.step(network.weights, network.biases, grads.weights, grads.biases, learning_rate)
            step += 1
            if watched is not None:
                watched.after_update(network, optimizer, batch)
            if not recording or stats.record(step, grads, optimizer, dead):
                reporter.during_epoch(step, first_epoch + epoch_progress + m / n, forward.loss)
            yield watched
        if status != "completed":
            break
        end_epoch(history, network, validation, epoch=epoch, step=step, loss=loss_sum / n, accuracy=correct / n,
                  seconds=time.perf_counter() - epoch_start, learning_rate=learning_rate,
                  take_snapshot=bool(config.snapshot_every) and (epoch_index + 1) % config.snapshot_every == 0)
        reporter.report(step, float(epoch), loss_sum / n, correct / n)
    if status == "stopped":
        reporter.report(step, float(len(history.epoch)),
                        history.step_loss[-1] if history.step_loss else float("nan"), None)
    return TrainResult(network, history, status, message, config)
