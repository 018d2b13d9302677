"""One lab per browser session: everything a user owns lives in ``st.session_state``,
and the button callbacks (on_click) that change it.

Per session (``st.session_state``):

* ``dataset``  -- key of the dataset in use (``"bundled"``)
* ``settings`` -- the Train page's settings (kept while the user visits other pages)
* ``job``      -- the session's latest :class:`~lab.jobs.TrainingJob` (running or finished)
* ``model``    -- the current model, a :class:`~lab.runs.Run` (None after Reset)
* ``runs``     -- the run history: every finished run, oldest first
* ``session_dataset`` -- a dataset this session loaded on the Data page (else None)

Process-wide resources (the split dataset, the test set, the scheduler...) are in
``ui/resources.py``.

Nothing lost on a reload (a reload is a new session): each session has a lab id in the
address (``?lab=…``) and saves its lab into the process-wide :mod:`lab.lab_store` after
every full run (``persist``, called by app.py); a new session with a known id restores
it (``init``). See lab/lab_store.py for the design.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import streamlit as st

from datasets import class_noun, class_ranges
from lab import lab_store
from lab import settings as settings_module
from lab.data import DATASETS, DatasetInfo, SplitData
from lab.jobs import COMPLETED, STOPPED, TrainingJob
from lab.runs import Run, run_from_job
from nn.errors import DataError
from ui.resources import (
    configure_process,  # noqa: F401 (tests outside ui/ call state.configure_process)
    scheduler,
    session_jobs,
    split_data,
    test_set,
)

logger = logging.getLogger(__name__)

# How often a page refreshes a running job's progress: $DIGIT_LAB_POLL_SECONDS (load test).
POLL_SECONDS = settings_module.poll_seconds_from_env()

DATASET, SETTINGS, JOB, COLLECTED, MODEL, RUNS, NEXT_RUN, NOTICE = (
    "dataset", "settings", "job", "job_collected", "model", "runs", "next_run", "notice")
GO_TO_TRAIN = "go_to_train"
WIDGET_PREFIX = "train_"  # session-state keys of the Train page's widgets

DEFAULT_DATASET = "bundled"
LAB, LAB_NOTE = "lab_id", "lab_note"  # this session's lab id; a note when a lab link was unknown
RUN_NOTE = "run_note"  # how start_training adjusted the latest run's settings (e.g. full batch)


# ---------------------------------------------------------------------------------
# Per-session state
# ---------------------------------------------------------------------------------


def init() -> None:
    """Create this session's state on its first run (restored from the lab store when the
    address names a lab it knows), and keep the lab id in the address."""
    state = st.session_state
    if LAB not in state:
        _open_lab()
    state.setdefault(DATASET, DEFAULT_DATASET)
    state.setdefault(SETTINGS, dict(settings_module.DEFAULT_SETTINGS))
    state.setdefault(JOB, None)
    state.setdefault(COLLECTED, True)
    state.setdefault(MODEL, None)
    state.setdefault(RUNS, [])
    state.setdefault(NEXT_RUN, 1)
    state.setdefault(NOTICE, None)
    if st.query_params.get(lab_store.QUERY_PARAM) != state[LAB]:
        st.query_params[lab_store.QUERY_PARAM] = state[LAB]  # other parameters stay


def _open_lab() -> None:
    """First run of a session: restore the lab named in the address, or start a new one.

    An unknown id (expired, evicted, forged) is never adopted: the session gets a
    fresh id, so a link someone else chose can not be used to read this user's lab.
    """
    state = st.session_state
    requested = st.query_params.get(lab_store.QUERY_PARAM)
    saved = lab_store.default_store().load(requested) if requested else None
    if saved is None:
        state[LAB] = lab_store.new_lab_id()
        if requested:
            state[LAB_NOTE] = ("The lab in this link is unknown or has expired (labs are kept "
                               "in the server's memory for a while, not across restarts), so "
                               "this is a fresh lab.")
        return
    state[LAB] = requested
    saved.pop(lab_store.DATASET_NAME, None)
    for key, value in saved.items():
        state[key] = value
    current = saved.get(JOB)
    if current is not None and not current.done:
        session_jobs().add(current)  # closing this tab stops it too


def persist() -> None:
    """Save this session's lab into the lab store (app.py calls it after every full run)."""
    state = st.session_state
    lab_id = state.get(LAB)
    if not lab_id:
        return
    try:
        saved = {key: state[key] for key in lab_store.SAVED_KEYS if key in state}
        saved[lab_store.DATASET_NAME] = dataset_info().name
        lab_store.default_store().save(lab_id, saved)
    except Exception:  # never break the page over it; the session itself still has everything
        logger.exception("saving the lab failed")


def dataset() -> SplitData:
    """The session's dataset, loaded and split (cached for the whole server), or the one
    this session loaded on the Data page (see use_dataset)."""
    own = st.session_state.get(SESSION_DATA)
    if own is not None:
        return own
    return split_data(st.session_state.get(DATASET, DEFAULT_DATASET))


def dataset_info() -> DatasetInfo:
    """Name, size and class names of the session's dataset, without loading it."""
    own = st.session_state.get(SESSION_DATA)
    if own is not None:
        return DatasetInfo(own.name, own.n_train + own.n_validation, own.n_validation,
                           tuple(own.class_names))
    return DATASETS[st.session_state.get(DATASET, DEFAULT_DATASET)]


def class_names() -> tuple[str, ...]:
    """The names of the session's dataset's classes ("0".."9" for digits)."""
    return dataset_info().class_names


def noun(plural: bool = False, names=None) -> str:
    """What the pages call one class of the data in use (or of ``names``): "digit" for
    digits, "letter" for EMNIST letters, else "character"; ``plural`` adds the "s"."""
    return class_noun(class_names() if names is None else names, plural)


def model_mismatch(run: Run | None, data: SplitData | None = None) -> str | None:
    """Why ``run``'s model cannot be used on the data in use, or None when it can.

    A network has one output unit per class: a 10-class model gives scores for 0-9 only,
    so its answers on letters would be meaningless (and its loss undefined)."""
    if run is None or run.network is None:
        return None
    data = dataset() if data is None else data
    n_outputs = run.network.layer_sizes[-1]
    if n_outputs == data.n_classes:
        return None
    return (f"The current model (run {run.number}) has {n_outputs} output units, one per "
            f"{noun(names=run.class_names)} ({class_ranges(run.class_names)}), but the data in use "
            f"has {data.n_classes} classes ({class_ranges(data.class_names)}): its answers on these "
            f"{noun(True, data.class_names)} would mean nothing. Train a new model on this data "
            "(Train page), or load data with the model's classes (Data page).")


def classes_text(names=None) -> str:
    """E.g. "10 digits (0–9)", "26 letters (A–Z)": the classes of the data in use (or ``names``)."""
    names = class_names() if names is None else tuple(names)
    return f"{len(names)} {noun(True, names)} ({class_ranges(names)})"


def job() -> TrainingJob | None:
    return st.session_state.get(JOB)


def model() -> Run | None:
    return st.session_state.get(MODEL)


def runs() -> list[Run]:
    return st.session_state.get(RUNS, [])


def job_pending() -> bool:
    """True from Start until the finished job's results are in the session (see sync)."""
    return st.session_state.get(JOB) is not None and not st.session_state.get(COLLECTED, True)


def job_running_number() -> int | None:
    return st.session_state.get(NEXT_RUN, 1) - 1 if job_pending() else None


def sync() -> bool:
    """Move a finished job's results into the session: run history and current model.

    Called at the top of every full run; returns True when it collected something.
    A completed run, or a stopped one that trained at least one step, becomes the
    current model; the run history keeps every run with its network, diverged ones
    too, so nothing trained is lost.
    """
    state = st.session_state
    current = state.get(JOB)
    if current is None or state.get(COLLECTED, True) or not current.done:
        return False
    run = run_from_job(current, number=state[NEXT_RUN] - 1, dataset=dataset_info().name)
    state[RUNS] = [*state[RUNS], run.for_history()]
    if run.network is not None and run.status in (COMPLETED, STOPPED):
        state[MODEL] = run  # a diverged run stays in the history only
    state[COLLECTED] = True
    return True


# ---------------------------------------------------------------------------------
# Button callbacks (on_click): they change state; the rerun that follows shows it
# ---------------------------------------------------------------------------------


def start_training() -> None:
    """Start a run with the current settings (ignored while a run is pending)."""
    init()
    state = st.session_state
    if job_pending():
        return
    state[NOTICE] = state[RUN_NOTE] = None
    try:
        config = settings_module.to_config(state[SETTINGS])
    except ValueError as error:
        state[NOTICE] = f"Cannot start: {error}"
        return
    rates = settings_module.LEARNING_RATES
    if not min(rates) <= config.learning_rate <= max(rates):  # the slider can not do this
        state[NOTICE] = (f"Cannot start: learning rate {config.learning_rate:g} is outside "
                         f"{min(rates):g} … {max(rates):g}.")
        return
    try:
        data = dataset()
        test = test_set(data)
    except (DataError, OSError) as error:
        state[NOTICE] = f"Cannot load the images: {error}"
        return
    number = state[NEXT_RUN]
    if config.batch_size is not None and config.batch_size > data.n_train and not config.conv_layers:
        # (A conv network keeps its mini-batches, at most 1,024: the trainer takes min(batch, n).)
        config = dataclasses.replace(config, batch_size=None)
        state[RUN_NOTE] = (f"Batch size {state[SETTINGS]['batch_size']:,} is larger than the "
                           f"{data.n_train:,} training images: run {number} trains with the "
                           "full batch.")
    job = TrainingJob(
        config, data.train_images, data.train_labels,
        validation=(data.validation_images, data.validation_labels),
        test=test[:2] if test is not None else None,
        scheduler=scheduler(), n_classes=data.n_classes, class_names=data.class_names,
        name=f"run {number}",
    )
    session_jobs().add(job)
    # Collect the run into the saved lab when it ends, even if this session is gone by
    # then (a reload closes it and stops the job).
    job.add_done_callback(functools.partial(lab_store.default_store().collect, state[LAB]))
    state[JOB], state[COLLECTED], state[NEXT_RUN] = job, False, number + 1
    job.start()


def stop_training() -> None:
    """Stop the session's run. The trainer checks its stop flag every step, so the job
    usually ends within milliseconds: wait a moment for it, then the rerun that follows
    the click shows the result at once (no further polling needed)."""
    current = job()
    if current is not None:
        current.stop()
        current.join(timeout=1.0)


def reset_model() -> None:
    """Forget the current model and its curves; the run history stays."""
    if job_pending():
        return
    st.session_state[MODEL] = None
    st.session_state[JOB] = None
    st.session_state[NOTICE] = None


def train_default_model() -> None:
    """Home page's one-click start: the good default settings, then the Train page."""
    init()
    if job_pending():
        return
    st.session_state[SETTINGS] = dict(settings_module.GOOD_DEFAULT)
    forget_train_widgets()
    start_training()
    st.session_state[GO_TO_TRAIN] = True


def forget_train_widgets() -> None:
    """Drop the Train page's widgets: they are drawn again from the session's settings
    (after new settings, or when a challenge changes their ranges)."""
    for key in [k for k in st.session_state if str(k).startswith(WIDGET_PREFIX)]:
        del st.session_state[key]


def write_settings(settings: dict) -> None:
    """New settings for the session and for the Train page's widgets (before they are drawn)."""
    st.session_state[SETTINGS] = dict(settings)
    for name, value in settings.items():
        key = WIDGET_PREFIX + name
        if key in st.session_state and st.session_state[key] != value:
            st.session_state[key] = value


# ---------------------------------------------------------------------------------
# This session's own data and uploaded models (Data and Models pages)
# ---------------------------------------------------------------------------------

# A SplitData this session loaded itself (an upload, the downloaded MNIST, the bundled
# subset with another validation share), or None for the shared default. Kept in the
# session only: one user's upload is never seen by another.
SESSION_DATA = "session_dataset"


def use_dataset(data: SplitData | None) -> bool:
    """Make ``data`` this session's dataset (None: back to the shared default).

    The current model and the run history stay. Refused (False) while a run is pending,
    so that every run in the history is labelled with the data it trained on.
    """
    if job_pending():
        return False
    st.session_state[SESSION_DATA] = data
    return True


def install_model(run: Run) -> bool:
    """Make an uploaded model (a Run numbered ``st.session_state[NEXT_RUN]``) the current
    model; it joins the run history. Refused (False) while a run is pending, whose number
    is already taken."""
    init()
    if job_pending():
        return False
    state = st.session_state
    state[MODEL] = run
    state[RUNS] = [*state[RUNS], run.for_history()]
    state[NEXT_RUN] = run.number + 1
    return True
