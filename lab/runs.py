"""Finished training runs: the current model and the session's run history (no Streamlit)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from datasets import DIGIT_CLASS_NAMES
from nn.network import Network
from nn.training import History, TrainConfig

from .display_text import percent
from .jobs import FAILED, TrainingJob
from .settings import ACTIVATION_LABELS, OPTIMIZER_LABELS, architecture_text

# Step losses a run in the history keeps (the Train page's loss chart draws at most 1,500).
HISTORY_STEP_POINTS = 1_500
STATUS_LABELS = {"completed": "completed", "stopped": "stopped", "diverged": "diverged",
                 "failed": "failed", "interrupted": "interrupted", "running": "training elsewhere",
                 "queued": "queued elsewhere"}


@dataclass
class Run:
    """One finished run: its settings, outcome, curves and network."""

    number: int  # 1, 2, ... within the session
    config: TrainConfig
    status: str  # completed | stopped | diverged | failed
    message: str
    network: Network | None  # None when nothing was trained
    history: History
    dataset: str
    seconds: float
    test_accuracy: float | None = None
    class_names: tuple[str, ...] = DIGIT_CLASS_NAMES  # what the output units stand for

    @property
    def epochs_done(self) -> int:
        return len(self.history.epoch)

    @property
    def train_accuracy(self) -> float | None:
        return _last(self.history.train_accuracy)

    @property
    def validation_accuracy(self) -> float | None:
        return _last(self.history.validation_accuracy)

    @property
    def architecture(self) -> str:
        """E.g. ``784-128-10 ReLU``, or ``28×28 → conv 8@5×5 → pool → 10 ReLU`` for a
        convolutional network."""
        label = ACTIVATION_LABELS.get(self.config.activation, self.config.activation)
        if self.network is not None:
            return f"{architecture_of(self.network)} {label}"
        return f"{architecture_text(self.config, n_classes=len(self.class_names))} {label}"

    def light(self) -> Run:
        """The run with only the curves a run history draws (per epoch, and the step losses
        in at most HISTORY_STEP_POINTS points): no weight snapshots, last gradients or
        per-layer statistics, which only the current model's pages show. A 500-epoch run's
        curves then take ~0.15 MB rather than ~6 MB."""
        history = self.history
        curves = dataclasses.replace(history, snapshots=[], last_grad_weights=None, stats_step=[],
                                     layer_grad_norm=[], layer_weight_norm=[], layer_update_ratio=[],
                                     layer_dead_fraction=[], step_loss=list(history.step_loss))
        curves.thin_step_loss(HISTORY_STEP_POINTS)
        return dataclasses.replace(self, history=curves)

    def for_history(self) -> Run:
        """A copy to keep in the run history: its own network, its light curves (:meth:`light`)."""
        network = self.network.copy() if self.network is not None else None
        return dataclasses.replace(self.light(), network=network)


def architecture_of(network) -> str:
    """A network's layers: ``784-128-10``, or for a convolutional one (``network.conv_specs``)
    ``28×28 → conv 8@5×5 → pool → 10`` (each conv block with its filters, kernel,
    'same' padding and pooling)."""
    if not network.conv_specs:
        return "-".join(map(str, network.layer_sizes))
    parts = ["×".join(map(str, network.image_shape))]
    for spec in network.conv_specs:
        parts.append(f"conv {spec.filters}@{spec.kernel}×{spec.kernel}" + (" same" if spec.padding == "same" else ""))
        if spec.pool:
            parts.append("pool")
    parts += [str(n) for n in (*network.hidden_sizes, network.layer_sizes[-1])]
    return " → ".join(parts)


def _last(values) -> float | None:
    if not values:
        return None
    value = float(values[-1])
    return value if math.isfinite(value) else None


def default_class_names(n_classes: int) -> tuple[str, ...]:
    """Names for ``n_classes`` output units nobody named: the digits for 10, else "0", "1"..."""
    return DIGIT_CLASS_NAMES if n_classes == 10 else tuple(str(k) for k in range(n_classes))


def run_from_job(job: TrainingJob, number: int, dataset: str) -> Run:
    """The Run a finished job produced (its network is the job's trained network)."""
    snapshot = job.snapshot()
    network = job.network if snapshot.status != FAILED else None
    if network is not None and not job.history.step_loss:
        network = None  # stopped or diverged before its first step: nothing was trained
    return Run(
        number=number,
        config=job.config,
        status=snapshot.status,
        message=snapshot.message,
        network=network,
        history=job.history,
        dataset=dataset,
        seconds=snapshot.elapsed,
        test_accuracy=job.test_accuracy if network is not None else None,
        class_names=getattr(job, "class_names", None) or default_class_names(
            network.layer_sizes[-1] if network is not None else 10),
    )


def run_key(run: Run) -> tuple:
    """Identifies a model within a session: a new run, an upload or a Reset changes it
    (each has its own network object), so caches keyed on it never serve another model."""
    return run.number, id(run.network)


def runs_table(runs: list[Run]):
    """The run history as a DataFrame, newest first."""
    import pandas as pd

    rows = []
    for run in reversed(runs):
        config = run.config
        rows.append({
            "run": run.number,
            "status": STATUS_LABELS.get(run.status, run.status),
            "network": run.architecture,
            "optimizer": OPTIMIZER_LABELS.get(config.optimizer, config.optimizer),
            "learning rate": f"{config.learning_rate:g}",
            "batch": "full" if config.batch_size is None else str(config.batch_size),
            "L2": f"{config.l2:g}",
            "seed": config.seed,
            "epochs": f"{run.epochs_done}/{config.epochs}",
            "train acc.": percent(run.train_accuracy, missing=""),
            "validation acc.": percent(run.validation_accuracy, missing=""),
            "test acc.": percent(run.test_accuracy, missing=""),
            "seconds": round(run.seconds, 1),
        })
    return pd.DataFrame(rows)
