"""The room map's data: every run on the leaderboard as columns of numbers, and what worked
(no Streamlit, no Plotly; the figures are in ``ui/figures/room.py``).

The leaderboard stores each run's Train page settings as a dict (``lab.challenges.settings_of``).
:func:`room_points` turns a list of :class:`lab.leaderboard.Entry` into one array per setting,
so a figure of 2,000 runs is built from a handful of arrays rather than 2,000 dicts. An entry
whose settings lack a knob (made before it existed) gets the knob's default; a value that is
not a number becomes NaN and its run is left out of the figures that need it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .settings import ACTIVATION_LABELS, ALL_DEFAULTS, BATCH_FULL, OPTIMIZER_LABELS, OPTIMIZERS

NUMERIC_SETTINGS = ("learning_rate", "width", "layers", "epochs", "batch_size", "l2", "conv_layers")
COLOUR_BY = {"optimizer": "optimiser", "activation": "activation"}


@dataclass(frozen=True)
class RoomPoints:
    """The runs on the board, one entry per run in every array (best first).

    ``numbers[name]``: (n,) float64 per setting of :data:`NUMERIC_SETTINGS` (``batch_size``
    NaN for full-batch runs, see ``full_batch``; ``width`` 0 for a network without dense
    hidden layers); ``accuracy``: (n,) test accuracy, a fraction; ``room_accuracy``: (n,)
    accuracy on the room's handwriting, NaN where it was not measured.
    """

    accuracy: np.ndarray
    room_accuracy: np.ndarray
    numbers: dict[str, np.ndarray]
    full_batch: np.ndarray  # (n,) bool
    optimizer: tuple[str, ...]
    activation: tuple[str, ...]
    challenge: tuple[str, ...]

    @property
    def n(self) -> int:
        return len(self.accuracy)

    def labels(self, by: str) -> tuple[str, ...]:
        """Each run's optimiser or activation (``by``), as the Train page names it."""
        if by == "optimizer":
            return tuple(OPTIMIZER_LABELS.get(o, o) for o in self.optimizer)
        if by == "activation":
            return tuple(ACTIVATION_LABELS.get(a, a) for a in self.activation)
        raise ValueError(f"colour by one of {', '.join(COLOUR_BY)}, not {by!r}")


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def room_points(entries) -> RoomPoints:
    """The board's ``entries`` (:class:`lab.leaderboard.Entry`, any order) as columns."""
    settings = [entry.settings if isinstance(entry.settings, dict) else {} for entry in entries]

    def column(name: str) -> np.ndarray:
        default = ALL_DEFAULTS[name]
        return np.array([_number(s.get(name, default)) for s in settings], dtype=np.float64)

    numbers = {name: column(name) for name in NUMERIC_SETTINGS}
    full = np.array([s.get("batch_mode", ALL_DEFAULTS["batch_mode"]) == BATCH_FULL for s in settings], dtype=bool)
    numbers["batch_size"][full] = np.nan
    numbers["width"][numbers["layers"] == 0] = 0.0
    return RoomPoints(
        accuracy=np.array([_number(e.accuracy) for e in entries], dtype=np.float64),
        room_accuracy=np.array([math.nan if e.room_accuracy is None else _number(e.room_accuracy)
                                for e in entries], dtype=np.float64),
        numbers=numbers,
        full_batch=full,
        optimizer=tuple(str(s.get("optimizer", ALL_DEFAULTS["optimizer"])) for s in settings),
        activation=tuple(str(s.get("activation", ALL_DEFAULTS["activation"])) for s in settings),
        challenge=tuple(str(e.challenge or "") for e in entries),
    )


@dataclass(frozen=True)
class GroupSummary:
    label: str
    runs: int
    median: float  # test accuracy, a fraction
    best: float


def what_worked(points: RoomPoints, by: str = "optimizer") -> list[GroupSummary]:
    """Per optimiser (or activation): runs, median and best test accuracy; the best median
    first. The debrief's one-line answer to "what worked in this room?"."""
    labels = np.array(points.labels(by), dtype=object)
    summaries = []
    for label in dict.fromkeys(labels.tolist()):
        accuracy = points.accuracy[(labels == label) & np.isfinite(points.accuracy)]
        if len(accuracy):
            summaries.append(GroupSummary(label, len(accuracy), float(np.median(accuracy)), float(accuracy.max())))
    return sorted(summaries, key=lambda s: (-s.median, -s.runs, s.label))


def category_order(by: str) -> tuple[str, ...]:
    """The labels of ``by``'s choices in the Train page's order (stable colours)."""
    if by == "optimizer":
        return tuple(OPTIMIZER_LABELS.get(o, o) for o in OPTIMIZERS)
    return tuple(ACTIVATION_LABELS.values())
