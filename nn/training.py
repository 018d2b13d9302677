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

Images stay ``uint8`` until a batch is used (4x less memory than float32); each
mini-batch is gathered into one reused float32 buffer. Full batch converts the data
once, since every step uses all of it. Pixels that are 0 in every image of a batch
(an MNIST digit's blank border) are left out of the first layer's products: they add
nothing to them (see ``Network.forward``'s ``input_columns``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from .activations import ACTIVATIONS
from .conv import MAX_CONV_BATCH, ConvNetwork, ConvSpec, conv_config_problems
from .network import N_INPUTS, Network
from .optimizers import SCHEDULES, make_optimizer, scheduled_learning_rate

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
    up to it. Per-layer lists hold one value per layer (``layer_*[record][layer]``).
    """

    step_loss: list[float] = field(default_factory=list)  # one per step
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

    def summary(self) -> dict:
        """Final numbers, JSON-friendly (for model files and run tables)."""
        def last(values):
            return float(values[-1]) if values else None

        return {
            "epochs": len(self.epoch),
            "steps": len(self.step_loss),
            "train_loss": last(self.train_loss),
            "train_accuracy": last(self.train_accuracy),
            "validation_loss": last(self.validation_loss),
            "validation_accuracy": last(self.validation_accuracy),
            "seconds": float(sum(self.epoch_seconds)),
        }


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


def build_network(config: TrainConfig, n_inputs: int = N_INPUTS, n_classes: int = 10) -> Network | ConvNetwork:
    """A freshly initialised network for ``config`` (seeded): a ConvNetwork when it has
    conv layers (on square images of ``n_inputs`` pixels), else a dense Network."""
    if config.conv_layers:
        side = math.isqrt(n_inputs)
        if side * side != n_inputs:
            raise ValueError(f"conv layers need square images; {n_inputs} pixels are not a square")
        specs = [ConvSpec(f, k, config.conv_padding, config.conv_pool) for f, k in config.conv_layers]
        return ConvNetwork(specs, config.hidden_sizes, n_classes, (side, side), config.activation,
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
    batch_size = min(batch_size, getattr(network, "evaluation_batch_size", batch_size))
    out = np.empty((len(images), network.layer_sizes[-1]), network.dtype)
    for start, batch in iterate_float_batches(images, batch_size, network.dtype):
        out[start : start + len(batch)] = network.predict_proba(batch)
    return out


def evaluate(network: Network, images, labels, batch_size=4096) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a whole dataset, in chunks."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan"), float("nan")
    batch_size = min(batch_size, getattr(network, "evaluation_batch_size", batch_size))
    total_loss, correct = 0.0, 0
    for start, batch in iterate_float_batches(images, batch_size, network.dtype):
        batch_labels = labels[start : start + len(batch)]
        forward = network.forward(batch, batch_labels)
        total_loss += forward.loss * len(batch)
        correct += forward.n_correct
    return total_loss / len(labels), correct / len(labels)


def _norm(array: np.ndarray) -> float:
    flat = array.reshape(-1)
    return math.sqrt(float(np.dot(flat, flat)))  # BLAS dot: no temporary array


def _dead_fraction(a: np.ndarray, activation: str, ones: np.ndarray) -> float:
    """Fraction of a hidden layer's units that output <= 0 for every image of the batch.

    For a conv layer's maps (m, H, W, F) the units are the F filters: a filter is dead
    when its map is <= 0 everywhere, for every image.
    """
    if a.ndim > 2:
        # Over the images first, each (position, filter) a long column (ReLU: its sum, one BLAS
        # product; else its maximum), then over the positions: 40x faster than (m*H*W, F) rows.
        rows = a.reshape(len(a), -1)
        per_position = np.matmul(ones, rows) if activation == "relu" else np.maximum.reduce(rows, axis=0)
        alive = np.count_nonzero(np.maximum.reduce(per_position.reshape(-1, a.shape[-1]), axis=0) > 0)
    elif activation == "relu":
        # Speed: ReLU outputs are >= 0, so a unit is dead exactly when its column sums to 0,
        # and 1^T A is one BLAS product (np.any(a > 0, axis=0) is slow on narrow layers).
        alive = np.count_nonzero(np.matmul(ones, a))
    else:
        alive = np.count_nonzero(np.any(a > 0, axis=0))
    return 1.0 - float(alive) / a.shape[-1]


def _used_columns(column_max: np.ndarray) -> np.ndarray | None:
    """Indices of the non-zero entries of ``column_max`` (one value per input column),
    or None when too few are zero for leaving them out to pay (it costs two gathers)."""
    used = np.flatnonzero(column_max)
    return used if len(used) <= len(column_max) - len(column_max) // 8 else None


def _should_stop(stop) -> bool:
    if stop is None:
        return False
    is_set = getattr(stop, "is_set", None)
    return bool(is_set() if is_set is not None else stop())


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
    """
    config.validate()
    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.intp, copy=False)
    n = len(images)
    if n == 0:
        raise ValueError("no training examples")
    if labels.shape != (n,):
        raise ValueError(f"expected {n} labels, got shape {labels.shape}")
    dtype = network.dtype
    batch_size = n if config.batch_size is None else min(config.batch_size, n)
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = steps_per_epoch * config.epochs
    stats_every = config.stats_every or max(1, steps_per_epoch // 20)
    history = history if history is not None else History()
    step_offset = len(history.step_loss)
    epoch_offset = len(history.epoch)
    rng = np.random.default_rng(config.seed)
    optimizer = make_optimizer(
        config.optimizer, weight_decay=config.l2, momentum=config.momentum
    )
    workspace = network.make_workspace()
    hidden_layers = len(network.weights) - 1

    # Speed: pixels blank (0) in every image of a batch are left out of the first layer's
    # products (see Network.forward's input_columns), for a dense net on uint8 images when that
    # saves more than its gathers cost (measured): batch x width >= 4096, or single images.
    trim_inputs = images.dtype == np.uint8 and not getattr(network, "is_convolutional", False)
    if trim_inputs:
        width = network.weights[0].shape[1]
        trim_inputs = batch_size * width >= 4096 or (batch_size == 1 and width >= 32)
    input_columns = None
    if batch_size == n:
        # Full batch: every step uses all the data, so convert it to float once.
        if trim_inputs:
            input_columns = _used_columns(np.bitwise_or.reduce(images, axis=0))
        kept = images if input_columns is None else images[:, input_columns]
        full_inputs = np.multiply(kept, dtype.type(1 / 255), dtype=dtype) if images.dtype == np.uint8 \
            else images.astype(dtype, copy=False)
        del kept
        order = None
    else:
        # Shuffle an index array, never the data: no data-sized copy per epoch.
        order = np.arange(n)
        source = images if images.dtype == np.uint8 else images.astype(dtype, copy=False)
        raw_buffer = np.empty((batch_size, images.shape[1]), source.dtype)
        float_buffer = np.empty(batch_size * images.shape[1], dtype)  # viewed as (m, columns kept)
        used_buffer = np.empty(images.shape[1], source.dtype)
        batch_labels_buffer = np.empty(batch_size, np.intp)

    def snapshot(epoch: int, step: int) -> None:
        history.snapshots.append(WeightSnapshot(
            epoch, step, [w.copy() for w in network.weights], [b.copy() for b in network.biases]
        ))

    # Divergence guard: a copy of the weights taken at stats records, after their loss
    # was checked; restored when the loss turns NaN/inf or explodes.
    backup = [p.copy() for p in (*network.weights, *network.biases)]
    backup_step = step_offset
    divergence_limit = smoothed_loss = None
    n_classes = network.layer_sizes[-1]

    def refresh_backup(step: int) -> None:
        nonlocal backup_step
        for saved, p in zip(backup, (*network.weights, *network.biases)):
            np.copyto(saved, p)
        backup_step = step

    def restore_backup() -> None:
        for saved, p in zip(backup, (*network.weights, *network.biases)):
            np.copyto(p, saved)

    if config.snapshot_every and not history.snapshots:
        snapshot(epoch_offset, step_offset)

    lr = config.learning_rate  # the constant schedule's; other schedules set it every step
    start_time = time.perf_counter()
    last_report = start_time
    step = step_offset
    status, message = "completed", f"Trained {config.epochs} epochs."

    def report(epoch_value: float, loss: float, accuracy) -> None:
        done = step - step_offset
        elapsed = time.perf_counter() - start_time
        eta = elapsed / done * (total_steps - done) if done else None
        progress(Progress(epoch_value, config.epochs, done, total_steps, loss, accuracy,
                          elapsed, eta, history))

    for epoch_index in range(config.epochs):
        epoch_start = time.perf_counter()
        if order is not None:
            rng.shuffle(order)
        loss_sum, correct = 0.0, 0
        for batch_start in range(0, n, batch_size):
            if stop is not None and _should_stop(stop):
                status, message = "stopped", f"Stopped by the user after {step - step_offset} steps."
                break
            if order is None:
                inputs, batch_labels = full_inputs, labels
            else:
                indices = order[batch_start : batch_start + batch_size]
                m = len(indices)
                # mode="clip" lets take() write straight into the buffer (no temporary).
                raw = source.take(indices, axis=0, out=raw_buffer[:m], mode="clip")
                if source.dtype == np.uint8:
                    if trim_inputs:
                        input_columns = _used_columns(np.bitwise_or.reduce(raw, axis=0, out=used_buffer))
                    if input_columns is not None:
                        # raw[:, columns] comes out column by column (Fortran order): cast it as
                        # (k, m) rows, at full speed, and hand its transpose, (m, k), to BLAS.
                        raw = raw[:, input_columns].T
                    inputs = float_buffer[: raw.size].reshape(raw.shape)
                    # Speed: cast, then scale in place: 1.5x faster than one mixed-type multiply.
                    np.copyto(inputs, raw)
                    inputs *= dtype.type(1 / 255)
                    if input_columns is not None:
                        inputs = inputs.T
                else:
                    inputs = raw
                batch_labels = labels.take(indices, out=batch_labels_buffer[:m], mode="clip")
            epoch_progress = epoch_index + batch_start / n
            if config.schedule != "constant":
                lr = scheduled_learning_rate(config.learning_rate, config.schedule, epoch_progress,
                                             config.epochs, config.step_size, config.gamma)
            m = len(batch_labels)
            if input_columns is None:
                forward = network.forward(inputs, batch_labels, workspace=workspace)
            else:
                forward = network.forward(inputs, batch_labels, workspace=workspace, input_columns=input_columns)
            loss = forward.loss
            # Small batches give noisy losses: judge explosion on a running average.
            smoothed_loss = loss if (smoothed_loss is None or len(batch_labels) >= 32) \
                else 0.9 * smoothed_loss + 0.1 * loss
            if divergence_limit is None:
                divergence_limit = DIVERGENCE_FACTOR * max(loss, math.log(n_classes))
            if not (math.isfinite(loss) and smoothed_loss <= divergence_limit):
                restore_backup()
                status = "diverged"
                what = f"became {loss}" if not math.isfinite(loss) else \
                    f"exploded to {loss:.3g}, over {DIVERGENCE_FACTOR}x its start"
                message = (
                    f"Training diverged at epoch {epoch_offset + epoch_index + 1}, step "
                    f"{step + 1}: the loss {what}; the learning rate "
                    f"({config.learning_rate:g}) is probably too high. Kept the last "
                    f"weights with a finite, sane loss (from step {backup_step})."
                )
                break
            loss_sum += loss * m
            correct += forward.n_correct
            history.step_loss.append(loss)
            record = (step - step_offset) % stats_every == 0
            if record:
                refresh_backup(step)  # these weights just produced a sane loss
                ones = workspace.scratch(m).ones
                dead = [_dead_fraction(a, network.activation, ones)
                        for a in forward.activations[1 : hidden_layers + 1]]
                if network.activation == "relu" and m >= 32 and max(dead, default=0.0) == 1.0:
                    # Every unit of a ReLU layer outputs 0 for the whole batch: no gradient
                    # reaches the layers below ever again, so the run cannot recover.
                    layer = dead.index(1.0) + 1
                    status = "diverged"
                    message = (
                        f"Training stopped at epoch {epoch_offset + epoch_index + 1}, step "
                        f"{step + 1}: every ReLU unit in hidden layer {layer} outputs 0 for "
                        f"every image (all units died), so the network can no longer learn; "
                        f"the learning rate ({config.learning_rate:g}) is probably too high."
                    )
                    break
            grads = network.backward(forward, batch_labels, workspace=workspace)
            optimizer.step(network.weights, network.biases, grads.weights, grads.biases, lr)
            step += 1
            if record:
                weight_norms = [_norm(w) for w in network.weights]
                if not all(map(math.isfinite, weight_norms)):
                    continue  # the next forward pass reports the divergence
                history.stats_step.append(step)
                history.layer_grad_norm.append([_norm(g) for g in grads.weights])
                history.layer_weight_norm.append(weight_norms)
                history.layer_update_ratio.append([
                    _norm(u) / (wn or 1.0)
                    for u, wn in zip(optimizer.last_updates[: len(weight_norms)], weight_norms)
                ])
                history.layer_dead_fraction.append(dead)
                history.last_grad_weights = [g.copy() for g in grads.weights]
            if progress is not None and time.perf_counter() - last_report >= progress_interval:
                last_report = time.perf_counter()
                report(epoch_offset + epoch_progress + m / n, loss, None)
        if status != "completed":
            break
        seconds = time.perf_counter() - epoch_start
        history.epoch.append(epoch_offset + epoch_index + 1)
        history.train_loss.append(loss_sum / n)
        history.train_accuracy.append(correct / n)
        if validation is not None and len(validation[1]):
            val_loss, val_acc = evaluate(network, validation[0], validation[1])
        else:
            val_loss, val_acc = float("nan"), float("nan")
        history.validation_loss.append(val_loss)
        history.validation_accuracy.append(val_acc)
        history.epoch_seconds.append(seconds)
        history.learning_rate.append(lr)
        if config.snapshot_every and (epoch_index + 1) % config.snapshot_every == 0:
            snapshot(epoch_offset + epoch_index + 1, step)
        if progress is not None:
            last_report = time.perf_counter()
            report(float(epoch_offset + epoch_index + 1), loss_sum / n, correct / n)

    if status == "stopped" and progress is not None:
        report(float(len(history.epoch)), history.step_loss[-1] if history.step_loss else float("nan"), None)
    return TrainResult(network, history, status, message, config)
