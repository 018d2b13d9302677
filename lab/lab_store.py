"""The lab store: a user's lab survives a page reload (plain Python, no Streamlit).

Why it exists
-------------
A browser reload opens a *new* Streamlit session, so everything kept only in
``st.session_state`` (run history, current model, settings) would be gone. Each
session therefore gets a **lab id**, ``secrets.token_urlsafe(16)`` (128 random bits),
kept in the page address as the query parameter ``?lab=…``. After every full script
run the session saves the parts of its state worth keeping into this process-wide
store under that id; a new session that arrives with a known ``lab`` parameter
restores them. An id the store does not know (expired, evicted, mistyped or
forged) starts a fresh lab with a short note.

Design rules
------------
* **The id is a capability.** Whoever has the link has the lab (like a private
  document link); sharing the address shares the lab. So ids are unguessable, the
  store never lists them (there is no method that returns ids), an id that does not
  match the token format is refused before any lookup, and an id is never used to
  build a file path (the store is memory only).
* **Bounded.** At most ``max_labs`` labs (default 200, ``$DIGIT_LAB_MAX_LABS``); the
  least recently used one is evicted first, and a lab unused for ``ttl_seconds``
  (default 12 h, ``$DIGIT_LAB_LAB_TTL_SECONDS``) expires. A workshop's labs fit;
  a server left running does not grow without end.
* **Explicit.** The app saves (``save``) and restores (``load``) named keys at
  known points; nothing is captured implicitly.
* **Thread-safe.** One lock guards the map; training threads write to it too.

Why not ``st.cache_resource`` with user data in it: a cached resource is shared by
*every* session and keyed by function arguments, so user data there is one bug away
from being served to another user; it is unbounded unless given ``max_entries``, and
evicting it calls no policy of ours. This store is keyed only by an unguessable id,
has a fixed bound and expiry, and is read and written only through ``load``/``save``.

A run still in progress at a reload
-----------------------------------
Closing the old session stops its job (``on_release`` of the session's jobs), and
nobody is left in that session to collect the stopped run. So a job started by a
session carries a completion callback that calls :meth:`LabStore.collect`: when
the job finishes, its run joins the saved run history (and becomes the saved
current model when it trained something). :meth:`LabStore.save` also collects a
job that finished before the save, so the run is collected exactly once whatever
the order (both happen under the store's lock, guarded by ``job_collected``).

Saved state is a dict with the same keys as the session state (see ``ui/state.py``):
``dataset``, ``session_dataset`` (an uploaded or loaded dataset, kept in memory by
reference), ``settings``, ``job``, ``job_collected``, ``model``, ``runs``,
``next_run``, plus ``dataset_name`` (the label a run collected here is given).
Two tabs on the same lab address each keep their own session; the last one to
save wins for the lab.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, MutableMapping

from . import config
from .jobs import COMPLETED, STOPPED
from .runs import run_from_job

QUERY_PARAM = "lab"
TOKEN_BYTES = 16
# secrets.token_urlsafe(16): 16 bytes -> 22 URL-safe base64 characters, no padding.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")

MAX_LABS_ENV, TTL_ENV = config.MAX_LABS, config.LAB_TTL_SECONDS
DEFAULT_MAX_LABS = config.VARIABLES[MAX_LABS_ENV].default
DEFAULT_TTL_SECONDS = config.VARIABLES[TTL_ENV].default

# The session-state keys saved per lab (equal to the names in ui/state.py; a test checks).
DATASET, SESSION_DATA, SETTINGS = "dataset", "session_dataset", "settings"
JOB, COLLECTED, MODEL, RUNS, NEXT_RUN = "job", "job_collected", "model", "runs", "next_run"
DATASET_NAME = "dataset_name"
SAVED_KEYS = (DATASET, SESSION_DATA, SETTINGS, JOB, COLLECTED, MODEL, RUNS, NEXT_RUN, DATASET_NAME)


def new_lab_id() -> str:
    """A fresh, unguessable lab id (128 random bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_lab_id(value: object) -> bool:
    """True when ``value`` has the exact shape of an id :func:`new_lab_id` makes."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def _copy_state(state: Mapping) -> dict:
    """A shallow copy of the keys worth keeping; lists and the settings dict copied too,
    so later changes in the session do not reach the saved lab (and vice versa)."""
    saved = {key: state[key] for key in SAVED_KEYS if key in state}
    if isinstance(saved.get(RUNS), list):
        saved[RUNS] = list(saved[RUNS])
    if isinstance(saved.get(SETTINGS), dict):
        saved[SETTINGS] = dict(saved[SETTINGS])
    return saved


def collect_finished_job(saved: MutableMapping) -> bool:
    """If ``saved``'s job has finished and is not collected yet, add its run to the run
    history (and make it the current model when it trained something). True if it did."""
    job = saved.get(JOB)
    if job is None or saved.get(COLLECTED, True) or not job.done:
        return False
    number = int(saved.get(NEXT_RUN, 1)) - 1
    run = run_from_job(job, number=number, dataset=saved.get(DATASET_NAME) or "")
    saved[RUNS] = [*saved.get(RUNS, []), run.for_history()]
    if run.network is not None and run.status in (COMPLETED, STOPPED):
        saved[MODEL] = run
    saved[COLLECTED] = True
    return True


class LabStore:
    """Lab id -> the lab's saved state; bounded (LRU + TTL) and thread-safe.

    There is deliberately no way to list ids: a caller must already hold one.
    """

    def __init__(self, max_labs: int | None = None, ttl_seconds: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.max_labs = int(max_labs if max_labs is not None else config.get(MAX_LABS_ENV))
        self.ttl_seconds = float(ttl_seconds if ttl_seconds is not None else config.get(TTL_ENV))
        if self.max_labs < 1 or self.ttl_seconds <= 0:
            raise ValueError("max_labs must be >= 1 and ttl_seconds > 0")
        self._clock = clock
        self._lock = threading.Lock()
        self._labs: OrderedDict[str, tuple[float, dict]] = OrderedDict()  # id -> (last use, state)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._labs)

    def __repr__(self) -> str:  # never show ids
        return f"<LabStore {len(self)} labs, max {self.max_labs}, ttl {self.ttl_seconds:g} s>"

    # -- under the lock ----------------------------------------------------------------

    def _expire(self) -> None:
        cutoff = self._clock() - self.ttl_seconds
        while self._labs:
            oldest_id, (used, _) = next(iter(self._labs.items()))
            if used > cutoff:
                break
            del self._labs[oldest_id]

    def _get(self, lab_id: str) -> dict | None:
        self._expire()
        entry = self._labs.get(lab_id)
        if entry is None:
            return None
        self._labs[lab_id] = (self._clock(), entry[1])
        self._labs.move_to_end(lab_id)
        return entry[1]

    # -- public ------------------------------------------------------------------------

    def load(self, lab_id: object) -> dict | None:
        """A copy of the lab's saved state, or None (unknown, expired or malformed id).
        Loading counts as a use (it refreshes the lab's expiry and LRU place)."""
        if not is_lab_id(lab_id):
            return None
        with self._lock:
            saved = self._get(lab_id)
            if saved is None:
                return None
            collect_finished_job(saved)
            return _copy_state(saved)

    def save(self, lab_id: str, state: Mapping) -> None:
        """Save (replace) the lab's state; evicts the least recently used lab when full.
        A job in ``state`` that has already finished is collected into the saved copy."""
        if not is_lab_id(lab_id):
            raise ValueError("not a lab id")
        saved = _copy_state(state)
        with self._lock:
            self._expire()
            self._labs[lab_id] = (self._clock(), saved)
            self._labs.move_to_end(lab_id)
            while len(self._labs) > self.max_labs:
                self._labs.popitem(last=False)
            collect_finished_job(saved)

    def collect(self, lab_id: str, job) -> bool:
        """A job of this lab finished: collect its run into the saved state, if that
        state still holds this job uncollected (a job's completion callback)."""
        if not is_lab_id(lab_id):
            return False
        with self._lock:
            entry = self._labs.get(lab_id)  # no expiry refresh: nobody is using the lab
            if entry is None or entry[1].get(JOB) is not job:
                return False
            return collect_finished_job(entry[1])

    def discard(self, lab_id: str) -> None:
        with self._lock:
            self._labs.pop(lab_id, None)

    def __contains__(self, lab_id: object) -> bool:
        if not is_lab_id(lab_id):
            return False
        with self._lock:
            self._expire()
            return lab_id in self._labs


_default: LabStore | None = None
_default_lock = threading.Lock()


def default_store() -> LabStore:
    """The server process's one lab store (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = LabStore()
        return _default
