"""Training jobs in worker threads, and the scheduler that limits how many train at once.

Nothing here imports Streamlit: a :class:`TrainingJob` wraps :func:`nn.training.train`
in a daemon thread that never touches the page. The page (or a test) reads a
:class:`JobSnapshot`, a consistent copy of the job's state taken under a lock::

    job = TrainingJob(config, images, labels, validation=(val_images, val_labels),
                      scheduler=scheduler).start()
    job.snapshot().status        # "queued" -> "running" -> "completed" / "stopped" / ...
    job.stop()                   # the trainer checks the stop flag every step

A :class:`JobScheduler` is shared by the whole server (it holds no user data): at
most ``max_jobs`` jobs train at the same time, the others wait first-come first-served
and report their place in the queue (1 = next).

A job can be watched from outside without Streamlit: epoch hooks run in its thread after
each epoch (the lab store saves a checkpoint there), finish hooks once it has ended and
before :attr:`TrainingJob.done` is set (the lab store writes the finished run there, so a
run a page shows as finished is already in the database). Which sessions hold a job, and
the grace period after its page closed, are in :mod:`lab.session_jobs`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from nn.network import Network
from nn.training import History, Progress, TrainConfig, TrainResult, build_network, evaluate, train

from . import config

logger = logging.getLogger(__name__)

QUEUED, RUNNING = "queued", "running"
COMPLETED, STOPPED, DIVERGED, FAILED = "completed", "stopped", "diverged", "failed"
# A stored run whose server process stopped while it was queued or training (a status of
# runs read back from the database, never of a live job).
INTERRUPTED = "interrupted"
ACTIVE_STATUSES = frozenset({QUEUED, RUNNING})
FINISHED_STATUSES = frozenset({COMPLETED, STOPPED, DIVERGED, FAILED})

MAX_JOBS_ENV = config.MAX_JOBS
POLL_SECONDS_ENV = config.POLL_SECONDS
DEFAULT_POLL_SECONDS = config.VARIABLES[config.POLL_SECONDS].default


def max_jobs_from_env(environ=None) -> int:
    """The server's limit on jobs training at once: ``$DIGIT_LAB_MAX_JOBS``, else the core count.

    A value that is not a positive whole number is reported in the log and ignored.
    """
    return config.get(config.MAX_JOBS, environ)


def poll_seconds(environ=None) -> float:
    """How often a page polls a running job: ``$DIGIT_LAB_POLL_SECONDS`` (0.1 ... 10 s).

    Each poll reruns a fragment on the server; the README's "Workshop server" section has the
    measurements behind the default.
    """
    return config.get(config.POLL_SECONDS, environ)


def limit_blas_threads(threads: int = 1):
    """Let BLAS use ``threads`` threads in this whole process; returns the limiter.

    Every training job runs in its own thread and the scheduler already runs up to
    one job per core, so BLAS threads of their own would only fight over the cores.
    OpenBLAS limits are process-wide: call this once at startup, not per job.
    ``limiter.restore_original_limits()`` undoes it (tests use that).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


class JobScheduler:
    """At most ``max_jobs`` jobs train at once; the rest wait in arrival order."""

    def __init__(self, max_jobs: int | None = None):
        max_jobs = max_jobs_from_env() if max_jobs is None else int(max_jobs)
        if max_jobs < 1:
            raise ValueError(f"max_jobs must be >= 1, got {max_jobs}")
        self.max_jobs = max_jobs
        self._condition = threading.Condition()
        self._waiting: deque[TrainingJob] = deque()
        self._running: set[TrainingJob] = set()

    def acquire(self, job: TrainingJob) -> bool:
        """Block until ``job`` may train (True) or was stopped while waiting (False)."""
        with self._condition:
            self._waiting.append(job)
            try:
                while True:
                    if job.stop_requested:
                        return False
                    if self._waiting[0] is job and len(self._running) < self.max_jobs:
                        self._waiting.popleft()
                        self._running.add(job)
                        return True
                    self._condition.wait(timeout=1.0)
            finally:
                if job in self._waiting:  # stopped (or interrupted) while waiting
                    self._waiting.remove(job)
                self._condition.notify_all()

    def release(self, job: TrainingJob) -> None:
        """``job`` finished training: let the next one in."""
        with self._condition:
            self._running.discard(job)
            self._condition.notify_all()

    def wake(self) -> None:
        """Make waiting jobs re-check their stop flags now."""
        with self._condition:
            self._condition.notify_all()

    def position(self, job: TrainingJob) -> int:
        """1-based place of ``job`` in the queue; 0 when it is not waiting."""
        with self._condition:
            for index, waiting in enumerate(self._waiting, start=1):
                if waiting is job:
                    return index
            return 0

    def counts(self) -> tuple[int, int]:
        """(jobs training, jobs waiting)."""
        with self._condition:
            return len(self._running), len(self._waiting)

    def jobs(self) -> list[TrainingJob]:
        """Every job training now, then every job waiting, in the queue's order (the
        facilitator's view of the server: it holds no user data, only the jobs)."""
        with self._condition:
            running, waiting = list(self._running), list(self._waiting)
        return [*sorted(running, key=lambda job: job.started_at or 0.0), *waiting]


@dataclass(frozen=True)
class Curves:
    """Copies of the history lists a dashboard draws (the job keeps appending to its own)."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    validation_accuracy: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)  # one point per steps_per_point steps
    steps_per_epoch: int = 1
    steps_per_point: int = 1

    @classmethod
    def from_history(cls, history: History, steps_per_epoch: int = 1) -> Curves:
        n = len(history.epoch)  # the other epoch lists are appended right after, read up to n
        return cls(
            epoch=list(history.epoch[:n]),
            train_loss=list(history.train_loss[:n]),
            validation_loss=list(history.validation_loss[:n]),
            train_accuracy=list(history.train_accuracy[:n]),
            validation_accuracy=list(history.validation_accuracy[:n]),
            step_loss=list(history.step_loss),
            steps_per_epoch=steps_per_epoch,
            steps_per_point=history.step_loss_every,
        )


@dataclass(frozen=True)
class JobSnapshot:
    """One consistent look at a job, safe to read from any thread."""

    status: str
    message: str
    queue_position: int  # 1 = next to start; 0 when not waiting
    epoch: float  # epochs completed, fractional inside an epoch
    epochs: int
    step: int
    total_steps: int
    loss: float | None
    accuracy: float | None  # training accuracy of the last completed epoch
    validation_accuracy: float | None
    elapsed: float
    eta: float | None  # seconds left, estimated; None until known
    curves: Curves

    @property
    def fraction(self) -> float:
        if self.status == COMPLETED:
            return 1.0
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


def wall_time_message(max_seconds: float) -> str:
    """Why a job stopped at the server's limit on training time."""
    minutes = f"{max_seconds / 60:g} min" if max_seconds >= 120 else f"{max_seconds:g} s"
    return (f"Stopped after {minutes} of training, the most a run may train on this server "
            f"(`{config.MAX_RUN_SECONDS}`).")


def _last_finite(values) -> float | None:
    for value in reversed(values):
        if value is not None and math.isfinite(value):
            return float(value)
    return None


class TrainingJob:
    """One training run in a daemon thread.

    The thread waits for a slot from ``scheduler`` (if any), trains ``network`` (or a
    fresh one built from ``config``), and on success evaluates it on ``test`` when
    given. Every exception is caught into status ``"failed"`` with its message, so a
    crash in one job never reaches the page or another job.
    """

    def __init__(
        self,
        config: TrainConfig,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        test: tuple[np.ndarray, np.ndarray] | None = None,
        scheduler: JobScheduler | None = None,
        network: Network | None = None,
        n_classes: int = 10,
        class_names: tuple[str, ...] | None = None,
        progress_interval: float = 0.2,
        name: str = "",
        number: int | None = None,
        note: str = "",
        max_seconds: float | None = None,
    ):
        self.config = config
        # Training stops by itself after this many seconds (None: never); queueing does not count.
        self.max_seconds = max_seconds
        self.name = name
        self.number = number  # the run's number in its lab (None outside a lab)
        self.note = note  # added to the final message (e.g. which run this one continues)
        # What the output units stand for; the finished Run keeps it (see lab.runs).
        self.class_names = tuple(class_names) if class_names is not None else None
        self._images, self._labels = images, labels
        self._validation, self._test = validation, test
        self._scheduler = scheduler
        self._network = network
        self._n_classes = n_classes
        self._progress_interval = progress_interval
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._history = History()
        n = len(labels)
        batch = n if config.batch_size is None else min(config.batch_size, max(n, 1))
        self._steps_per_epoch = max(1, math.ceil(n / max(batch, 1)))
        # State below is written by the worker thread and read under self._lock.
        self._status = QUEUED
        self._message = "Waiting for a free training slot."
        self._progress: Progress | None = None
        self._curves = Curves(steps_per_epoch=self._steps_per_epoch)
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self.result: TrainResult | None = None
        self.test_accuracy: float | None = None
        self.test_loss: float | None = None
        self.error: BaseException | None = None
        self._done_callbacks: list = []
        self._epoch_hooks: list = []
        self._finish_hooks: list = []
        self._epochs_seen = 0
        self._training_network: Network | None = None
        self._stop_reason: str | None = None

    # -- control -----------------------------------------------------------------

    def start(self) -> TrainingJob:
        if self._thread is not None:
            raise RuntimeError("a job can only be started once")
        self._thread = threading.Thread(target=self._run, name=f"train-{self.name or id(self)}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, reason: str | None = None) -> None:
        """Ask the job to stop: at the next step when training, at once when queued.
        ``reason`` (e.g. "Stopped: the page was closed ...") replaces the trainer's "Stopped
        by the user" in the final message; the first reason given stays."""
        with self._lock:
            if reason and not self._stop.is_set():
                self._stop_reason = reason
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.wake()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def started_at(self) -> float | None:
        """When training started (``time.perf_counter()``), None while queued."""
        with self._lock:
            return self._started_at

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def add_done_callback(self, callback) -> None:
        """Call ``callback(job)`` once the job has finished (at once if it already has),
        in the job's thread. It must not call Streamlit; its exceptions are logged."""
        with self._lock:
            if not self._done.is_set():
                self._done_callbacks.append(callback)
                return
        self._call(callback)

    def add_epoch_hook(self, hook) -> None:
        """Call ``hook(job, network, history)`` in the job's thread after each epoch (add it
        before :meth:`start`). The network is the one training: read it, never keep it.
        It must not call Streamlit; its exceptions are logged."""
        self._epoch_hooks.append(hook)

    def add_finish_hook(self, hook) -> None:
        """Call ``hook(job)`` in the job's thread once it has ended, before :attr:`done` is
        set (add it before :meth:`start`); the job's status, message and result are final.
        It must not call Streamlit; its exceptions are logged."""
        self._finish_hooks.append(hook)

    def _call(self, callback, *args) -> None:
        try:
            callback(self, *args)
        except Exception:
            logger.exception("a callback of training job %s failed", self.name)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the job has finished; True if it has."""
        return self._done.wait(timeout)

    @property
    def network(self) -> Network | None:
        """The trained network, once the job has finished (None if it never trained)."""
        return self.result.network if self.result is not None else None

    @property
    def history(self) -> History:
        """The live history; read it only after :attr:`done` (use snapshots meanwhile)."""
        return self._history

    # -- reading -----------------------------------------------------------------

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            status, message, progress, curves = self._status, self._message, self._progress, self._curves
            started, finished = self._started_at, self._finished_at
        position = 0
        if status == QUEUED and self._scheduler is not None:
            position = self._scheduler.position(self)
        end = finished if finished is not None else time.perf_counter()
        elapsed = end - started if started is not None else 0.0
        epochs = self.config.epochs
        total_steps = self._steps_per_epoch * epochs
        if progress is not None:
            epoch, step, loss = progress.epoch, progress.step, progress.loss
            eta = progress.eta if status == RUNNING else (0.0 if status == COMPLETED else None)
        else:
            epoch, step, loss, eta = 0.0, 0, None, None
        return JobSnapshot(
            status=status,
            message=message,
            queue_position=position,
            epoch=float(epoch),
            epochs=epochs,
            step=step,
            total_steps=total_steps,
            loss=loss if loss is None or math.isfinite(loss) else None,
            accuracy=_last_finite(curves.train_accuracy),
            validation_accuracy=_last_finite(curves.validation_accuracy),
            elapsed=elapsed,
            eta=eta,
            curves=curves,
        )

    # -- the worker thread -------------------------------------------------------

    def _stop_check(self, started: float):
        """What the trainer checks every step: the stop flag, and (with ``max_seconds``)
        whether training has lasted its allowed time, which stops the job with a reason."""
        if self.max_seconds is None:
            return self._stop
        deadline = started + self.max_seconds

        def should_stop() -> bool:
            if self._stop.is_set():
                return True
            if time.perf_counter() < deadline:
                return False
            self.stop(reason=wall_time_message(self.max_seconds))
            return True

        return should_stop

    def _set(self, **changes) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self, f"_{key}", value)

    def _on_progress(self, progress: Progress) -> None:
        curves = Curves.from_history(progress.history, self._steps_per_epoch)
        self._set(progress=progress, curves=curves)
        epochs = len(progress.history.epoch)
        if epochs > self._epochs_seen:  # an epoch ended (the trainer reports every epoch end)
            self._epochs_seen = epochs
            for hook in self._epoch_hooks:
                self._call(hook, self._training_network, progress.history)

    def _final_message(self, status: str, message: str) -> str:
        reason = self._stop_reason
        if status == STOPPED and reason:
            trained = self._history.n_steps
            message = (f"{reason} ({trained:,} steps had been trained.)" if trained
                       else f"{reason} Nothing had been trained yet.")
        return f"{message} {self.note}" if self.note else message

    def _run(self) -> None:
        acquired = False
        try:
            if self._scheduler is not None:
                acquired = self._scheduler.acquire(self)
                if not acquired:
                    self._set(status=STOPPED, message=self._final_message(
                        STOPPED, "Stopped while waiting in the queue; nothing was trained."))
                    return
            elif self._stop.is_set():
                self._set(status=STOPPED, message=self._final_message(
                    STOPPED, "Stopped before it started; nothing was trained."))
                return
            started = time.perf_counter()
            self._set(status=RUNNING, message="Training.", started_at=started)
            network = self._network if self._network is not None else \
                build_network(self.config, n_classes=self._n_classes)
            self._training_network = network
            result = train(
                network, self._images, self._labels, self.config,
                validation=self._validation, progress=self._on_progress,
                progress_interval=self._progress_interval, stop=self._stop_check(started), history=self._history,
            )
            if self._test is not None and result.history.epoch:
                self.test_loss, self.test_accuracy = evaluate(network, *self._test)
            self.result = result
            self._set(status=result.status, message=self._final_message(result.status, result.message),
                      curves=Curves.from_history(result.history, self._steps_per_epoch))
        except Exception as error:  # a crash must end this job only, with a message
            logger.exception("training job %s failed", self.name)
            self.error = error
            self._set(status=FAILED, message=f"Training failed: {type(error).__name__}: {error}",
                      curves=Curves.from_history(self._history, self._steps_per_epoch))
        finally:
            self._training_network = None
            if acquired:
                self._scheduler.release(self)
            with self._lock:
                self._finished_at = time.perf_counter()
            for hook in self._finish_hooks:
                self._call(hook)
            with self._lock:
                self._done.set()
                callbacks, self._done_callbacks = self._done_callbacks, []
            for callback in callbacks:
                self._call(callback)
