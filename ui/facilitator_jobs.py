"""The facilitator's view of the server's runs (on the Leaderboard page): every run this
server process trains or holds in its queue, whoever started it, and a button that stops
any of them. The facilitator token (``lab/facilitator.py``, rate-limited) unlocks the view
for :data:`UNLOCK_SECONDS` in this session; the token itself is never kept.

Behind nginx each process has its own queue: the view shows the runs of the process this
page is connected to. Session state: ``facilitator_jobs_until`` (when the view locks
again), the form's ``facilitator_jobs_token``, ``facilitator_jobs_pick`` (runs to stop).
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from lab import facilitator
from lab.display_text import duration
from lab.jobs import QUEUED, TrainingJob
from lab.settings import describe_config
from ui import resources
from ui.widgets import set_message, show_message

UNLOCKED_UNTIL, TOKEN, PICK, MESSAGE = ("facilitator_jobs_until", "facilitator_jobs_token", "facilitator_jobs_pick",
                                        "facilitator_jobs_message")
UNLOCK_SECONDS = 15 * 60
STOPPED_BY_FACILITATOR = "Stopped by the facilitator."


def job_key(job: TrainingJob) -> str:
    """Names a job in this process for the stop list (never shown, never stored)."""
    return f"{id(job):x}"


def unlocked() -> bool:
    return time.monotonic() < st.session_state.get(UNLOCKED_UNTIL, 0.0)


def unlock() -> None:
    """on_click: show the runs if the token is right."""
    token = st.session_state.get(TOKEN, "")
    st.session_state[TOKEN] = ""  # never kept in the session
    try:
        facilitator.check_token(token)
    except facilitator.TokenError as error:
        set_message("error", f"Not shown: {error}.", MESSAGE)
        return
    st.session_state[UNLOCKED_UNTIL] = time.monotonic() + UNLOCK_SECONDS


def lock() -> None:
    st.session_state.pop(UNLOCKED_UNTIL, None)


def stop_chosen() -> None:
    """on_click: stop the runs picked in the list (only while unlocked)."""
    if not unlocked():
        set_message("error", "Not stopped: enter the facilitator token again.", MESSAGE)
        return
    chosen = set(st.session_state.get(PICK) or ())
    jobs = [job for job in resources.scheduler().jobs() if job_key(job) in chosen]
    for job in jobs:
        job.stop(reason=STOPPED_BY_FACILITATOR)
    for job in jobs:
        job.join(timeout=1.0)  # the trainer checks its stop flag every step
    st.session_state[PICK] = []
    names = ", ".join(job.name or "a run" for job in jobs)
    set_message("success", f"Stopped {names}." if jobs else "Those runs had already ended.", MESSAGE)


def jobs_table(jobs: list[TrainingJob]) -> pd.DataFrame:
    """One row per job: its name, where it is, its settings, its progress and time."""
    rows = []
    for job in jobs:
        snapshot = job.snapshot()
        rows.append({
            "run": job.name or "?",
            "status": f"queued ({snapshot.queue_position})" if snapshot.status == QUEUED else snapshot.status,
            "settings": describe_config(job.config, n_classes=len(job.class_names or range(10))),
            "epoch": f"{snapshot.epoch:.1f}/{snapshot.epochs}",
            "training for": duration(snapshot.elapsed) if snapshot.status != QUEUED else "–",
            "limit": "none" if job.max_seconds is None else duration(job.max_seconds),
        })
    return pd.DataFrame(rows, columns=["run", "status", "settings", "epoch", "training for", "limit"])


def panel() -> None:
    """The token form, or (unlocked) the server's runs and the stop button."""
    show_message(MESSAGE)
    if not unlocked():
        with st.form("facilitator_jobs_form", border=False):
            st.text_input("Facilitator token", type="password", key=TOKEN)
            st.form_submit_button("Show the server's runs", key="facilitator_jobs_unlock", on_click=unlock,
                                  icon=":material/visibility:")
        return
    jobs = resources.scheduler().jobs()
    running = sum(job.snapshot().status != QUEUED for job in jobs)
    st.caption(f"This server process: {running} run{'s' if running != 1 else ''} training, "
               f"{len(jobs) - running} waiting. Every participant's, whoever started it.")
    st.dataframe(jobs_table(jobs), hide_index=True, width="stretch", key="facilitator_jobs_table")
    names = {job_key(job): job.name or "a run" for job in jobs}
    if st.session_state.get(PICK) and not set(st.session_state[PICK]) <= set(names):
        st.session_state[PICK] = [key for key in st.session_state[PICK] if key in names]
    st.multiselect("Runs to stop", list(names), key=PICK, format_func=names.get)
    stop_col, refresh_col, lock_col = st.columns(3)
    stop_col.button("Stop the chosen runs", key="facilitator_jobs_stop", on_click=stop_chosen, type="primary",
                    icon=":material/stop_circle:", disabled=not st.session_state.get(PICK))
    refresh_col.button("Refresh", key="facilitator_jobs_refresh", icon=":material/refresh:")
    lock_col.button("Hide", key="facilitator_jobs_lock", on_click=lock, icon=":material/lock:")
    st.caption("A stopped run keeps what it learned; its participant sees \u201cStopped by the facilitator\u201d.")
