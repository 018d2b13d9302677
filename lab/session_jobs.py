"""Which browser sessions hold a training job, and the grace period after its page closed
(no Streamlit).

A page that closes is not always a user who left: a Wi-Fi blip, a laptop lid or a reload
closes the session's WebSocket too. So a job does not stop with its page:

- the session that starts a job **owns** it (:meth:`SessionJobs.start`); another session of
  the same lab that shows it (a second tab, a reload, a reconnect) only **holds** it
  (:meth:`SessionJobs.hold`);
- when a session ends (Streamlit releases its :class:`SessionJobs`), a job it only held goes
  on as before: a duplicate tab closing never stops the original tab's run. A job it owned
  passes to another session holding it, if there is one; else it is **orphaned** and keeps
  training for the grace period (``$DIGIT_LAB_JOB_GRACE_SECONDS``, default 120 s);
- a session that holds an orphaned job within the grace period adopts it (it owns it now),
  and the run goes on as if nothing happened; after the grace period the job stops, with
  the message :func:`closed_message` ("Stopped: the page was closed ..."), which does not
  blame anyone for a network blip.

One :class:`JobHolders` serves the whole process (:func:`default_holders`); it keeps no
user data, only which session object holds which job.
"""

from __future__ import annotations

import threading

from . import config


def grace_seconds(environ=None) -> float:
    """How long an orphaned job keeps training: ``$DIGIT_LAB_JOB_GRACE_SECONDS`` (default 120)."""
    return config.get(config.JOB_GRACE_SECONDS, environ)


def closed_message(grace: float) -> str:
    """Why a job stopped when nobody came back for it."""
    return (f"Stopped: the page was closed, and no page of this lab came back within "
            f"{grace:g} s.")


class JobHolders:
    """Owners, holders and grace timers of the process's jobs (thread-safe).

    ``timer(seconds, function)`` makes a started timer-like object with ``cancel()``
    (default: a daemon :class:`threading.Timer`); tests pass a manual one.
    """

    def __init__(self, grace: float | None = None, timer=None):
        self.grace = grace_seconds() if grace is None else float(grace)
        self._timer = timer or _start_timer
        self._lock = threading.Lock()
        self._owner: dict = {}  # job -> owning SessionJobs, or None while orphaned
        self._holders: dict = {}  # job -> set of SessionJobs holding it (the owner too)
        self._timers: dict = {}  # job -> its grace timer, while orphaned

    def _forget_finished(self) -> None:
        for job in [job for job in self._owner if job.done]:
            self._drop(job)

    def _drop(self, job) -> None:
        self._owner.pop(job, None)
        self._holders.pop(job, None)
        timer = self._timers.pop(job, None)
        if timer is not None:
            timer.cancel()

    def hold(self, session: SessionJobs, job, owner: bool = False) -> None:
        """``session`` shows ``job``; it owns it if ``owner`` (it started it) or if the job
        has no owner (orphaned: this ends its grace period)."""
        if job.done:
            return
        with self._lock:
            self._forget_finished()
            holders = self._holders.setdefault(job, set())
            holders.add(session)
            if owner or self._owner.get(job) is None:
                self._owner[job] = session
                timer = self._timers.pop(job, None)
                if timer is not None:
                    timer.cancel()

    def release(self, session: SessionJobs) -> int:
        """``session`` has ended: the jobs it owned pass to another holder or are orphaned
        (their grace period starts). Returns how many were orphaned."""
        orphaned = []
        with self._lock:
            self._forget_finished()
            for job, holders in list(self._holders.items()):
                holders.discard(session)
                if self._owner.get(job) is not session:
                    continue
                if holders:
                    self._owner[job] = next(iter(holders))
                    continue
                self._owner[job] = None
                orphaned.append(job)
            for job in orphaned:
                if self.grace > 0:
                    self._timers[job] = self._timer(self.grace, lambda job=job: self._expire(job))
        if self.grace <= 0:
            for job in orphaned:
                job.stop(reason=closed_message(self.grace))
        return len(orphaned)

    def _expire(self, job) -> None:
        with self._lock:
            if self._owner.get(job, "gone") is not None:
                return  # adopted (or forgotten) meanwhile
            self._drop(job)
        job.stop(reason=closed_message(self.grace))

    def orphaned(self, job) -> bool:
        """True while ``job`` is in its grace period (its page closed, nobody came back)."""
        with self._lock:
            return job in self._owner and self._owner[job] is None and not job.done

    def owner(self, job):
        with self._lock:
            return self._owner.get(job)


def _start_timer(seconds: float, function):
    timer = threading.Timer(seconds, function)
    timer.daemon = True
    timer.name = "job-grace"
    timer.start()
    return timer


_default: JobHolders | None = None
_default_lock = threading.Lock()


def default_holders() -> JobHolders:
    """The process's one :class:`JobHolders` (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = JobHolders()
        return _default


class SessionJobs:
    """The jobs one browser session holds; :meth:`release` when the session ends."""

    def __init__(self, holders: JobHolders | None = None):
        self._holders = holders

    @property
    def holders(self) -> JobHolders:
        return self._holders if self._holders is not None else default_holders()

    def start(self, job) -> None:
        """This session started ``job``: it owns it."""
        self.holders.hold(self, job, owner=True)

    def hold(self, job) -> None:
        """This session shows ``job`` (a reload, a reconnect, a second tab); it adopts it if
        its page had closed."""
        self.holders.hold(self, job)

    def release(self) -> int:
        """The session has ended; see :meth:`JobHolders.release`."""
        return self.holders.release(self)
