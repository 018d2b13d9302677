"""Every page runs through app.py: app.py marks each run, a page opened without it reruns.

Because a ``pages/`` folder sits next to app.py, Streamlit starts each server process in
its legacy "pages directory" mode and only switches to ``st.navigation`` once app.py has
run. If the very first request after a server start is a page's own address (say
``/train``), Streamlit runs that page file alone: no sidebar, no session setup.
"""

from __future__ import annotations

import streamlit as st

RAN = "_entry_script_ran"  # set by app.py, consumed by the page it runs
RETRIED = "_entry_script_retried"  # require() reran once


def mark() -> None:
    """app.py calls this before running a page (see :func:`require`)."""
    st.session_state[RAN] = True


def require() -> None:
    """Every page calls this first: make sure app.py ran before it. If not, switch the
    legacy mode off (what ``st.navigation`` itself does) and rerun, which runs app.py
    and the same page."""
    if st.session_state.pop(RAN, False):
        return
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", None):
        PagesManager.uses_pages_directory = False
        st.rerun()
    if not st.session_state.get(RETRIED):
        # Another session switched the legacy mode off while this one's first request
        # ran the page alone (many users opening /train on a fresh server): rerun once.
        st.session_state[RETRIED] = True
        st.rerun()
    st.error("This page must be opened through the app: run `streamlit run app.py` and open "
             "its address.")
    st.stop()
