"""Lessons: ordered steps through the app, each a short text, settings to load, the page to
open, controls fixed or hidden, and a goal the app checks or a question (no Streamlit).

A lesson is one TOML file in ``assets/lessons/`` (``$DIGIT_LAB_LESSONS`` names another
folder), like the challenge file::

    id = "how-a-network-learns"
    title = "How a network learns"
    summary = "Six short experiments, about 30 minutes."

    [[step]]
    title = "The classic network"
    page = "train"                    # the page to open (a file name in pages/)
    text = "Press **Start** and watch the loss fall."
    preset = "classic"                # a preset's settings (lab/presets.py), optional
    variant = 0                       # which of a comparison preset's two (default 0)
    settings = { epochs = 50 }        # settings to load (over the preset, or the current ones)
    locked = ["act", "opt"]           # controls shown but fixed at the step's values
    hidden = ["conv", "presets"]      # controls and panels not shown (their values fixed too)
    goal = { run = "completed" }      # what the app checks, see below
    question = { text = "…?", choices = ["…", "…"], answer = 2, explain = "…" }

Control names are the link's (``ep lr w hl act opt bs l2 seed conv``, panels ``presets
challenge share lessons``; see :mod:`lab.exercise_lock`). A goal is one of

* ``{ run = "completed" }`` or ``{ run = "diverged" }``: a run trained in this step ended so;
* ``{ runs_with = [{ optimizer = "adam" }, { optimizer = "sgd" }] }``: for each table, a
  completed run of this step with those settings;
* ``{ metric = "test_accuracy", at_least = 0.9, limits = { width = { max = 16 } } }`` (a
  challenge's goal, limits and ``locked`` knobs): a run of this step reaches it within them;
* ``{ visit = "weights" }``: the page was opened during this step.

A question's ``answer`` counts its choices from 1. A step is done when its goal is met and
its question answered right (a step with neither: when it has been shown). A step whose page
this app does not have is kept but marked, and Next and Back pass over it.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import config, presets
from .challenges import ID_PATTERN, KNOBS, Challenge, ChallengeError, check_value, from_dict, settings_of
from .exercise_lock import CONTROLS, PANELS, ExerciseLock, make_lock
from .settings import ACTIVATION_LABELS, CONV_DEFAULTS, OPTIMIZER_LABELS, SETTING_LABELS, clamp_setting

MAX_FILE_BYTES = 100_000
MAX_STEPS = 30
PAGE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RUN_STATUSES = ("completed", "diverged")
LESSON_KEYS = {"id", "title", "summary", "step"}
STEP_KEYS = {"title", "text", "page", "preset", "variant", "settings", "locked", "hidden", "goal", "question"}


class LessonError(ValueError):
    """A lesson file that cannot be used, with a message naming the file, step and key."""


@dataclass(frozen=True)
class Question:
    text: str
    choices: tuple[str, ...]
    answer: int  # index into choices, from 0
    explain: str = ""


@dataclass(frozen=True)
class Goal:
    """What the app checks; ``kind`` is "run", "runs_with", "metric" or "visit"."""

    kind: str
    status: str = ""  # kind "run"
    runs_with: tuple[dict, ...] = ()  # kind "runs_with"
    challenge: Challenge | None = None  # kind "metric"
    page: str = ""  # kind "visit"

    def text(self) -> str:
        """The goal in words."""
        if self.kind == "run":
            return "train a run to the end" if self.status == "completed" else "train until the run diverges"
        if self.kind == "runs_with":
            return "train " + " and ".join(f"one run with {_settings_text(s)}" for s in self.runs_with)
        if self.kind == "metric":
            rules = self.challenge.rules_text()
            return self.challenge.goal_text() + (f" ({', '.join(rules)})" if rules else "")
        return f"open the {self.page.replace('_', ' ').capitalize()} page"


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    page: str = "train"
    preset: tuple[str, int] | None = None
    settings: dict = field(default_factory=dict)
    locked: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    goal: Goal | None = None
    question: Question | None = None

    @property
    def loads_settings(self) -> bool:
        return self.preset is not None or bool(self.settings)

    def start_settings(self, current: dict) -> dict:
        """The settings the step loads: its preset (a dense preset switches convolution
        off) and its own settings over it, or its settings over ``current``."""
        base = dict(current)
        if self.preset is not None:
            base = {**CONV_DEFAULTS, **presets.BY_ID[self.preset[0]].settings(self.preset[1])}
        return {**base, **self.settings}

    def lock(self, settings: dict) -> ExerciseLock:
        """The step's fixed and hidden controls, at the values of ``settings``."""
        return make_lock(settings, self.locked, self.hidden)


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    summary: str
    steps: tuple[Step, ...]


# -- parsing ---------------------------------------------------------------------------------


def _text(data: dict, key: str, where: str, limit: int, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise LessonError(f"{where}: {key} must be text, got {value!r}")
    value = value.strip()
    if required and not value:
        raise LessonError(f"{where}: {key} is missing")
    if len(value) > limit:
        raise LessonError(f"{where}: {key} is longer than {limit} characters")
    return value


def _names(data: dict, key: str, allowed, where: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise LessonError(f"{where}: {key} must be a list of control names, e.g. [\"lr\", \"opt\"]")
    unknown = [item for item in value if item not in allowed]
    if unknown:
        raise LessonError(f"{where}: {key} has unknown control(s) {', '.join(map(repr, unknown))}; "
                          f"known: {', '.join(allowed)}")
    return tuple(value)


def _knob_settings(value, where: str) -> dict:
    """A table of Train page settings, each checked to be a value the page's controls offer."""
    if not isinstance(value, dict):
        raise LessonError(f"{where} must be a table of settings, e.g. {{ epochs = 10 }}")
    out = {}
    for name, raw in value.items():
        if name not in KNOBS:
            raise LessonError(f"{where}: unknown setting {name!r}; known: {', '.join(KNOBS)}")
        try:
            checked = check_value(name, raw)
        except ChallengeError as error:
            raise LessonError(f"{where}: {error}") from None
        clamped, note = clamp_setting(name, checked)
        if note:
            raise LessonError(f"{where}: {note.split(';')[0]}, which the Train page does not offer")
        out[name] = clamped
    return out


def _goal(value, where: str) -> Goal:
    if not isinstance(value, dict) or not value:
        raise LessonError(f"{where}: goal must be a table, e.g. {{ run = \"completed\" }}")
    kinds = [kind for kind in ("run", "runs_with", "metric", "visit") if kind in value]
    if len(kinds) != 1:
        raise LessonError(f"{where}: a goal has exactly one of run, runs_with, metric or visit")
    kind = kinds[0]
    allowed = {"metric", "at_least", "limits", "locked"} if kind == "metric" else {kind}
    extra = sorted(set(value) - allowed)
    if extra:
        raise LessonError(f"{where}: a {kind} goal does not take {', '.join(extra)}")
    if kind == "run":
        if value["run"] not in RUN_STATUSES:
            raise LessonError(f"{where}: goal run must be one of {', '.join(RUN_STATUSES)}, got {value['run']!r}")
        return Goal("run", status=value["run"])
    if kind == "visit":
        page = value["visit"]
        if not isinstance(page, str) or not PAGE_PATTERN.match(page):
            raise LessonError(f"{where}: goal visit must name a page, e.g. \"weights\"")
        return Goal("visit", page=page)
    if kind == "runs_with":
        tables = value["runs_with"]
        if not isinstance(tables, list) or not tables:
            raise LessonError(f"{where}: goal runs_with must be a list of settings tables")
        return Goal("runs_with", runs_with=tuple(_knob_settings(t, f"{where}: goal runs_with") for t in tables))
    try:
        challenge = from_dict({"id": "lesson-goal", "title": "goal", "limits": value.get("limits"),
                               "locked": value.get("locked"),
                               "goal": {"metric": value["metric"], "at_least": value.get("at_least", 0.0)}})
    except ChallengeError as error:
        raise LessonError(f"{where}: goal: {str(error).removeprefix('lesson-goal: ')}") from None
    return Goal("metric", challenge=challenge)


def _question(value, where: str) -> Question:
    if not isinstance(value, dict):
        raise LessonError(f"{where}: question must be a table with text, choices and answer")
    extra = sorted(set(value) - {"text", "choices", "answer", "explain"})
    if extra:
        raise LessonError(f"{where}: a question does not take {', '.join(extra)}")
    text = _text(value, "text", f"{where}: question", 400)
    choices = value.get("choices")
    if not isinstance(choices, list) or not 2 <= len(choices) <= 6 or \
            not all(isinstance(c, str) and c.strip() for c in choices):
        raise LessonError(f"{where}: question choices must be a list of 2 to 6 texts")
    answer = value.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int) or not 1 <= answer <= len(choices):
        raise LessonError(f"{where}: question answer must be the number of the right choice, "
                          f"1 to {len(choices)} (got {answer!r})")
    return Question(text, tuple(c.strip()[:200] for c in choices), answer - 1,
                    _text(value, "explain", f"{where}: question", 600, required=False))


def _step(data, where: str) -> Step:
    if not isinstance(data, dict):
        raise LessonError(f"{where} must be a table ([[step]])")
    unknown = sorted(set(data) - STEP_KEYS)
    if unknown:
        raise LessonError(f"{where}: unknown key(s) {', '.join(unknown)}; a step has {', '.join(sorted(STEP_KEYS))}")
    page = data.get("page", "train")
    if not isinstance(page, str) or not PAGE_PATTERN.match(page):
        raise LessonError(f"{where}: page must be a page's name, e.g. \"weights\", got {page!r}")
    preset = None
    if "preset" in data:
        ident, variant = data["preset"], data.get("variant", 0)
        if ident not in presets.BY_ID:
            raise LessonError(f"{where}: unknown preset {ident!r}; known: {', '.join(presets.BY_ID)}")
        if isinstance(variant, bool) or not isinstance(variant, int) or \
                not 0 <= variant < len(presets.BY_ID[ident].variants):
            raise LessonError(f"{where}: preset {ident!r} has variants 0 to "
                              f"{len(presets.BY_ID[ident].variants) - 1}, got {variant!r}")
        preset = (ident, variant)
    elif "variant" in data:
        raise LessonError(f"{where}: variant needs a preset")
    settings = _knob_settings(data["settings"], f"{where}: settings") if "settings" in data else {}
    locked = _names(data, "locked", tuple(CONTROLS), where)
    hidden = _names(data, "hidden", (*CONTROLS, *PANELS), where)
    goal = _goal(data["goal"], where) if "goal" in data else None
    question = _question(data["question"], where) if "question" in data else None
    return Step(_text(data, "title", where, 80), _text(data, "text", where, 1200), page, preset, settings,
                locked, hidden, goal, question)


def parse(text: str, source: str = "lesson") -> Lesson:
    """A lesson from TOML text; LessonError naming ``source``, the step and the key when wrong."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise LessonError(f"{source}: the file is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LessonError(f"{source}: not valid TOML ({error})") from None
    unknown = sorted(set(data) - LESSON_KEYS)
    if unknown:
        raise LessonError(f"{source}: unknown key(s) {', '.join(unknown)}; a lesson has id, title, summary "
                          "and [[step]] tables")
    ident = data.get("id")
    if not isinstance(ident, str) or not ID_PATTERN.match(ident):
        raise LessonError(f"{source}: id must be 1-40 letters, digits, - or _, got {ident!r}")
    steps = data.get("step")
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise LessonError(f"{source}: a lesson has 1 to {MAX_STEPS} [[step]] tables")
    return Lesson(ident, _text(data, "title", source, 80), _text(data, "summary", source, 300, required=False),
                  tuple(_step(step, f"{source}: step {number}") for number, step in enumerate(steps, start=1)))


def load_file(path) -> Lesson:
    path = Path(path)
    return parse(path.read_text(encoding="utf-8"), path.name)


def lessons_folder(environ=None) -> Path:
    """The server's lesson folder: ``$DIGIT_LAB_LESSONS``, else ``assets/lessons``."""
    return config.get(config.LESSONS, environ)


def load_folder(folder) -> tuple[tuple[Lesson, ...], list[str]]:
    """Every ``*.toml`` lesson in ``folder`` (by file name), and a message per file that
    could not be used (the others still load)."""
    lessons, errors = [], []
    for path in sorted(Path(folder).glob("*.toml")):
        try:
            lesson = load_file(path)
        except (OSError, UnicodeDecodeError, LessonError) as error:
            errors.append(str(error))
            continue
        if any(other.id == lesson.id for other in lessons):
            errors.append(f"{path.name}: another lesson already has the id {lesson.id!r}")
            continue
        lessons.append(lesson)
    return tuple(lessons), errors


# -- checking --------------------------------------------------------------------------------


def _settings_text(settings: dict) -> str:
    """E.g. "Optimizer Adam, Learning rate 0.01"."""
    def value_text(name, value):
        labels = {"optimizer": OPTIMIZER_LABELS, "activation": ACTIVATION_LABELS}.get(name, {})
        return f"{value:g}" if isinstance(value, float) else str(labels.get(value, value))

    return ", ".join(f"{SETTING_LABELS.get(name, name.capitalize())} {value_text(name, value)}"
                     for name, value in settings.items())


def _matches(run_settings: dict, wanted: dict) -> bool:
    for name, value in wanted.items():
        have = run_settings.get(name)
        if isinstance(value, float):
            if not isinstance(have, (int, float)) or not math.isclose(have, value, rel_tol=1e-9):
                return False
        elif have != value:
            return False
    return True


def goal_met(goal: Goal, runs, since_run: int, visited=()) -> tuple[bool, str]:
    """(met, what the latest run of the step did) for the runs numbered ``since_run`` or
    later (``runs``: :class:`lab.runs.Run`, oldest first) and the pages ``visited``."""
    if goal.kind == "visit":
        return goal.page in set(visited), ""
    mine = [run for run in runs if run.number >= since_run]
    if not mine:
        return False, ""
    latest = mine[-1]
    if goal.kind == "run":
        met = any(run.status == goal.status for run in mine)
        return met, f"run {latest.number} {latest.status}"
    if goal.kind == "runs_with":
        done = [any(run.status == "completed" and _matches(settings_of(run.config), wanted) for run in mine)
                for wanted in goal.runs_with]
        missing = [_settings_text(w) for w, d in zip(goal.runs_with, done) if not d]
        return all(done), ("still to train: " + "; ".join(missing)) if missing else ""
    passing = [run for run in mine if goal.challenge.judge(run)[0]]
    if passing:
        return True, f"run {passing[-1].number}: " + goal.challenge.judge(passing[-1])[1][0]
    return False, f"run {latest.number}: " + "; ".join(goal.challenge.judge(latest)[1])


def step_done(step: Step, runs, since_run: int, visited=(), answer: int | None = None) -> bool:
    """True when ``step``'s goal is met and its question answered right (see :func:`goal_met`)."""
    if step.goal is not None and not goal_met(step.goal, runs, since_run, visited)[0]:
        return False
    return step.question is None or answer == step.question.answer


def available_steps(lesson: Lesson, pages) -> list[int]:
    """Indices of the steps whose page is one of ``pages`` (the app's pages now)."""
    pages = set(pages)
    return [index for index, step in enumerate(lesson.steps) if step.page in pages]
