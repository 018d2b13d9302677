"""Locked exercise links: the facilitator fixes and hides chosen controls and pages (no Streamlit).

TensorFlow Playground hides parts of its page with ``_hide`` parameters; here a facilitator
composes a link on the Train page (with the facilitator's token) such as::

    /train?ep=5&lr=0.1&w=16&...&fix=opt&hide=lr.conv.presets&hide_pages=gradients.weights&sig=3f0c…

* ``fix``: controls shown but disabled, fixed at the link's values;
* ``hide``: controls (and panels) not drawn at all; their settings are fixed too;
* ``hide_pages``: pages left out of the navigation (Home and Train always stay);
* ``sig``: an HMAC-SHA256 signature (:mod:`lab.facilitator`) keyed with the facilitator's
  token over the lock and the values it fixes.

How a participant is kept from unhiding what the link hides:

1. The signature covers ``fix``, ``hide``, ``hide_pages`` and the value of every fixed or
   hidden setting. A link whose lock or fixed values were edited fails the check and opens
   without any lock (with a note saying so); so does a lock made up without the token.
   Settings the lock leaves free may be edited in the link: they are free on the page too.
2. A lock, once opened, belongs to the session's lab: it is kept in the database
   (:class:`LockStore`, table ``exercise_locks``, keyed by a hash of the lab id), so
   reloading the lab without the link's parameters (``?lab=…`` alone) keeps it.
3. Hidden controls and pages are not rendered at all (not merely disabled or styled away),
   and the session's settings are brought back to the fixed values before every run.

What it does not do: a participant who opens the app's plain address gets a fresh lab with
nothing hidden. A lock guides an exercise; it is not an access control on the server.
A later signed link replaces a lab's lock; a signed link that locks nothing lifts it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select, update

from . import facilitator, storage, url_settings
from .schema import exercise_locks
from .settings import ACTIVATION_LABELS, OPTIMIZER_LABELS, SETTING_LABELS, setting

# Control name (in links) -> the settings it fixes, in the Train page's order.
CONTROLS: dict[str, tuple[str, ...]] = {
    "ep": ("epochs",),
    "lr": ("learning_rate",),
    "w": ("width",),
    "hl": ("layers",),
    "act": ("activation",),
    "opt": ("optimizer",),
    "bs": ("batch_mode", "batch_size"),
    "l2": ("l2",),
    "seed": ("seed",),
    "conv": ("conv_layers", "conv_filters", "conv_filters_2", "conv_kernel", "conv_padding", "conv_pool"),
    "aug": ("augment",),
}
CONTROL_LABELS = {"ep": "Epochs", "lr": "Learning rate", "w": "Hidden width", "hl": "Hidden layers",
                  "act": "Activation", "opt": "Optimizer", "bs": "Batch (mode and size)",
                  "l2": SETTING_LABELS["l2"], "seed": "Seed", "conv": "Convolution layers",
                  "aug": SETTING_LABELS["augment"]}
# Parts of the pages a link may hide (not settings: nothing to fix).
PANELS = {"presets": "Preset experiments", "challenge": "Challenge picker", "share": "Share these settings",
          "lessons": "Lesson picker"}
FIX, HIDE, HIDE_PAGES, SIGNATURE = "fix", "hide", "hide_pages", "sig"
PARAMS = (FIX, HIDE, HIDE_PAGES, SIGNATURE)
ALWAYS_SHOWN_PAGES = ("home", "train")
_PAGE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
SEPARATOR = "."  # unlike a comma, a dot stays readable in an address
MAX_LIST_LENGTH = 200


class LockError(ValueError):
    """A lock that cannot be made or used, with a message."""


@dataclass(frozen=True)
class ExerciseLock:
    """``values``: setting -> fixed value, for every fixed or hidden control; ``fixed``:
    controls shown disabled; ``hidden``: controls and panels not drawn; ``pages``: pages
    not in the navigation."""

    values: dict = field(default_factory=dict)
    fixed: frozenset = frozenset()
    hidden: frozenset = frozenset()
    pages: frozenset = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.fixed or self.hidden or self.pages)

    def fixes(self, setting: str) -> bool:
        """True when ``setting`` (a Train page setting name) is fixed by this lock."""
        return setting in self.values

    def hides(self, control: str) -> bool:
        """True when ``control`` (a :data:`CONTROLS` or :data:`PANELS` name) is not drawn."""
        return control in self.hidden

    def apply(self, settings: dict) -> tuple[dict, list[str]]:
        """(``settings`` with the fixed values, a note per change)."""
        settings = dict(settings)
        notes = []
        for name, value in self.values.items():
            if settings.get(name) != value:
                notes.append(f"{SETTING_LABELS.get(name, name.capitalize())} is fixed at {_show(value, name)} "
                             "by the exercise.")
                settings[name] = value
        return settings, notes

    def describe(self) -> list[str]:
        """What the lock fixes and hides, in words (for the page's note)."""
        lines = []
        fixed = [self._value_text(c) for c in CONTROLS if c in self.fixed or c in self.hidden]
        if fixed:
            lines.append("fixed: " + ", ".join(fixed))
        panels = [PANELS[p] for p in PANELS if p in self.hidden]
        if panels:
            lines.append("not shown: " + ", ".join(panels))
        if self.pages:
            lines.append("pages not shown: " + ", ".join(p.replace("_", " ").capitalize() for p in sorted(self.pages)))
        return lines

    def _value_text(self, control: str) -> str:
        """E.g. "Learning rate 0.1", "mini-batches of 128", "no convolution layers"."""
        if control == "bs":
            mode, size = self.values.get("batch_mode"), self.values.get("batch_size")
            return "full batch" if mode == "Full batch" else f"mini-batches of {size}"
        if control == "conv":
            layers = self.values.get("conv_layers", 0)
            return "no convolution layers" if not layers else f"{layers} convolution layer{'s' if layers > 1 else ''}"
        name = CONTROLS[control][0]
        return f"{CONTROL_LABELS[control]} {_show(self.values.get(name), name)}"

    def merged(self, other: ExerciseLock | None) -> ExerciseLock:
        """Both locks at once; where both fix a setting, ``other`` (e.g. the link's) wins."""
        if other is None:
            return self
        return ExerciseLock({**self.values, **other.values}, self.fixed | other.fixed,
                            self.hidden | other.hidden, self.pages | other.pages)

    # -- as text --------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps({"values": self.values, "fixed": sorted(self.fixed), "hidden": sorted(self.hidden),
                           "pages": sorted(self.pages)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExerciseLock:
        data = json.loads(text)
        return cls(dict(data["values"]), frozenset(data["fixed"]), frozenset(data["hidden"]),
                   frozenset(data["pages"]))

    def params(self) -> dict[str, str]:
        """The link parameters of the lock, without the signature (empty lists left out)."""
        lists = {FIX: [c for c in CONTROLS if c in self.fixed],
                 HIDE: [c for c in (*CONTROLS, *PANELS) if c in self.hidden],
                 HIDE_PAGES: sorted(self.pages)}
        return {name: SEPARATOR.join(items) for name, items in lists.items() if items}

    def message(self) -> str:
        """The text the signature covers: the lock's lists and every fixed value."""
        lines = [f"{name}={value}" for name, value in sorted(self.params().items())]
        lines += [f"{name}={json.dumps(value)}" for name, value in sorted(self.values.items())]
        return "\n".join(lines)


def _show(value, setting: str = "") -> str:
    """A setting's value as the Train page shows it ("SGD", "0.1")."""
    labels = {"optimizer": OPTIMIZER_LABELS, "activation": ACTIVATION_LABELS}.get(setting, {})
    return f"{value:g}" if isinstance(value, float) else str(labels.get(value, value))


def make_lock(settings: dict, fixed=(), hidden=(), pages=()) -> ExerciseLock:
    """The lock that fixes controls ``fixed``, hides ``hidden`` (controls and panels) and
    pages ``pages``, at the values of ``settings``; LockError for a name it does not know."""
    fixed, hidden, pages = frozenset(fixed), frozenset(hidden), frozenset(pages)
    unknown = sorted((fixed - set(CONTROLS)) | (hidden - set(CONTROLS) - set(PANELS)))
    if unknown:
        raise LockError(f"unknown control(s) {', '.join(map(repr, unknown))}; known: "
                        f"{', '.join([*CONTROLS, *PANELS])}")
    bad_pages = sorted(p for p in pages if not _PAGE_NAME.match(p) or p in ALWAYS_SHOWN_PAGES)
    if bad_pages:
        raise LockError(f"page(s) {', '.join(map(repr, bad_pages))} cannot be hidden "
                        f"({' and '.join(ALWAYS_SHOWN_PAGES)} always stay)")
    values = {}
    for control in CONTROLS:
        if control in fixed or control in hidden:
            for name in CONTROLS[control]:
                values[name] = setting(settings, name)
    return ExerciseLock(values, fixed - hidden, hidden, pages)


def signed_params(lock: ExerciseLock, token: str) -> dict[str, str]:
    """The lock's link parameters with its signature under ``token``."""
    return {**lock.params(), SIGNATURE: facilitator.sign(lock.message(), token)}


def compose_link(settings: dict, token: str, fixed=(), hidden=(), pages=(), base_url: str = "",
                 extra: dict | None = None, expected_token: str | None = None) -> str:
    """The facilitator's link: the Train page with ``settings`` and the signed lock.

    The lock is made from the settings as the link carries them (``to_params`` then
    ``from_params``), exactly as the participant's session will read them back, so the
    signature holds (e.g. a dense network's link has no conv values at all)."""
    facilitator.check_token(token, expected_token)
    carried, _ = url_settings.from_params(url_settings.to_params(settings))
    lock = make_lock(carried, fixed, hidden, pages)
    return url_settings.share_link(carried, base_url, extra={**(extra or {}), **signed_params(lock, token)})


def has_lock(params: Mapping) -> bool:
    """True when the address carries any lock parameter."""
    return any(name in params for name in PARAMS)


def _names(params: Mapping, name: str) -> list[str]:
    text = str(url_settings.first_value(params.get(name, "")) or "").strip()[:MAX_LIST_LENGTH]
    return [item for item in text.split(SEPARATOR) if item]


def lock_from_params(params: Mapping, settings: dict, token: str) -> tuple[ExerciseLock | None, str | None]:
    """(the link's lock, None) when its signature holds under ``token``; else (None, why).

    ``settings``: the settings the same link gives (:func:`lab.url_settings.from_params`),
    whose values the lock fixes. (None, None) when the address carries no lock.
    """
    if not has_lock(params):
        return None, None
    if not token:
        return None, ("This server has no facilitator token, so the exercise link's locks cannot be "
                      "checked: it opens without them.")
    try:
        lock = make_lock(settings, _names(params, FIX), _names(params, HIDE), _names(params, HIDE_PAGES))
    except LockError:
        lock = None
    signature = str(url_settings.first_value(params.get(SIGNATURE, "")) or "")
    if lock is None or not facilitator.verify(lock.message(), signature, token):
        return None, ("This exercise link was changed after the facilitator made it (or comes from "
                      "another server): it opens without its locks. Ask the facilitator for the link.")
    return lock, None


# -- a lab's lock, kept in the database ----------------------------------------------------

MAX_LOCKS = 20_000  # rows kept; the oldest go first
LOCK_TTL_SECONDS = 7 * 24 * 3600.0  # a lock unused this long is forgotten


def lab_key(lab_id: str) -> str:
    return hashlib.sha256(f"exercise-lock:{lab_id}".encode()).hexdigest()[:32]


class LockStore:
    """Which lock each lab was opened with, in the app's database (bounded: at most
    :data:`MAX_LOCKS` rows, none older than :data:`LOCK_TTL_SECONDS`)."""

    def __init__(self, url: str | None = None, max_locks: int = MAX_LOCKS):
        self.database = storage.database(url)
        self.max_locks = max_locks

    def save(self, lab_id: str, lock: ExerciseLock) -> None:
        """Keep ``lock`` for lab ``lab_id`` (an empty lock lifts the lab's)."""
        key, now = lab_key(lab_id), time.time()
        columns = exercise_locks.c
        with self.database.write(exclusive=True) as connection:
            connection.execute(delete(exercise_locks).where(columns.updated < now - LOCK_TTL_SECONDS))
            if lock.empty:
                connection.execute(delete(exercise_locks).where(columns.lab_key == key))
                return
            changed = connection.execute(update(exercise_locks).where(columns.lab_key == key).values(
                lock=lock.to_json(), updated=now)).rowcount
            if not changed:
                connection.execute(insert(exercise_locks).values(lab_key=key, lock=lock.to_json(), updated=now))
            beyond = select(columns.lab_key).order_by(columns.updated.desc()).offset(self.max_locks)
            connection.execute(delete(exercise_locks).where(columns.lab_key.in_(beyond.scalar_subquery())))

    def load(self, lab_id: str) -> ExerciseLock | None:
        """Lab ``lab_id``'s lock, or None."""
        columns = exercise_locks.c
        with self.database.read() as connection:
            text = connection.scalar(select(columns.lock).where(
                columns.lab_key == lab_key(lab_id), columns.updated >= time.time() - LOCK_TTL_SECONDS))
        return None if text is None else ExerciseLock.from_json(text)
