"""Train: the settings (or a preset, or a challenge), Start / Stop / Reset, the running
job's progress and curves, the run history, the link that shares the settings."""

import streamlit as st

from lab.display_text import percent, progress_text
from lab.jobs import COMPLETED, DIVERGED, FAILED, STOPPED, JobSnapshot
from lab.runs import runs_table
from ui import entry_script, lab_notices, state, train_controls, workshop_challenges, workshop_link, workshop_presets
from ui.figures.training import accuracy_figure, loss_figure
from ui.widgets import STATIC_CHART, projector

entry_script.require()


def outcome(snapshot: JobSnapshot) -> None:
    """How the finished run ended, and its test accuracy."""
    if snapshot.status == DIVERGED:
        st.warning(f"{snapshot.message} Lower the learning rate and press Start again.",
                   icon=":material/warning:")
    elif snapshot.status == FAILED:
        st.error(snapshot.message)
    elif snapshot.status == STOPPED:
        st.info(snapshot.message + " The model trained so far is kept.")
    elif snapshot.status == COMPLETED:
        model = state.model()
        where = state.dataset().test
        where = "the 10,000 real MNIST test images" if where is None else f"the {where[2]}"
        test = "" if model is None or model.test_accuracy is None else \
            f" Accuracy on {where}: **{percent(model.test_accuracy)}**."
        st.success(snapshot.message + test)


def progress_and_curves(snapshot: JobSnapshot) -> None:
    st.progress(snapshot.fraction, text=progress_text(snapshot))
    if snapshot.finished:
        outcome(snapshot)
    curves = snapshot.curves
    if not curves.epoch and len(curves.step_loss) < 2:
        return  # nothing to draw yet (or a run that ended at its first steps)
    left, right = st.columns(2)
    left.plotly_chart(
        loss_figure(curves.epoch, curves.train_loss, curves.validation_loss, curves.step_loss,
                    curves.steps_per_epoch),
        key="loss_chart", config=STATIC_CHART)
    if curves.epoch:
        right.plotly_chart(
            accuracy_figure(curves.epoch, curves.train_accuracy, curves.validation_accuracy),
            key="accuracy_chart", config=STATIC_CHART)
    else:
        right.caption("Accuracy is measured at the end of each epoch.")


@st.fragment(run_every=state.POLL_SECONDS if state.job_pending() else None)
def live_panel() -> None:
    """Progress and curves of the session's latest run, refreshed while it runs."""
    state.hold_job()  # a page that reconnected holds its run again
    job = state.job()
    restored = lab_notices.latest_run_snapshot() if job is None else None  # a reloaded lab's last run
    if job is None and restored is None:
        st.info("Choose settings on the left and press **Start**. Loss and accuracy curves "
                "appear here while the network trains.")
        return
    snapshot = job.snapshot() if job is not None else restored
    if snapshot.finished and state.job_pending():
        st.rerun()  # one full rerun: collect the results, re-enable Start
    progress_and_curves(snapshot)


st.title("Train")
workshop_link.url_notes()
challenge = workshop_challenges.challenge_panel()  # before the controls: it may change the settings
controls, live = st.columns([1, 2], gap="large")
with controls:
    if not projector():
        workshop_presets.preset_panel()
    train_controls.settings_controls(challenge, compact=projector())
    train_controls.buttons()
    lab_notices.interrupted_run_panel()
    workshop_challenges.challenge_result()
    workshop_link.share_panel()
with live:
    live_panel()
st.subheader("Run history")
if state.runs():
    st.dataframe(runs_table(state.runs()), hide_index=True, width="stretch", key="run_history")
else:
    st.caption("Every run of this session is listed here, so you can compare them.")
