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

Nothing lost (see lab/lab_store.py): each session has a lab id in the address (``?lab=…``)
and its lab is in the database. A run is numbered there when it starts and saved by its
job while it trains and when it ends; ``persist`` (called by app.py after every full run)
writes the settings, the dataset and the current model when they changed. A new session
with the id (a reload, a restart, another server process) restores the lab (``init``),
and takes hold of a run of the lab this process is still training (``hold_job``): a job
whose page closed keeps training for a grace period (lab/session_jobs.py).
"""

from __future__ import annotations

import dataclasses
import logging

import streamlit as st

from datasets import class_noun, class_ranges
from lab import lab_records, lab_store, run_cost
from lab import settings as settings_module
from lab.data import DATASETS, DatasetInfo, SplitData
from lab.jobs import COMPLETED, INTERRUPTED, STOPPED, TrainingJob
from lab.runs import Run, run_from_job
from lab.session_jobs import default_holders
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
DATA_NOTE = lab_store.DATA_NOTE  # the lab's own data is not on the server: load it again
SAVED = "lab_saved"  # what the database has of this lab's settings, dataset and current model
RUN_NOTE = "run_note"  # how start_training adjusted the latest run's settings (e.g. full batch)


# ---------------------------------------------------------------------------------
# Per-session state
# ---------------------------------------------------------------------------------


def init() -> None:
    """Create this session's state on its first run (restored from the database when the
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

    An unknown id (expired, forged) is never adopted: the session gets a fresh id, so a link
    someone else chose can not be used to read this user's lab.
    """
    state = st.session_state
    requested = st.query_params.get(lab_store.QUERY_PARAM)
    try:
        saved = lab_store.default_store().load(requested) if requested else None
    except Exception:  # the database is unreachable: a fresh lab, and the reason
        logger.exception("reading a lab from the database failed")
        saved, why = None, "could not be read (the server's database did not answer)"
    else:
        why = ("is unknown or has expired (a lab is kept once something was done in it, until it "
               "has not been used for a while)")
    if saved is None:
        state[LAB] = lab_store.new_lab_id()
        if requested:
            state[LAB_NOTE] = f"The lab in this link {why}, so this is a fresh lab."
        return
    state[LAB] = requested
    state[SETTINGS] = saved[lab_store.SETTINGS] or dict(settings_module.DEFAULT_SETTINGS)
    state[DATASET], state[SESSION_DATA] = saved[lab_store.DATASET], saved[lab_store.SESSION_DATA]
    state[RUNS], state[MODEL] = saved[lab_store.RUNS], saved[lab_store.MODEL]
    state[NEXT_RUN] = saved[lab_store.NEXT_RUN]
    state[DATA_NOTE] = saved[lab_store.DATA_NOTE]
    live = saved[lab_store.LIVE_JOBS]
    if live:  # re-attach: the run whose page closed first (a reload, a reconnect), else the newest
        holders = default_holders()
        state[JOB] = next((job for job in reversed(live) if holders.orphaned(job)), live[-1])
        state[COLLECTED] = False
    state[SAVED] = _lab_summary()


def hold_job() -> None:
    """This session holds its pending job: it stops when the session that started it (or
    the last to hold it) has been closed for the grace period, not at once. Called on every
    run (app.py) and poll (the pages' progress fragments), so a page that reconnects takes
    hold again."""
    state = st.session_state
    current = state.get(JOB)
    if current is not None and not current.done and not state.get(COLLECTED, True):
        session_jobs().hold(current)


def _lab_summary() -> dict:
    """What ``persist`` compares with the database: the settings (as JSON), the dataset's
    key and the current model's number."""
    state = st.session_state
    own = state.get(SESSION_DATA)
    model = state.get(MODEL)
    settings = {**settings_module.ALL_DEFAULTS, **(state.get(SETTINGS) or {})}  # a control drawn is no change
    return {"settings": lab_records.settings_json(settings),
            "dataset": own.key if own is not None else state.get(DATASET, DEFAULT_DATASET),
            "model": model.number if model is not None else None}


def persist() -> None:
    """Write what changed of this session's lab to the database (app.py calls it after every
    full run): the settings, the dataset, the current model. The first run of a fresh lab
    writes nothing (a page load is not a lab worth keeping)."""
    state = st.session_state
    lab_id = state.get(LAB)
    if not lab_id:
        return
    now, before = _lab_summary(), state.get(SAVED)
    state[SAVED] = now
    if before is None or now == before:
        return
    store = lab_store.default_store()
    try:
        if now["settings"] != before["settings"]:
            store.save_settings(lab_id, state[SETTINGS])
        if now["dataset"] != before["dataset"]:
            store.save_dataset(lab_id, state.get(DATASET, DEFAULT_DATASET), state.get(SESSION_DATA))
        if now["model"] != before["model"]:
            store.set_current(lab_id, now["model"])
    except Exception:  # never break the page over it; the session itself still has everything
        logger.exception("saving the lab failed")
        state[SAVED] = before  # try again after the next run


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
    return st.session_state[JOB].number if job_pending() else None


def _bounded(runs: list[Run]) -> list[Run]:
    """The run history within the lab's bounds: older runs keep their settings and curves,
    not their networks (lab.lab_records.bound_runs, as in the database)."""
    store, model = lab_store.default_store(), st.session_state.get(MODEL)
    return lab_records.bound_runs(runs, model.number if model is not None else None,
                                  store.keep_runs, store.max_bytes)


def sync() -> bool:
    """Move a finished job's results into the session: run history and current model.

    Called at the top of every full run; returns True when it collected something.
    A completed run, or a stopped one that trained at least one step, becomes the
    current model; the run history keeps every run, diverged ones too, so nothing
    trained is lost (the networks of the last runs only). The job saved the run to
    the database itself.
    """
    state = st.session_state
    current = state.get(JOB)
    if current is None or state.get(COLLECTED, True) or not current.done:
        return False
    number = current.number if current.number is not None else state[NEXT_RUN] - 1
    run = run_from_job(current, number=number, dataset=dataset_info().name)
    if run.network is not None and run.status in (COMPLETED, STOPPED):
        state[MODEL] = run  # a diverged run stays in the history only
        if state.get(SAVED) is not None:
            state[SAVED]["model"] = number  # the job made it the lab's current model
    runs = [r for r in state[RUNS] if r.number != number]
    state[RUNS] = _bounded(sorted([*runs, run.for_history()], key=lambda r: r.number))
    state[NEXT_RUN] = max(state[NEXT_RUN], number + 1)
    state[COLLECTED] = True
    return True


# ---------------------------------------------------------------------------------
# Button callbacks (on_click): they change state; the rerun that follows shows it
# ---------------------------------------------------------------------------------


def start_training(continues: Run | None = None) -> None:
    """Start a run with the current settings (ignored while a run is pending), or, with
    ``continues`` (an interrupted run), one that trains its remaining epochs from its saved
    weights with its settings."""
    init()
    state = st.session_state
    if job_pending():
        return
    state[NOTICE] = state[RUN_NOTE] = None
    try:
        config = settings_module.to_config(state[SETTINGS]) if continues is None else continues.config
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
    network, note = None, ""
    if continues is not None:
        problem = model_mismatch(continues, data)
        if problem:
            state[NOTICE] = f"Cannot continue run {continues.number}: {problem}"
            return
        network, config, note = _continuation(continues, config)
    full_batch = config.batch_size is not None and config.batch_size > data.n_train and not config.conv_layers
    if full_batch:
        # (A conv network keeps its mini-batches, at most 1,024: the trainer takes min(batch, n).)
        config = dataclasses.replace(config, batch_size=None)
    problem = run_cost.run_cost_problem(config, data.n_train, data.n_validation, data.n_classes)
    if problem:  # checked here too, not only by the disabled button: every start comes through
        state[NOTICE] = f"Cannot start: {problem}"
        return
    job = TrainingJob(
        config, data.train_images, data.train_labels,
        validation=(data.validation_images, data.validation_labels),
        test=test[:2] if test is not None else None, network=network,
        scheduler=scheduler(), n_classes=data.n_classes, class_names=data.class_names, note=note,
        max_seconds=run_cost.max_run_seconds(),
    )
    number = _number_run(job)
    job.name = f"run {number}"
    if full_batch:
        state[RUN_NOTE] = (f"Batch size {state[SETTINGS]['batch_size']:,} is larger than the "
                           f"{data.n_train:,} training images: run {number} trains with the "
                           "full batch.")
    session_jobs().start(job)  # this session owns it: closing it starts the grace period
    state[JOB], state[COLLECTED], state[NEXT_RUN] = job, False, number + 1
    job.start()


def _number_run(job: TrainingJob) -> int:
    """The new run's number, from the database (which then saves the job as it trains);
    the session's own count when the database cannot be written (the run is not saved)."""
    state = st.session_state
    try:
        started = lab_store.default_store().start_run(
            state[LAB], job, dataset=dataset_info().name, settings=state[SETTINGS], at_least=state[NEXT_RUN])
    except Exception:
        logger.exception("numbering a run in the database failed")
        state[NOTICE] = ("This run will not be saved: the server's database did not answer. It "
                         "trains, and stays in this page until it is closed.")
        job.number = state[NEXT_RUN]
        return job.number
    if state.get(SAVED) is not None:
        state[SAVED]["settings"] = _lab_summary()["settings"]
    return started.number


def _continuation(run: Run, config):
    """(network, config, note) of a run continuing the interrupted ``run``: its saved
    weights (None: nothing was saved, so it starts again), its remaining epochs."""
    if run.network is None or not run.epochs_done:
        return None, config, f"It starts run {run.number} again (nothing of it was saved)."
    remaining = max(1, config.epochs - run.epochs_done)
    return (run.network.copy(), dataclasses.replace(config, epochs=remaining),
            f"It continued run {run.number} from its epoch {run.epochs_done} (the optimizer started afresh).")


def continue_run(number: int) -> None:
    """Continue the interrupted run ``number`` (the Train page's Continue button)."""
    run = next((r for r in runs() if r.number == number and r.status == INTERRUPTED), None)
    if run is not None:
        start_training(continues=run)


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
    st.session_state.pop(DATA_NOTE, None)  # the lab's data question is answered
    return True


def install_model(run: Run) -> bool:
    """Make an uploaded model (a Run) the current model; it joins the run history, numbered
    in the database (``run.number`` changes to that number). Refused (False) while a run is
    pending."""
    init()
    if job_pending():
        return False
    state = st.session_state
    try:
        lab_store.default_store().add_run(state[LAB], run)
    except Exception:
        logger.exception("saving an uploaded model failed")
        run.number = max(run.number, state[NEXT_RUN])
    state[MODEL] = run
    state[RUNS] = _bounded([*state[RUNS], run.for_history()])
    state[NEXT_RUN] = max(state[NEXT_RUN], run.number + 1)
    if state.get(SAVED) is not None:
        state[SAVED]["model"] = run.number
    return True
