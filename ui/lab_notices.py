"""What the Train page says about runs that did not end in this page: one interrupted when
its server process stopped (with the button that continues it), one training in another
server process of the room."""

from __future__ import annotations

import streamlit as st

from lab.jobs import ACTIVE_STATUSES, INTERRUPTED
from ui import state


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
