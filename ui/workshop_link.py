"""The Train page's settings in the address: a shared link's settings (and challenge) are
applied once per session, the address follows the settings, and the Share panel shows the
link. The parsing and checking is in ``lab/url_settings.py`` (no Streamlit).

Session state: ``workshop_url_applied`` (the address was applied, once per session),
``workshop_url_notes`` (what had to change in its settings), ``workshop_from_link``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from lab import url_settings
from lab.display_text import escape_markdown
from ui import lesson_panel, state, workshop_lock
from ui.workshop_challenges import CHALLENGE_NOTES, activate, active_challenge, challenge_by_id

URL_APPLIED, URL_NOTES, FROM_LINK = "workshop_url_applied", "workshop_url_notes", "workshop_from_link"
CHALLENGE_PARAM = "challenge"


def apply_url_once() -> None:
    """On a session's first run: the address's settings, challenge, exercise lock and lesson
    (app.py calls it)."""
    if st.session_state.get(URL_APPLIED):
        return
    st.session_state[URL_APPLIED] = True
    params = st.query_params.to_dict()
    notes: list[str] = []
    if url_settings.has_settings(params):
        settings, notes = url_settings.from_params(params, st.session_state[state.SETTINGS])
        state.forget_train_widgets()
        st.session_state[state.SETTINGS] = settings
    ident = params.get(CHALLENGE_PARAM)
    if ident:
        if challenge_by_id(ident) is None:
            notes.append(f"challenge={str(ident)[:40]!r} is not one of this server's challenges.")
        else:
            activate(ident)
            notes += st.session_state.pop(CHALLENGE_NOTES, [])
    st.session_state[URL_NOTES] = notes
    st.session_state[FROM_LINK] = url_settings.has_settings(params)
    workshop_lock.open_once(params)  # after the settings: a locked link fixes some of them
    lesson_panel.open_from_link(params)


def mirror_url() -> None:
    """Keep the address equal to the current settings (and challenge); ``lab`` stays."""
    wanted = url_settings.to_params(st.session_state[state.SETTINGS])
    for name, value in wanted.items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    for name in url_settings.CONV_SHORT.values():  # convolution turned off: its parameters go
        if name not in wanted and name in st.query_params:
            del st.query_params[name]
    challenge = active_challenge()
    if challenge is not None:
        if st.query_params.get(CHALLENGE_PARAM) != challenge.id:
            st.query_params[CHALLENGE_PARAM] = challenge.id
    elif CHALLENGE_PARAM in st.query_params:
        del st.query_params[CHALLENGE_PARAM]


def base_url() -> str:
    """The app's address without the page (a relative link when there is no browser)."""
    try:
        url = st.context.url or ""
    except Exception:  # noqa: BLE001 - no browser (AppTest): a relative link
        url = ""
    if not url:
        return ""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/train"):
        path = path[: -len("/train")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def share_link() -> str:
    """A link that opens the Train page with the session's settings (and challenge)."""
    challenge = active_challenge()
    extra = {CHALLENGE_PARAM: challenge.id} if challenge else None
    return url_settings.share_link(st.session_state[state.SETTINGS], base_url(), extra=extra)


def url_notes() -> None:
    """What the link's settings were (and what had to change), once."""
    notes = st.session_state.pop(URL_NOTES, None)
    from_link = st.session_state.pop(FROM_LINK, False)
    if from_link and not notes:
        st.info("Settings loaded from the link.", icon=":material/link:")
    if notes:  # they quote the link's values: plain text, whatever the link holds
        st.warning("Settings from the link were adjusted:\n\n" +
                   "\n".join(f"- {escape_markdown(note)}" for note in notes), icon=":material/tune:")


def share_panel() -> None:
    """Keep the address in step with the settings, and show the link to copy."""
    mirror_url()
    with st.expander("Share these settings", icon=":material/share:"):
        st.caption("Copy this link (the copy icon is at the right of the box): it opens the "
                   "Train page with these settings. Your lab and runs stay private.")
        st.code(share_link(), language=None, wrap_lines=True)

