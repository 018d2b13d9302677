"""Train: the settings (or a preset, or a challenge), Start / Stop / Reset, the running
job's progress and curves, the run history, the link that shares the settings, and the
facilitator's locked exercise link. A locked link or a lesson step fixes some controls
and hides others (``ui/workshop_lock.py``): hidden ones are not drawn at all."""

import streamlit as st

from lab.display_text import percent, progress_text
from lab.jobs import COMPLETED, DIVERGED, FAILED, STOPPED, JobSnapshot
from lab.runs import runs_table
from ui import (
    coach_panel,
    entry_script,
    lab_notices,
    state,
    train_controls,
    workshop_challenges,
    workshop_link,
    workshop_lock,
    workshop_presets,
)
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
    big = projector()
    left, right = (st.container(), st.container()) if big else st.columns(2)  # projector: full width each
    left.plotly_chart(
        loss_figure(curves.epoch, curves.train_loss, curves.validation_loss, curves.step_loss,
                    curves.steps_per_epoch, steps_per_point=curves.steps_per_point, projector=big),
        key="loss_chart", config=STATIC_CHART)
    left.caption("Look for the loss falling, fast at first. Validation above training is normal; validation "
                 "turning up while training keeps falling is overfitting. A loss that jumps up: the learning "
                 "rate is too high.")
    if curves.epoch:
        right.plotly_chart(
            accuracy_figure(curves.epoch, curves.train_accuracy, curves.validation_accuracy, projector=big),
            key="accuracy_chart", config=STATIC_CHART)
        right.caption("Share of images read correctly after each epoch. The gap between training and "
                      "validation is what the network memorised rather than learned.")
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
    source = job if job is not None else state.runs()[-1]  # the restored snapshot is the latest run's
    coach_panel.render(source.history, source.config, snapshot.status, snapshot.finished)


st.title("Train")
workshop_link.url_notes()
workshop_lock.lock_notes()
# Before the controls: a challenge, then the exercise's lock (which wins), may change the settings.
challenge = workshop_challenges.challenge_panel(picker=workshop_lock.shows("challenge"))
lock_changes = workshop_lock.enforce()
if lock_changes:
    st.caption("Settings changed for the exercise: " + " ".join(lock_changes))
controls, live = st.columns([1, 2], gap="large")
with controls:
    if not projector() and workshop_lock.shows("presets"):
        workshop_presets.preset_panel()
    train_controls.settings_controls(challenge, compact=projector(), lock=workshop_lock.session_lock())
    train_controls.buttons()
    lab_notices.interrupted_run_panel()
    workshop_challenges.challenge_result()
    if workshop_lock.shows("share"):
        workshop_link.share_panel()
    else:
        workshop_link.mirror_url()
    workshop_lock.composer(workshop_link.base_url())
with live:
    live_panel()
st.subheader("Run history")
if state.runs():
    st.dataframe(runs_table(state.runs()), hide_index=True, width="stretch", key="run_history")
else:
    st.caption("Every run of this session is listed here, so you can compare them.")
