"""The coach: rules that read a training run's history and say what went wrong or what to try
next (no Streamlit). Each diagnosis has one line of why, the page that shows it, and a fix:
the Train page settings to change.

=============  ==========================================================  ====================
rule           fires when                                                  fix
=============  ==========================================================  ====================
diverged       the run diverged (the loss exploded or became NaN)          learning rate / 10
loss flat      after 2+ epochs the training loss fell by less than          learning rate x 10
               FLAT_DROP of its start, with no jump above it
overfitting    the validation loss rose OVERFIT_RISE above its best,        epochs = the best
               at least OVERFIT_EPOCHS_AFTER epochs ago, while the          one
               training loss kept falling
dead ReLUs     DEAD_SHARE or more of a ReLU layer's units gave 0 for        Leaky ReLU
               every image of a batch (mean of the last records)
vanishing      sigmoid or tanh, 2+ hidden layers, and the first layer's    ReLU
               gradient below VANISHING_RATIO of the last layer's
more epochs    (at the end) the validation loss was still falling:          twice the epochs
               the last epoch is its best and it fell MORE_EPOCHS_DROP
               over the last two
=============  ==========================================================  ====================

The thresholds were set on real runs of the bundled data (README, "The coach"): every rule
fires on a run built for it and none on the Home page's default run. A vanishing gradient
also flattens the loss; then only the cause is reported (vanishing), not the symptom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from . import settings

FLAT_DROP = 0.3
FLAT_JUMP = 1.25  # a step loss this many times the start: the steps are not too small
OVERFIT_RISE = 0.10
OVERFIT_EPOCHS_AFTER = 3
DEAD_SHARE = 0.30
DEAD_RECORDS = 5  # stats records averaged for the dead share
VANISHING_RATIO = 0.05
MORE_EPOCHS_DROP = 0.03


@dataclass(frozen=True)
class Diagnosis:
    """One finding. rule: its name (see the module's table); title and why: what the page
    says; page: the page (a file of pages/) that shows it; fix_label: the button's text;
    fix: the settings it changes (``{"learning_rate": 0.01}``)."""

    rule: str
    title: str
    why: str
    page: str
    fix_label: str
    fix: dict = field(default_factory=dict)


def diagnose(history, config, status: str, *, finished: bool) -> list[Diagnosis]:
    """The diagnoses of a run (``nn.training.History`` and ``TrainConfig``) with ``status``
    ("running", "completed", "diverged"...), read live (``finished=False``: the history may
    be growing in a training thread) or at its end."""
    history = consistent_copy(history)
    found = [rule for rule in (_diverged(history, config, status), _vanishing(history, config),
                               _dead_relus(history, config), _overfitting(history),
                               _more_epochs(history, config, status, finished)) if rule]
    flat = _flat(history, config, status)
    if flat and not any(d.rule == "vanishing" for d in found):
        found.insert(1 if found and found[0].rule == "diverged" else 0, flat)
    return found


def consistent_copy(history) -> SimpleNamespace:
    """The lists the rules read, copied up to lengths they all have: a training thread appends
    to the epoch lists one after the other (the validation loss last, after evaluating)."""
    epochs = min(len(history.epoch), len(history.train_loss), len(history.validation_loss))
    records = min(len(history.layer_grad_norm), len(history.layer_dead_fraction))
    return SimpleNamespace(
        step_loss=list(history.step_loss), epoch=list(history.epoch[:epochs]),
        train_loss=list(history.train_loss[:epochs]), validation_loss=list(history.validation_loss[:epochs]),
        layer_grad_norm=list(history.layer_grad_norm[:records]),
        layer_dead_fraction=list(history.layer_dead_fraction[:records]))


def _rate(value: float) -> float:
    """The learning rate slider's option nearest to ``value`` (log scale)."""
    return min(settings.LEARNING_RATES, key=lambda option: abs(math.log10(option) - math.log10(value)))


def _diverged(history, config, status: str) -> Diagnosis | None:
    losses = np.asarray(history.step_loss, dtype=np.float64)
    if status != "diverged" and np.isfinite(losses).all():
        return None
    lower = _rate(config.learning_rate / 10)
    return Diagnosis("diverged", "The run diverged",
                     f"Steps of learning rate {config.learning_rate:g} overshoot the valley: each one lands higher "
                     "than the last, until the loss explodes.", "train",
                     f"Learning rate {lower:g}", {"learning_rate": lower})


def _flat(history, config, status: str) -> Diagnosis | None:
    losses = np.asarray(history.step_loss, dtype=np.float64)
    if status == "diverged" or len(history.epoch) < 2 or not len(losses) or not np.isfinite(losses).all():
        return None
    start, last = losses[0], float(history.train_loss[-1])
    drop = (start - last) / start
    if drop >= FLAT_DROP or losses.max() > FLAT_JUMP * start:
        return None
    higher = _rate(config.learning_rate * 10)
    if higher <= config.learning_rate:
        return None
    return Diagnosis("flat", "The loss hardly moves",
                     f"In {len(history.epoch)} epochs the loss fell only {drop:.0%} (from {start:.2f} to {last:.2f}) "
                     f"and never jumped: the steps (learning rate {config.learning_rate:g}) are too small.",
                     "train", f"Learning rate {higher:g}", {"learning_rate": higher})


def _overfitting(history) -> Diagnosis | None:
    validation = np.asarray(history.validation_loss, dtype=np.float64)
    if len(validation) < OVERFIT_EPOCHS_AFTER + 1 or not np.isfinite(validation).all():
        return None
    best = int(np.argmin(validation))
    train = np.asarray(history.train_loss, dtype=np.float64)
    if len(validation) - 1 - best < OVERFIT_EPOCHS_AFTER or validation[-1] < (1 + OVERFIT_RISE) * validation[best] \
            or not train[-1] < train[best]:
        return None
    epoch = int(history.epoch[best])
    return Diagnosis("overfitting", "Overfitting: validation got worse",
                     f"Since epoch {epoch} the training loss kept falling but the validation loss rose "
                     f"{validation[-1] / validation[best] - 1:.0%}: the network memorises its training images "
                     "(L2 weight decay or more data also help).", "train",
                     f"Train {epoch} epochs", {"epochs": epoch})


def _dead_relus(history, config) -> Diagnosis | None:
    dead = np.asarray(history.layer_dead_fraction[-DEAD_RECORDS:], dtype=np.float64)
    if config.activation != "relu" or dead.size == 0 or len(history.epoch) < 1:
        return None
    share = dead.mean(axis=0)
    layer = int(np.argmax(share))
    if share[layer] < DEAD_SHARE:
        return None
    return Diagnosis("dead_relus", f"{share[layer]:.0%} of the ReLU units are dead",
                     f"In hidden layer {layer + 1}, {share[layer]:.0%} of the units output 0 for every image of a "
                     "batch: their gradient is 0, so they never learn again (big early steps push them there).",
                     "gradients", "Use Leaky ReLU", {"activation": "leaky_relu"})


def _vanishing(history, config) -> Diagnosis | None:
    norms = np.asarray(history.layer_grad_norm[-DEAD_RECORDS:], dtype=np.float64)
    if config.activation not in ("sigmoid", "tanh") or len(config.hidden_sizes) < 2 or norms.size == 0 \
            or len(history.epoch) < 1:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.median(norms[:, 0] / norms[:, -1]))
    if not ratio < VANISHING_RATIO:
        return None
    name, slope = settings.ACTIVATION_LABELS[config.activation], 0.25 if config.activation == "sigmoid" else 1
    return Diagnosis("vanishing", "Vanishing gradients",
                     f"The first layer's gradient is {ratio:.1%} of the last layer's: on its way back the error is "
                     f"multiplied by each {name} layer's slope (at most {slope:g},"
                     " mostly far less), so the first layers barely learn.", "gradients", "Use ReLU",
                     {"activation": "relu"})


def _more_epochs(history, config, status: str, finished: bool) -> Diagnosis | None:
    if not finished or status != "completed" or len(history.epoch) < 3:
        return None
    losses, which = np.asarray(history.validation_loss, dtype=np.float64), "validation"
    if not np.isfinite(losses).all():
        losses, which = np.asarray(history.train_loss, dtype=np.float64), "training"
    if not np.isfinite(losses).all() or losses[-1] > losses.min() or \
            (losses[-3] - losses[-1]) / losses[-3] < MORE_EPOCHS_DROP:
        return None
    epochs = min(settings.MAX_EPOCHS, 2 * config.epochs)
    if epochs <= config.epochs:
        return None
    return Diagnosis("more_epochs", "Still improving at the last epoch",
                     f"The {which} loss fell {(losses[-3] - losses[-1]) / losses[-3]:.0%} over the last two "
                     "epochs and was at its best at the end: more epochs will likely help.", "train",
                     f"Train {epochs} epochs", {"epochs": epochs})
