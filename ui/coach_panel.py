"""The coach on the Train page: the diagnoses of the latest run (``lab/coach.py``), live while
it trains and after it ends, each with its reason, a link to the page that shows it and a
button that sets the Train controls to the fix (an on_click callback; the next Start uses them).

Session state: ``coach_note`` (what the last fix changed). Buttons: ``coach_fix_<rule>``.
"""

from __future__ import annotations

import streamlit as st

from lab import coach, settings
from ui import navigation, state, workshop_lock

NOTE, RERUN = "coach_note", "coach_rerun"
ICONS = {"diverged": ":material/warning:", "flat": ":material/trending_flat:", "overfitting": ":material/call_split:",
         "dead_relus": ":material/heart_broken:", "vanishing": ":material/blur_on:",
         "more_epochs": ":material/trending_down:"}


def apply_fix(fix: dict, label: str) -> None:
    """The fix's settings into the session's settings and the Train page's controls."""
    chosen = dict(st.session_state[state.SETTINGS])
    for name, value in fix.items():
        chosen[name], _ = settings.clamp_setting(name, value)
    state.write_settings(chosen)
    changed = ", ".join(f"{settings.SETTING_LABELS.get(name, name.replace('_', ' ').capitalize())} "
                        f"{_shown(chosen[name])}" for name in fix)
    st.session_state[NOTE] = f"Coach: {label.lower()} set ({changed}). Press **Start** to try it."
    st.session_state[RERUN] = True  # the button sits in a fragment: the controls need a full rerun


def _shown(value) -> str:
    return settings.ACTIVATION_LABELS.get(value, f"{value:g}" if isinstance(value, float) else str(value))


def render(history, config, status: str, finished: bool) -> None:
    """The diagnoses of the run with ``history`` and ``config`` (nothing when there are none)."""
    if st.session_state.pop(RERUN, False):
        st.rerun()
    found = coach.diagnose(history, config, status, finished=finished)
    note = st.session_state.get(NOTE)
    if not found:
        if note:
            st.caption(note)
        return
    st.markdown("**Coach**" + ("" if finished else " (while it trains)"))
    lock = workshop_lock.session_lock()
    shown_pages = navigation.shown_pages(workshop_lock.hidden_pages())
    for diagnosis in found:
        with st.container(border=True):
            st.markdown(f"{ICONS.get(diagnosis.rule, '')} **{diagnosis.title}.** {diagnosis.why}")
            link, fix = st.columns(2)
            if diagnosis.page in shown_pages and diagnosis.page != "train":
                link.page_link(navigation.path(diagnosis.page), label=f"See it on {navigation.title(diagnosis.page)}",
                               icon=":material/arrow_forward:")
            elif diagnosis.page == "train":
                link.caption("See it in the curves above.")
            fixed = lock is not None and any(lock.fixes(name) for name in diagnosis.fix)
            fix.button(diagnosis.fix_label, key=f"coach_fix_{diagnosis.rule}", on_click=apply_fix,
                       args=(diagnosis.fix, diagnosis.fix_label), disabled=fixed, icon=":material/build:",
                       help="This exercise fixes that setting." if fixed else "Sets the controls on the left; "
                                                                              "press Start to train with them.")
    if note:
        st.caption(note)
