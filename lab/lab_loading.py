"""Reading a lab back from the database (the :class:`lab.lab_store.LabStore` methods that
load one; no Streamlit): which of its runs still train and where, which were interrupted
because their server process is gone, and the decoded runs, with a cache in front.

A run still queued or training names its server process (:mod:`lab.processes`). This
process's own runs are the jobs it trains; a process of this machine is looked up in
``/proc``; another machine's is judged by the heartbeat it writes every few seconds. A run
whose process is gone is marked "interrupted" (once, in the database) with the epoch of its
last checkpoint, whose weights it keeps.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from sqlalchemy import select, update

from . import lab_records, processes
from .data import SplitData
from .jobs import ACTIVE_STATUSES, INTERRUPTED, TrainingJob
from .runs import Run
from .schema import lab_runs, labs

logger = logging.getLogger(__name__)

STALE_SECONDS = 30.0  # another machine's run without a heartbeat this long: its process is gone
TOUCH_SECONDS = 60.0  # a load refreshes the lab's last use at most this often (or TTL / 10)

# The keys of a loaded lab (equal to the session-state names in ui/state.py; a test checks).
DATASET, SESSION_DATA, SETTINGS = "dataset", "session_dataset", "settings"
JOB, COLLECTED, MODEL, RUNS, NEXT_RUN = "job", "job_collected", "model", "runs", "next_run"
LIVE_JOBS, DATA_NOTE = "live_jobs", "lab_data_note"


@dataclass
class CachedLab:
    """What a process keeps decoded of one lab: runs by number (with the revision of the row
    they were decoded from), the full current model of a run this process trained (with
    its weight snapshots, which the database does not keep), and the session's own data."""

    used: float
    runs: dict[int, tuple[int, Run]] = field(default_factory=dict)
    model: tuple[int, int, Run] | None = None  # (number, revision, run)
    session_data: SplitData | None = None

    def nbytes(self) -> int:
        """About the memory it holds: networks, weight snapshots, the session's data."""
        total = sum(lab_records.network_nbytes(run.network) for _, run in self.runs.values())
        if self.model is not None:
            run = self.model[2]
            total += lab_records.network_nbytes(run.network)
            total += sum(a.nbytes for snap in run.history.snapshots for a in (*snap.weights, *snap.biases))
        data = self.session_data
        if data is not None:
            total += sum(getattr(data, name).nbytes for name in ("train_images", "train_labels",
                                                                 "validation_images", "validation_labels"))
        return total


class LabLoading:
    """The loading half of :class:`lab.lab_store.LabStore` (which provides the database,
    the lock, the cache, the clock, the TTL, this process's identity and its live jobs)."""

    def _gone(self, row, now: float) -> bool:
        """True when the process holding a queued or running run is gone."""
        if row.process == self.process:
            return (row.lab_key, row.number) not in self._live and row.lab_key not in self._starting
        alive = processes.alive(row.process)
        if alive is None:  # another machine's: go by its heartbeat
            alive = row.heartbeat is not None and row.heartbeat > now - STALE_SECONDS
        return not alive

    def _mark_interrupted(self, connection, key: str, rows, now: float) -> None:
        """Mark runs whose process is gone as interrupted (each only if still held by it)."""
        for row in rows:
            if row.epochs_done:
                message = (f"Interrupted at epoch {row.epochs_done}: the server process training it "
                           f"stopped. Its weights from epoch {row.epochs_done} are kept.")
            else:
                message = ("Interrupted before its first checkpoint: the server process training it "
                           "stopped. Nothing was saved.")
            connection.execute(update(lab_runs).where(
                lab_runs.c.lab_key == key, lab_runs.c.number == row.number,
                lab_runs.c.status.in_(list(ACTIVE_STATUSES)), lab_runs.c.process == row.process).values(
                status=INTERRUPTED, message=message, process=None, updated=now,
                revision=lab_runs.c.revision + 1))

    def _heads(self, key: str):
        columns = (lab_runs.c.lab_key, lab_runs.c.number, lab_runs.c.revision, lab_runs.c.status,
                   lab_runs.c.process, lab_runs.c.heartbeat, lab_runs.c.epochs_done)
        with self.database.read() as connection:
            lab = connection.execute(select(labs).where(labs.c.lab_key == key)).first()
            heads = connection.execute(select(*columns).where(lab_runs.c.lab_key == key)
                                       .order_by(lab_runs.c.number)).all() if lab is not None else []
        return lab, heads

    def load(self, lab_id: object) -> dict | None:
        """The lab's state for a session, or None (unknown, expired or malformed id).

        Keys: SETTINGS (a dict, or None when none were stored), DATASET and SESSION_DATA (the
        shared dataset's key, or the session's own data when this process still has it or
        can make it again; else DATA_NOTE says to load it again), RUNS (finished, interrupted
        and elsewhere-running runs, oldest first), MODEL, NEXT_RUN, LIVE_JOBS (the jobs of this
        lab this process is training, oldest first). Loading counts as a use of the lab.
        """
        if not lab_records.is_lab_id(lab_id):
            return None
        key, now = lab_records.lab_key(lab_id), self._clock()
        self._expire_database(now)
        lab, heads = self._heads(key)
        if lab is None or lab.used <= now - self.ttl_seconds:
            with self._lock:
                self._cache.pop(key, None)
            return None
        with self._lock:
            gone = [h for h in heads if h.status in ACTIVE_STATUSES and self._gone(h, now)]
        if gone:  # a run of this process may have ended meanwhile: look once more
            lab, heads = self._heads(key)
            with self._lock:
                gone = [h for h in heads if h.status in ACTIVE_STATUSES and self._gone(h, now)]
        if lab is not None and (gone or lab.used < now - min(TOUCH_SECONDS, self.ttl_seconds / 10)):
            with self.database.write() as connection:  # one transaction: the marks and the use
                self._mark_interrupted(connection, key, gone, now)
                connection.execute(update(labs).where(labs.c.lab_key == key).values(used=now))
            lab, heads = self._heads(key)
        return self._assemble(key, lab, heads) if lab is not None else None

    def _assemble(self, key: str, lab, heads) -> dict:
        """The loaded lab from its rows: decode the runs the cache lacks at their revision."""
        with self._lock:
            live = {number: job for (k, number), job in self._live.items() if k == key}
            entry = self._cached(key)
            wanted = [h.number for h in heads if h.number not in live
                      and entry.runs.get(h.number, (None,))[0] != h.revision]
        decoded = {}
        if wanted:
            with self.database.read() as connection:
                rows = connection.execute(select(lab_runs).where(
                    lab_runs.c.lab_key == key, lab_runs.c.number.in_(wanted))).all()
            for row in rows:
                try:
                    run = lab_records.run_from_row(row)  # the current model keeps all its curves
                    decoded[row.number] = (row.revision, run if row.number == lab.current_run else run.light())
                except Exception:  # one damaged row must not cost the whole lab
                    logger.exception("run %s of a lab could not be read back", row.number)
        with self._lock:
            entry = self._cached(key)
            entry.runs.update(decoded)
            numbers = {h.number for h in heads}
            for number in [n for n in entry.runs if n not in numbers]:
                del entry.runs[number]
            runs = [entry.runs[h.number][1] for h in heads if h.number not in live and h.number in entry.runs]
            model = None
            if lab.current_run is not None:
                head = next((h for h in heads if h.number == lab.current_run), None)
                if entry.model is not None and head is not None and entry.model[:2] == (head.number, head.revision):
                    model = entry.model[2]
                else:
                    model = next((r for r in runs if r.number == lab.current_run and r.network is not None), None)
            session_data = entry.session_data
        return self._state(lab, runs, model, [live[n] for n in sorted(live)], session_data)

    def _state(self, lab, runs: list[Run], model: Run | None, live_jobs: list, session_data) -> dict:
        reference = json.loads(lab.dataset or "{}")
        settings = json.loads(lab.settings or "{}") or None
        dataset_key, note = str(reference.get("key") or lab_records.SHARED_DATASET), None
        if dataset_key != lab_records.SHARED_DATASET:
            if session_data is None or session_data.key != dataset_key:
                try:
                    session_data = lab_records.rebuild_dataset(reference)
                except Exception:
                    logger.exception("the lab's data could not be made again")
                    session_data = None
            if session_data is None:
                note = (f"This lab trained on {reference.get('name') or 'data of its own'}, which is not "
                        "kept on the server: load it again on the Data page. Until then the bundled "
                        "MNIST subset is in use; the runs, their curves and the models are all here.")
            dataset_key = lab_records.SHARED_DATASET
        return {SETTINGS: settings, DATASET: dataset_key, SESSION_DATA: session_data, RUNS: runs,
                MODEL: model, NEXT_RUN: lab.next_run, LIVE_JOBS: live_jobs, DATA_NOTE: note}

    def live_job(self, lab_id: str, number: int) -> TrainingJob | None:
        """The job training run ``number`` of this lab in this process, if any."""
        with self._lock:
            return self._live.get((lab_records.checked_key(lab_id), number))
