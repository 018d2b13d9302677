"""What the Train page says about runs that did not end in this page: the latest run of a
restored lab (its curves), one interrupted when its server process stopped (with the button
that continues it), one training in another server process of the room."""

from __future__ import annotations

import streamlit as st

from lab.jobs import ACTIVE_STATUSES, FINISHED_STATUSES, INTERRUPTED, Curves, JobSnapshot
from lab.runs import Run
from ui import state


def latest_run_snapshot() -> JobSnapshot | None:
    """The latest run of the history, when it is the current model, as a finished job's
    snapshot (its curves and final numbers): for a page that restored the lab rather than
    ran the job. None without one (or after Reset)."""
    runs, model = state.runs(), state.model()
    if not runs or model is None or model.number != runs[-1].number:
        return None
    if runs[-1].status not in FINISHED_STATUSES or not runs[-1].history.epoch:
        return None
    return run_snapshot(runs[-1])


def run_snapshot(run: Run) -> JobSnapshot:
    """A finished run seen as the snapshot of the job that made it."""
    history, epochs = run.history, run.epochs_done
    steps = history.n_steps
    curves = Curves(epoch=list(history.epoch), train_loss=list(history.train_loss),
                    validation_loss=list(history.validation_loss), train_accuracy=list(history.train_accuracy),
                    validation_accuracy=list(history.validation_accuracy), step_loss=list(history.step_loss),
                    steps_per_epoch=max(1, round(steps / epochs)) if epochs else 1,
                    steps_per_point=history.step_loss_every)
    loss = history.train_loss[-1] if history.train_loss else None
    return JobSnapshot(status=run.status, message=run.message, queue_position=0, epoch=float(epochs),
                       epochs=run.config.epochs, step=steps, total_steps=max(steps, 1),
                       loss=loss if loss is not None and loss == loss else None,
                       accuracy=run.train_accuracy, validation_accuracy=run.validation_accuracy,
                       elapsed=run.seconds, eta=0.0, curves=curves)


def interrupted_run_panel() -> None:
    """The latest run, when it was interrupted: what is left of it and a Continue button;
    and the runs this lab trains in another server process."""
    runs = state.runs()
    elsewhere = [r for r in runs if r.status in ACTIVE_STATUSES]
    if elsewhere:
        numbers = ", ".join(str(r.number) for r in elsewhere)
        st.info(f"Run {numbers} of this lab {'is' if len(elsewhere) == 1 else 'are'} training in another "
                "server process of this room (another tab, or before the server moved you). Reload "
                "the page later to see how it ended.", icon=":material/sync:")
    if not runs or runs[-1].status != INTERRUPTED or state.job_pending():
        return
    run = runs[-1]
    total = run.config.epochs
    if run.network is not None and run.epochs_done:
        what = (f"Run {run.number} was interrupted at epoch {run.epochs_done} of {total}: the server process "
                f"training it stopped. Its weights from epoch {run.epochs_done} are kept; **Continue** trains "
                f"the remaining {max(1, total - run.epochs_done)} epochs from them, with its settings.")
        label = f"Continue run {run.number}"
    else:
        what = (f"Run {run.number} was interrupted before anything of it was saved: the server process "
                "training it stopped. **Start it again** trains it from the beginning, with its settings.")
        label = f"Start run {run.number} again"
    st.warning(what, icon=":material/restart_alt:")
    st.button(label, key="continue", on_click=state.continue_run, args=(run.number,), type="primary")
