"""Facilitator-defined challenges: a goal, limits and locked knobs (no Streamlit).

A challenge file is TOML (``[[challenge]]`` tables) or JSON (``{"challenge": [...]}``
or a list)::

    [[challenge]]
    id = "small-and-fast"
    title = "90% with a tiny network"
    description = "Reach 90% test accuracy with at most 16 hidden units and 5 epochs."
    goal = { metric = "test_accuracy", at_least = 0.90 }
    limits = { width = { max = 16 }, epochs = { max = 5 } }
    locked = { layers = 1 }

Knobs are the Train page's setting names (``epochs``, ``learning_rate``, ``width``,
``layers``, ``activation``, ``optimizer``, ``batch_mode``, ``batch_size``, ``l2``,
``seed``, the convolution knobs ``conv_layers``, ``conv_filters``, ``conv_filters_2``,
``conv_kernel``, ``conv_padding``, ``conv_pool``, and ``augment`` (true or false); e.g.
``locked = { conv_layers = 0 }`` keeps a challenge dense). Limits (``min``/``max``) apply to
numeric knobs; ``locked`` fixes any knob.
:meth:`Challenge.apply` brings settings within the rules (with notes) and
:meth:`Challenge.judge` checks a finished run. The server's file is
``$DIGIT_LAB_CHALLENGES``, else ``assets/challenges.toml``.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import config
from .model_files import UPLOADED
from .settings import (
    ACTIVATION_CHOICES,
    ALL_DEFAULTS,
    BATCH_FULL,
    BATCH_MINI,
    CONV_DEFAULTS,
    CONV_PADDINGS,
    L2_VALUES,
    LEARNING_RATES,
    OPTIMIZERS,
    SETTING_LABELS,
)

ENV = config.CHALLENGES
DEFAULT_FILE = config.CHALLENGES_FILE
NUMERIC = ("epochs", "learning_rate", "width", "layers", "batch_size", "l2", "seed", "conv_layers",
           "conv_filters", "conv_filters_2", "conv_kernel")
KNOBS = tuple(ALL_DEFAULTS)
METRICS = ("test_accuracy", "validation_accuracy")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
MAX_FILE_BYTES = 100_000


class ChallengeError(ValueError):
    """A challenge file that can not be used, with a message saying why."""


@dataclass(frozen=True)
class Challenge:
    id: str
    title: str
    description: str = ""
    metric: str = "test_accuracy"
    at_least: float = 0.0
    limits: dict = field(default_factory=dict)  # knob -> (min or None, max or None)
    locked: dict = field(default_factory=dict)  # knob -> value

    # -- the rules --------------------------------------------------------------------

    def bounds(self, name: str, low, high):
        """The control's range for ``name`` under this challenge's limits."""
        lo, hi = self.limits.get(name, (None, None))
        low = low if lo is None else max(low, lo)
        high = high if hi is None else min(high, hi)
        return low, max(low, high)

    def apply(self, settings: dict) -> tuple[dict, list[str]]:
        """(settings within the rules, a note per change)."""
        settings = dict(settings)
        notes = []
        for name, value in self.locked.items():
            if _get(settings, name) != value:
                notes.append(f"{_label(name)} is fixed at {_show(value)} by the challenge.")
                settings[name] = value
        for name, (lo, hi) in self.limits.items():
            value = _get(settings, name)
            if name in self.locked or value is None:
                continue
            if lo is not None and value < lo:
                settings[name] = _snap(name, lo, up=True)
                notes.append(f"{_label(name)} raised to {_show(settings[name])}: the challenge "
                             f"needs at least {_show(lo)}.")
            elif hi is not None and value > hi:
                settings[name] = _snap(name, hi, up=False)
                notes.append(f"{_label(name)} lowered to {_show(settings[name])}: the challenge "
                             f"allows at most {_show(hi)}.")
        return settings, notes

    def violations(self, settings: dict) -> list[str]:
        """Why ``settings`` break the rules (empty when they keep them)."""
        reasons = []
        for name, value in self.locked.items():
            if _get(settings, name) != value:
                reasons.append(f"{_label(name)} was {_show(_get(settings, name))}, the challenge "
                               f"fixes it at {_show(value)}")
        for name, (lo, hi) in self.limits.items():
            value = _get(settings, name)
            if value is None:
                continue
            if lo is not None and value < lo:
                reasons.append(f"{_label(name)} {_show(value)} is below the minimum {_show(lo)}")
            if hi is not None and value > hi:
                reasons.append(f"{_label(name)} {_show(value)} is above the maximum {_show(hi)}")
        return reasons

    def judge(self, run) -> tuple[bool, list[str]]:
        """(passed, reasons) for a finished :class:`~lab.runs.Run`. An uploaded model
        (status "uploaded") never passes: its file may say anything about how it was trained."""
        reasons = []
        if run is None:
            return False, ["no finished run yet"]
        if run.status == UPLOADED:
            reasons.append("it was uploaded, not trained in this lab")
        elif run.status != "completed":
            reasons.append(f"the run did not complete ({run.status})")
        reasons += self.violations(settings_of(run.config))
        value = getattr(run, self.metric, None)
        name = self.metric.replace("_", " ")
        if value is None:
            reasons.append(f"no {name} was measured")
        elif value < self.at_least:
            reasons.append(f"{name} {100 * value:.1f}% is below the goal {100 * self.at_least:.1f}%")
        passed = not reasons
        if passed:
            reasons = [f"{name} {100 * value:.1f}% reaches the goal {100 * self.at_least:.1f}% "
                       "within the challenge's limits"]
        return passed, reasons

    def entry_verdict(self, run, since: int) -> tuple[bool, list[str]]:
        """(may ``run`` enter this challenge's board, why): the verdict the Train page shows
        (:meth:`judge`), for a run trained in this lab since the challenge was chosen (run
        number ``since`` on). The Leaderboard's submit and the Train page's verdict both ask this."""
        if run is not None and run.number < since:
            return False, [f"run {run.number} was trained before the challenge was chosen"]
        return self.judge(run)

    def goal_text(self) -> str:
        return f"{self.metric.replace('_', ' ')} at least {100 * self.at_least:g}%"

    def rules_text(self) -> list[str]:
        rules = []
        for name, (lo, hi) in self.limits.items():
            if lo is not None and hi is not None:
                rules.append(f"{_label(name)} {_show(lo)} … {_show(hi)}")
            elif hi is not None:
                rules.append(f"{_label(name)} at most {_show(hi)}")
            elif lo is not None:
                rules.append(f"{_label(name)} at least {_show(lo)}")
        rules += [f"{_label(name)} fixed at {_show(value)}" for name, value in self.locked.items()]
        return rules


def _get(settings: dict, name: str):
    """A setting, or its default when ``settings`` predates it (the conv knobs)."""
    return settings.get(name, ALL_DEFAULTS.get(name))


def settings_of(config) -> dict:
    """The Train page's settings a TrainConfig was made from."""
    hidden = tuple(config.hidden_sizes)
    conv = tuple(config.conv_layers)
    filters, kernel = conv[0] if conv else (CONV_DEFAULTS["conv_filters"], CONV_DEFAULTS["conv_kernel"])
    filters_2 = conv[1][0] if len(conv) > 1 else CONV_DEFAULTS["conv_filters_2"]
    return {
        "epochs": config.epochs,
        "learning_rate": config.learning_rate,
        "width": max(hidden) if hidden else 0,
        "layers": len(hidden),
        "activation": config.activation,
        "optimizer": config.optimizer,
        "batch_mode": BATCH_FULL if config.batch_size is None else BATCH_MINI,
        "batch_size": config.batch_size if config.batch_size is not None else 0,
        "l2": config.l2,
        "seed": config.seed,
        "conv_layers": len(conv),
        "conv_filters": filters,
        "conv_filters_2": filters_2,
        "conv_kernel": kernel,
        "conv_padding": config.conv_padding,
        "conv_pool": config.conv_pool,
        "augment": config.augment,
    }


def _label(name: str) -> str:
    return SETTING_LABELS.get(name, name.replace("_", " ").capitalize())


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _snap(name: str, value, up: bool):
    """A limit as a value the control offers (learning rate and L2 are lists)."""
    options = {"learning_rate": LEARNING_RATES, "l2": L2_VALUES}.get(name)
    if options is None:
        return value
    inside = [o for o in options if (o >= value if up else o <= value)]
    if not inside:
        return min(options) if up is False else max(options)
    return min(inside) if up else max(inside)


# -- parsing ---------------------------------------------------------------------------


def check_value(name: str, value):
    """``value`` as knob ``name`` takes it (a float learning rate, "Full batch" for "full");
    ChallengeError when it is not one (for challenge and lesson files)."""
    if name in NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            raise ChallengeError(f"{name} must be a number, got {value!r}")
        return float(value) if name in ("learning_rate", "l2") else value
    if name in ("conv_pool", "augment"):
        if not isinstance(value, bool):
            raise ChallengeError(f"{name} must be true or false, got {value!r}")
        return value
    allowed = {"activation": ACTIVATION_CHOICES, "optimizer": OPTIMIZERS,
               "batch_mode": (BATCH_FULL, BATCH_MINI), "conv_padding": CONV_PADDINGS}[name]
    if name == "batch_mode" and value in ("full", "mini"):
        value = BATCH_FULL if value == "full" else BATCH_MINI
    if value not in allowed:
        raise ChallengeError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def from_dict(data: dict) -> Challenge:
    if not isinstance(data, dict):
        raise ChallengeError("each challenge must be a table")
    ident = str(data.get("id", ""))
    if not ID_PATTERN.match(ident):
        raise ChallengeError(f"challenge id {ident!r} must be 1-40 letters, digits, - or _")
    title = str(data.get("title") or ident)[:120]
    goal = data.get("goal", {}) or {}
    if not isinstance(goal, dict):
        raise ChallengeError(f"{ident}: goal must be a table")
    metric = goal.get("metric", "test_accuracy")
    if metric not in METRICS:
        raise ChallengeError(f"{ident}: goal metric must be one of {', '.join(METRICS)}")
    at_least = goal.get("at_least", 0.0)
    if isinstance(at_least, bool) or not isinstance(at_least, (int, float)) or \
            not 0 <= at_least <= 100:
        raise ChallengeError(f"{ident}: goal at_least must be a number between 0 and 1")
    at_least = at_least / 100 if at_least > 1 else float(at_least)  # 90 means 90%
    limits = {}
    for name, rule in (data.get("limits") or {}).items():
        if name not in NUMERIC:
            raise ChallengeError(f"{ident}: limits apply to numeric knobs "
                                 f"({', '.join(NUMERIC)}), not {name!r}")
        if not isinstance(rule, dict) or not set(rule) <= {"min", "max"} or not rule:
            raise ChallengeError(f"{ident}: limits.{name} must be a table with min and/or max")
        lo = check_value(name, rule["min"]) if "min" in rule else None
        hi = check_value(name, rule["max"]) if "max" in rule else None
        if lo is not None and hi is not None and lo > hi:
            raise ChallengeError(f"{ident}: limits.{name} has min above max")
        limits[name] = (lo, hi)
    locked = {}
    for name, value in (data.get("locked") or {}).items():
        if name not in KNOBS:
            raise ChallengeError(f"{ident}: unknown knob {name!r} in locked")
        locked[name] = check_value(name, value)
    return Challenge(ident, title, str(data.get("description", ""))[:500], metric, at_least,
                     limits, locked)


def parse(text: str, fmt: str = "toml") -> list[Challenge]:
    """Challenges from TOML or JSON text; ChallengeError with a message when it is wrong."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise ChallengeError("the challenge file is too large")
    try:
        data = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise ChallengeError(f"the challenge file can not be read: {error}") from None
    items = data if isinstance(data, list) else data.get("challenge", [])
    if isinstance(items, dict):
        items = [items]
    challenges = [from_dict(item) for item in items]
    ids = [c.id for c in challenges]
    if len(set(ids)) != len(ids):
        raise ChallengeError("two challenges have the same id")
    return challenges


def load_file(path) -> list[Challenge]:
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "toml"
    return parse(path.read_text(encoding="utf-8"), fmt)


def server_file(environ=None) -> Path:
    """The server's challenge file: ``$DIGIT_LAB_CHALLENGES``, else ``assets/challenges.toml``."""
    return config.get(ENV, environ)
