"""The sidebar on every page: the dataset in use, the current model, a running job, the
projector toggle."""

from __future__ import annotations

import streamlit as st

from lab.display_text import escape_markdown, percent
from lab.jobs import QUEUED
from ui import state
from ui.widgets import PROJECTOR, projector

PROJECTOR_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 22px !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"] p,
[data-testid="stText"], label, button p { font-size: 1.25rem !important; }
h1 { font-size: 3.2rem !important; }
h2, h3 { font-size: 2.2rem !important; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p { color: #000 !important; }
</style>
"""


def render(job_progress: bool = True) -> None:
    """Draw the sidebar; ``job_progress=False`` on pages that show the running job themselves.

    Only one auto-refreshing fragment per page: two timers polling the same job can
    race each other (and a click) into overlapping reruns.
    """
    with st.sidebar:
        note = st.session_state.get(state.LAB_NOTE)
        if note and not state.runs():
            st.info(note, icon=":material/info:")
        if st.session_state.get(state.DATA_NOTE) and st.session_state.get(state.SESSION_DATA) is None:
            st.warning(st.session_state[state.DATA_NOTE], icon=":material/upload_file:")
        data = state.dataset_info()
        st.markdown("**Data**")
        st.caption(f"{escape_markdown(data.name)}: {data.n_images - data.n_validation:,} training and "
                   f"{data.n_validation:,} validation images  \n"
                   f"{escape_markdown(state.classes_text(data.class_names))}")
        st.markdown("**Current model**")
        model = state.model()
        if model is None:
            st.caption("None yet: train one on the Train page.")
        else:
            test = "" if model.test_accuracy is None else f" · test {percent(model.test_accuracy)}"
            note = "" if model.status == "completed" else f" ({model.status})"
            st.caption(f"{model.architecture}, run {model.number}{note}  \n"
                       f"{model.epochs_done} epochs · validation accuracy "
                       f"{percent(model.validation_accuracy)}{test}")
            if model.network is not None and model.network.layer_sizes[-1] != len(data.class_names):
                st.caption(f":orange[It reads {escape_markdown(state.classes_text(model.class_names))}, "
                           "not the classes of the data in use.]")
        if job_progress:
            _job_status()
        _projector_toggle()


def _job_status() -> None:
    """A small progress line while a run is going, polled on every page."""
    pending = state.job_pending()

    @st.fragment(run_every=state.POLL_SECONDS if pending else None)
    def status() -> None:
        state.hold_job()  # a page that reconnected holds its run again
        job = state.job()
        if job is None or not state.job_pending():
            return
        snapshot = job.snapshot()
        if snapshot.finished:
            st.rerun()  # one full rerun: the results join the session
        run = f"Run {state.job_running_number()}"
        if snapshot.status == QUEUED:
            text = f"{run}: waiting, number {snapshot.queue_position or 1} in the queue"
        else:
            text = f"{run}: epoch {snapshot.epoch:.1f}/{snapshot.epochs}"
        st.progress(snapshot.fraction, text=text)

    status()


def _projector_toggle() -> None:
    """The toggle, and the large-font style when it is on."""
    st.toggle("Projector view", key=PROJECTOR,
              help="Large fonts, high-contrast charts and fewer controls, for a room.")
    if projector():
        st.html(PROJECTOR_CSS)
