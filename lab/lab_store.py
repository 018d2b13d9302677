"""The lab store: a user's lab lives in the database, so it survives a reload, a restart,
and a session that lands on another server process (plain Python, no Streamlit).

Why it exists
-------------
A browser reload opens a *new* Streamlit session, so everything kept only in
``st.session_state`` would be gone; a server process that dies takes its memory with it;
behind nginx a reconnecting browser may reach another process. Each session therefore gets
a **lab id**, ``secrets.token_urlsafe(16)`` (128 random bits), kept in the page address as
``?lab=…``, and the lab is written to the app's database (:mod:`lab.storage`, the same one
as the leaderboard: SQLite by default, PostgreSQL for several machines). Any process opens
it again from there (:meth:`LabStore.load`).

What is stored (tables ``labs`` and ``lab_runs``, see :mod:`lab.schema`; encodings in
:mod:`lab.lab_records`): the settings, a reference to the dataset, every run with its
settings, status and curves, the weights of the last ``$DIGIT_LAB_LAB_WEIGHT_RUNS`` runs
within ``$DIGIT_LAB_LAB_MAX_BYTES`` (always those of the current model), and which run is
the current model. When it is written, each time in one short transaction:

- **a run**: its number is allocated in the database when it starts (so two tabs of one lab
  never share a number, and a reload shows the union of their runs); while it trains, a
  checkpoint (its latest weights and curves) at the end of an epoch, at most every
  ``$DIGIT_LAB_CHECKPOINT_SECONDS`` and never for more than 5% of its training time; when it
  ends, the finished run (before the page is told it has finished);
- **the settings, the dataset, the current model**: when they change (``ui.state.persist``).

A lab nobody did anything in (a page load) is never written. A lab unused for
``$DIGIT_LAB_LAB_TTL_SECONDS`` (12 h) is deleted with its runs.

A run still queued or training is marked with its server process (:mod:`lab.processes`),
which refreshes a heartbeat every few seconds. A process that opens the lab and finds the
run's process gone marks the run "interrupted at epoch k": its last checkpoint's weights
are kept, and the Train page offers to continue it.

Design rules
------------
* **The id is a capability.** Whoever has the link has the lab. The database stores only
  the SHA-256 of the id; nothing lists labs; an id that does not match the token format is
  refused before any lookup; an id never names a file.
* **Memory is a cache.** Each process keeps the decoded runs of up to ``max_labs`` labs
  (``$DIGIT_LAB_MAX_LABS``) in at most ``$DIGIT_LAB_LAB_CACHE_MB``, least recently used out
  first, ``ttl_seconds`` at most, and the jobs it trains. Every load asks the database which
  runs exist and at which revision, and decodes only what changed: leaving the cache never
  loses a lab, and a lab written by another process is never served stale.
* **Thread-safe.** One lock guards the cache; training threads write checkpoints too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy import case, delete, select, update

from . import config, lab_records, processes, storage
from .data import SplitData
from .jobs import ACTIVE_STATUSES, COMPLETED, QUEUED, RUNNING, STOPPED, TrainingJob
from .lab_loading import (  # noqa: F401 (the keys of a loaded lab are this module's names too)
    COLLECTED,
    DATA_NOTE,
    DATASET,
    JOB,
    LIVE_JOBS,
    MODEL,
    NEXT_RUN,
    RUNS,
    SESSION_DATA,
    SETTINGS,
    STALE_SECONDS,
    TOUCH_SECONDS,
    CachedLab,
    LabLoading,
)
from .lab_records import TOKEN_BYTES, checked_key, is_lab_id, new_lab_id  # noqa: F401 (the ids' home is here)
from .runs import Run, run_from_job
from .schema import lab_runs, labs

logger = logging.getLogger(__name__)

QUERY_PARAM = "lab"
MAX_LABS_ENV, TTL_ENV = config.MAX_LABS, config.LAB_TTL_SECONDS
DEFAULT_MAX_LABS = config.VARIABLES[MAX_LABS_ENV].default
DEFAULT_TTL_SECONDS = config.VARIABLES[TTL_ENV].default
HEARTBEAT_SECONDS = 5.0  # a process marks its queued and running runs alive this often
EXPIRE_EVERY_SECONDS = 600.0  # how often a process deletes expired labs
MAX_CHECKPOINT_SHARE = 0.05  # checkpoints take at most this share of a job's training time



class Checkpoints:
    """Decides when a running job saves a checkpoint, and counts what they cost.

    At the end of an epoch, when at least ``min_seconds`` of training passed since the
    last one (since the start for the first), and at least 19 times the last one's cost:
    so checkpoints never take more than ``MAX_CHECKPOINT_SHARE`` (5%) of the training time.
    """

    def __init__(self, write: Callable, min_seconds: float, clock: Callable[[], float] = time.perf_counter):
        self._write, self.min_seconds, self._clock = write, float(min_seconds), clock
        self._last: float | None = None
        self._wait = float(min_seconds)
        self.count, self.seconds = 0, 0.0

    def __call__(self, job: TrainingJob, network, history) -> None:
        now = self._clock()
        if self._last is None:
            self._last = now - sum(history.epoch_seconds)  # about when training began
        if now - self._last < self._wait:
            return
        self._write(job, network, history)
        cost = self._clock() - now
        self.count, self.seconds = self.count + 1, self.seconds + cost
        self._last = self._clock()
        self._wait = max(self.min_seconds, cost * (1 - MAX_CHECKPOINT_SHARE) / MAX_CHECKPOINT_SHARE)


class StartedRun(NamedTuple):
    number: int
    checkpoints: Checkpoints


class LabStore(LabLoading):
    """Labs in the database, with a bounded cache of decoded runs in front (thread-safe).

    ``url``: the database (default: the configured one, looked up at each use); ``process``:
    the identity its runs are marked with (default: this process's, :mod:`lab.processes`).
    There is deliberately no way to list ids: a caller must already hold one.
    """

    def __init__(self, max_labs: int | None = None, ttl_seconds: float | None = None,
                 clock: Callable[[], float] = time.time, *, url: str | None = None,
                 keep_runs: int | None = None, max_bytes: int | None = None,
                 checkpoint_seconds: float | None = None, process: str | None = None,
                 cache_bytes: int | None = None):
        self.max_labs = int(max_labs if max_labs is not None else config.get(MAX_LABS_ENV))
        self.ttl_seconds = float(ttl_seconds if ttl_seconds is not None else config.get(TTL_ENV))
        if self.max_labs < 1 or self.ttl_seconds <= 0:
            raise ValueError("max_labs must be >= 1 and ttl_seconds > 0")
        self.keep_runs = int(keep_runs if keep_runs is not None else config.get(config.LAB_WEIGHT_RUNS))
        self.max_bytes = int(max_bytes if max_bytes is not None else config.get(config.LAB_MAX_BYTES))
        self.cache_bytes = int(cache_bytes if cache_bytes is not None else config.get(config.LAB_CACHE_MB) * 2**20)
        self.checkpoint_seconds = float(checkpoint_seconds if checkpoint_seconds is not None
                                        else config.get(config.CHECKPOINT_SECONDS))
        self.url = url
        self.process = process or processes.this_process()  # which process holds its runs
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, CachedLab] = OrderedDict()
        self._live: dict[tuple[str, int], TrainingJob] = {}  # jobs this process trains
        self._starting: dict[str, int] = {}  # labs with a run being numbered right now
        self._heartbeat: threading.Thread | None = None
        self._last_expiry = float("-inf")

    @property
    def database(self) -> storage.Database:
        return storage.database(self.url)

    def __len__(self) -> int:
        """Labs in this process's cache (the database may hold more)."""
        with self._lock:
            self._expire_cache()
            return len(self._cache)

    def __repr__(self) -> str:  # never show ids
        return f"<LabStore {len(self)} labs cached, max {self.max_labs}, ttl {self.ttl_seconds:g} s>"

    def __contains__(self, lab_id: object) -> bool:
        """True when the database has this lab (and it has not expired)."""
        if not is_lab_id(lab_id):
            return False
        with self.database.read() as connection:
            used = connection.scalar(select(labs.c.used).where(labs.c.lab_key == lab_records.lab_key(lab_id)))
        return used is not None and used > self._clock() - self.ttl_seconds

    # -- the cache (under self._lock) ------------------------------------------------------

    def _expire_cache(self) -> None:
        """Labs leave the cache (never the database), least recently used first: beyond
        ``max_labs``, unused for the TTL, or while the cache holds more than ``cache_bytes``
        (the most recent lab always stays)."""
        cutoff = self._clock() - self.ttl_seconds
        sizes = {key: entry.nbytes() for key, entry in self._cache.items()}
        total = sum(sizes.values())
        while self._cache:
            key, entry = next(iter(self._cache.items()))
            over = len(self._cache) > self.max_labs or (total > self.cache_bytes and len(self._cache) > 1)
            if entry.used > cutoff and not over:
                break
            del self._cache[key]
            total -= sizes[key]

    def _cached(self, key: str) -> CachedLab:
        entry = self._cache.get(key)
        if entry is None:
            entry = self._cache[key] = CachedLab(used=self._clock())
        entry.used = self._clock()
        self._cache.move_to_end(key)
        self._expire_cache()
        return self._cache.get(key) or entry

    # -- writing ---------------------------------------------------------------------------

    def _ensure_lab(self, connection, key: str, now: float, settings: dict | None = None, next_run: int = 1) -> None:
        """Make the lab's row if it has none (the first thing done in a lab stores it)."""
        self.database.insert_new(connection, labs, lab_key=key, created=now, used=now, next_run=next_run,
                                 current_run=None, settings=lab_records.settings_json(settings),
                                 dataset=lab_records.settings_json({"key": lab_records.SHARED_DATASET}))

    def save_settings(self, lab_id: str, settings: dict) -> None:
        """The Train page's settings changed."""
        key, now = checked_key(lab_id), self._clock()
        with self.database.write() as connection:
            self._ensure_lab(connection, key, now, settings)
            connection.execute(update(labs).where(labs.c.lab_key == key).values(
                settings=lab_records.settings_json(settings), used=now))

    def save_dataset(self, lab_id: str, dataset_key: str, split: SplitData | None) -> None:
        """The lab's data changed: the shared ``dataset_key``, or the session's own ``split``
        (its arrays stay in this process's memory only)."""
        key, now = checked_key(lab_id), self._clock()
        reference = lab_records.dataset_reference(dataset_key, split)
        with self.database.write() as connection:
            self._ensure_lab(connection, key, now)
            connection.execute(update(labs).where(labs.c.lab_key == key).values(
                dataset=lab_records.settings_json(reference), used=now))
        with self._lock:
            self._cached(key).session_data = split

    def set_current(self, lab_id: str, number: int | None) -> None:
        """Run ``number`` is the lab's current model (None: no current model, after Reset)."""
        key, now = checked_key(lab_id), self._clock()
        with self.database.write() as connection:
            self._ensure_lab(connection, key, now)
            connection.execute(update(labs).where(labs.c.lab_key == key).values(current_run=number, used=now))

    def _allocate(self, connection, key: str, at_least: int) -> int:
        """The lab's next run number (at least ``at_least``), taken for good."""
        next_run = labs.c.next_run
        higher = case((next_run > at_least, next_run), else_=at_least)
        return connection.execute(update(labs).where(labs.c.lab_key == key)
                                  .values(next_run=higher + 1).returning(next_run)).scalar_one() - 1

    def start_run(self, lab_id: str, job: TrainingJob, *, dataset: str, settings: dict | None = None,
                  at_least: int = 1) -> StartedRun:
        """Number ``job``'s run in the database (at least ``at_least``; its row says "queued",
        held by this process), store the settings it starts with, and save the job while it
        trains (checkpoints) and when it ends. Call before ``job.start()``; sets ``job.number``."""
        key, now = checked_key(lab_id), self._clock()
        values = lab_records.run_values(Run(0, job.config, QUEUED, "Waiting to start.", None,
                                            job.history, dataset, 0.0, class_names=job.class_names or ()))
        with self._lock:  # until the job is registered, this process's new row is not "gone"
            self._starting[key] = self._starting.get(key, 0) + 1
        try:
            with self.database.write() as connection:
                self._ensure_lab(connection, key, now, settings)
                if settings is not None:
                    connection.execute(update(labs).where(labs.c.lab_key == key).values(
                        settings=lab_records.settings_json(settings), used=now))
                number = self._allocate(connection, key, at_least)
                connection.execute(lab_runs.insert().values(
                    lab_key=key, number=number, revision=1, process=self.process, heartbeat=now,
                    updated=now, **values))
            job.number = number
            checkpoints = Checkpoints(
                lambda job, network, history: self._checkpoint(key, number, job, network, history),
                self.checkpoint_seconds)
            job.add_epoch_hook(checkpoints)
            job.add_finish_hook(lambda job: self._finish(key, number, job, dataset))
            with self._lock:
                self._live[(key, number)] = job
                if self._heartbeat is None or not self._heartbeat.is_alive():
                    self._heartbeat = threading.Thread(target=self._beat, name="lab-heartbeat", daemon=True)
                    self._heartbeat.start()
        finally:
            with self._lock:
                self._starting[key] -= 1
                if not self._starting[key]:
                    del self._starting[key]
        return StartedRun(number, checkpoints)

    def _checkpoint(self, key: str, number: int, job: TrainingJob, network, history) -> None:
        """A running job's latest weights and curves (in its thread, between two epochs)."""
        now = self._clock()
        weights = lab_records.weights_bytes(network)
        snapshot = job.snapshot()
        with self.database.write() as connection:
            written = connection.execute(update(lab_runs).where(
                lab_runs.c.lab_key == key, lab_runs.c.number == number,
                lab_runs.c.process == self.process).values(
                status=RUNNING, message=f"Training: epoch {len(history.epoch)} of {job.config.epochs}.",
                epochs_done=len(history.epoch), history=lab_records.history_json(history, epochs_only=True),
                weights=weights, weights_bytes=len(weights), seconds=snapshot.elapsed, heartbeat=now,
                updated=now, revision=lab_runs.c.revision + 1)).rowcount
            connection.execute(update(labs).where(labs.c.lab_key == key).values(used=now))
        if not written:
            logger.warning("run %s of a lab was taken over or deleted; its checkpoint was not saved", number)

    def _finish(self, key: str, number: int, job: TrainingJob, dataset: str) -> None:
        """The job has ended: write the finished run (and the lab's current model when it
        becomes it), apply the lab's bounds, keep the full run in the cache."""
        try:
            run = run_from_job(job, number=number, dataset=dataset)
            current = run.network is not None and run.status in (COMPLETED, STOPPED)
            now = self._clock()
            values = lab_records.run_values(run)
            with self.database.write() as connection:
                self._ensure_lab(connection, key, now, next_run=number + 1)  # (expired meanwhile)
                revision = connection.execute(update(lab_runs).where(
                    lab_runs.c.lab_key == key, lab_runs.c.number == number).values(
                    process=None, heartbeat=None, updated=now, revision=lab_runs.c.revision + 1, **values)
                    .returning(lab_runs.c.revision)).scalar()
                if revision is None:  # the lab expired meanwhile: write the run again
                    revision = 1
                    connection.execute(lab_runs.insert().values(lab_key=key, number=number, revision=1,
                                                                updated=now, **values))
                lab_values = {"used": now, **({"current_run": number} if current else {})}
                connection.execute(update(labs).where(labs.c.lab_key == key).values(**lab_values))
                self._apply_bounds(connection, key)
            with self._lock:
                entry = self._cached(key)
                entry.runs[number] = (revision, run.for_history())
                if current:
                    entry.model = (number, revision, run)
                self._bound_cached(entry)
        except Exception:  # the run stays in the session; a message in the log
            logger.exception("saving run %s of a lab failed", number)
        finally:
            with self._lock:
                self._live.pop((key, number), None)

    def add_run(self, lab_id: str, run: Run, current: bool = True) -> int:
        """Store a finished run made outside a job (an uploaded model), numbered in the
        database; ``run.number`` is set to its number, which is returned."""
        key, now = checked_key(lab_id), self._clock()
        values = lab_records.run_values(run)
        with self.database.write() as connection:
            self._ensure_lab(connection, key, now)
            run.number = self._allocate(connection, key, run.number)
            connection.execute(lab_runs.insert().values(lab_key=key, number=run.number, revision=1,
                                                        updated=now, **values))
            if current:
                connection.execute(update(labs).where(labs.c.lab_key == key).values(current_run=run.number))
            self._apply_bounds(connection, key)
        with self._lock:
            entry = self._cached(key)
            entry.runs[run.number] = (1, run.for_history())
            if current:
                entry.model = (run.number, 1, run)
            self._bound_cached(entry)
        return run.number

    def _bound_cached(self, entry: CachedLab) -> None:
        """The lab's bounds on the runs it keeps decoded (as :meth:`_apply_bounds` in the
        database): the most recent lab never leaves the cache, so without them a session
        that starts run after run would keep a network per run in memory."""
        current = entry.model[0] if entry.model is not None else None
        ended = [run for _, run in entry.runs.values() if run.status not in ACTIVE_STATUSES]
        for run in lab_records.bound_runs(ended, current, self.keep_runs, self.max_bytes):
            entry.runs[run.number] = (entry.runs[run.number][0], run)

    def _apply_bounds(self, connection, key: str) -> None:
        """Drop the weights of the runs beyond the lab's bounds (never the current model's
        or a queued or running run's)."""
        current = connection.scalar(select(labs.c.current_run).where(labs.c.lab_key == key))
        rows = connection.execute(select(lab_runs.c.number, lab_runs.c.weights_bytes).where(
            lab_runs.c.lab_key == key, lab_runs.c.weights.is_not(None),
            lab_runs.c.status.not_in(list(ACTIVE_STATUSES)))).all()
        keep = lab_records.weights_to_keep(dict(rows), current, self.keep_runs, self.max_bytes)
        drop = [number for number, _ in rows if number not in keep]
        if drop:
            connection.execute(update(lab_runs).where(lab_runs.c.lab_key == key, lab_runs.c.number.in_(drop))
                               .values(weights=None, weights_bytes=0, revision=lab_runs.c.revision + 1))

    def _beat(self) -> None:
        """While this process trains jobs: refresh their heartbeat (other machines look at it)."""
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            with self._lock:
                if not self._live:
                    self._heartbeat = None
                    return
            with contextlib.suppress(Exception):
                with self.database.write() as connection:
                    connection.execute(update(lab_runs).where(
                        lab_runs.c.process == self.process,
                        lab_runs.c.status.in_(list(ACTIVE_STATUSES))).values(heartbeat=self._clock()))

    # -- expiry ----------------------------------------------------------------------------

    def _expire_database(self, now: float) -> None:
        """Delete the labs unused for the TTL (and their runs), at most every few minutes;
        a lab with a run training somewhere is never deleted."""
        with self._lock:
            if now - self._last_expiry < EXPIRE_EVERY_SECONDS:
                return
            self._last_expiry = now
        self.expire(now)

    def expire(self, now: float | None = None) -> int:
        """Delete the expired labs now; returns how many went."""
        now = self._clock() if now is None else now
        active = select(lab_runs.c.lab_key).where(lab_runs.c.status.in_(list(ACTIVE_STATUSES)),
                                                  lab_runs.c.heartbeat > now - STALE_SECONDS)
        expired = select(labs.c.lab_key).where(labs.c.used <= now - self.ttl_seconds,
                                               labs.c.lab_key.not_in(active))
        try:
            with self.database.write() as connection:
                connection.execute(delete(lab_runs).where(lab_runs.c.lab_key.in_(expired)))
                return connection.execute(delete(labs).where(labs.c.lab_key.in_(expired))).rowcount
        except Exception:
            logger.exception("deleting expired labs failed")
            return 0

    def discard(self, lab_id: str) -> None:
        """Delete a lab and its runs."""
        key = checked_key(lab_id)
        with self.database.write() as connection:
            connection.execute(delete(lab_runs).where(lab_runs.c.lab_key == key))
            connection.execute(delete(labs).where(labs.c.lab_key == key))
        with self._lock:
            self._cache.pop(key, None)


_default: LabStore | None = None
_default_lock = threading.Lock()


def default_store() -> LabStore:
    """The server process's one lab store (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = LabStore()
        return _default
