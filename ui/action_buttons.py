"""Buttons whose click the page body acts on (loading data, downloading), remembered
through an on_click callback so that no click is lost or fires late.

A plain ``st.button``'s True lasts for one script run only; a run that is restarted
before reaching the button (``ui.entry_script.require`` reruns a page that Streamlit
started without app.py) would lose the click. The callback's flag survives that; app.py
drops a flag the page's run did not act on (its button was not drawn), so that it
cannot fire later, unexpectedly.
"""

from __future__ import annotations

import streamlit as st

REQUEST = "use_request"  # the action button last clicked
KEY_PREFIX = "use_"


def request(name: str) -> None:
    """on_click: remember that action button ``name`` was clicked."""
    st.session_state[REQUEST] = name


def action_button(label: str, name: str, **kwargs) -> bool:
    """A button (key ``use_<name>``) whose click is acted on in the page body: True once,
    on the run after the click, like ``if st.button(...)``."""
    st.button(label, on_click=request, args=(name,), key=KEY_PREFIX + name, **kwargs)
    return take_request(name)


def take_request(name: str) -> bool:
    """True (once) when action button ``name`` was clicked before this run."""
    if st.session_state.get(REQUEST) == name:
        del st.session_state[REQUEST]
        return True
    return False


def drop_unhandled_click() -> None:
    """After a page's run (app.py): forget a click the page did not act on."""
    st.session_state.pop(REQUEST, None)
