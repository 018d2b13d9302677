"""Locked exercise links on the pages: open a link's lock once per session (or the lock the
session's lab was opened with), keep the settings at its values, say what it fixes, and the
facilitator's form that composes such a link. The lock itself (parameters, signature, the
database of labs' locks) is in ``lab/exercise_lock.py``, which says how it is protected.

The session's lock is the link's merged with the current lesson step's
(:data:`LESSON_LOCK`, set by ``ui/lesson_panel.py``); the link's wins where both fix a setting.

Session state: ``exercise_lock`` (the link's :class:`~lab.exercise_lock.ExerciseLock`, or
None), ``exercise_lock_opened`` (looked for once), ``exercise_lock_note``, ``lesson_lock``,
``exercise_link`` (the link the facilitator composed), the form's ``exercise_*`` widgets.
"""

from __future__ import annotations

import logging

import streamlit as st

from lab import exercise_lock, facilitator, lab_store, url_settings
from lab.exercise_lock import CONTROL_LABELS, CONTROLS, PANELS, ExerciseLock
from ui import navigation, state

logger = logging.getLogger(__name__)

LINK_LOCK, OPENED, LOCK_NOTE, LESSON_LOCK = "exercise_lock", "exercise_lock_opened", "exercise_lock_note", "lesson_lock"
COMPOSED, COMPOSE_ERROR = "exercise_link", "exercise_link_error"
TOKEN, FIX_KEY, HIDE_KEY, PAGES_KEY = "exercise_token", "exercise_fix", "exercise_hide", "exercise_hide_pages"


def open_once(params: dict) -> None:
    """A session's first run (``workshop_link.apply_url_once``): the address's signed lock,
    kept for the session's lab; without one, the lock the lab was opened with before."""
    if st.session_state.get(OPENED):
        return
    st.session_state[OPENED] = True
    lab_id = st.session_state.get(state.LAB, "")
    carried, _ = url_settings.from_params(params)
    lock, note = exercise_lock.lock_from_params(params, carried, facilitator.server_token())
    try:
        store = exercise_lock.LockStore()
        if lock is not None:
            store.save(lab_id, lock)
        else:
            lock = store.load(lab_id)
    except Exception:  # the database is away: the link's lock still holds for this session
        logger.exception("the exercise lock store failed")
    st.session_state[LINK_LOCK] = None if lock is None or lock.empty else lock
    if note:
        st.session_state[LOCK_NOTE] = note
    enforce()
    if st.session_state[LINK_LOCK] is not None:
        # A lab opened with a lock is kept (an empty lab is not): a reload without the
        # link's parameters must find the lab, and with it the lock.
        try:
            lab_store.default_store().save_settings(lab_id, st.session_state[state.SETTINGS])
        except Exception:
            logger.exception("saving the locked lab failed")


def session_lock() -> ExerciseLock | None:
    """The lesson step's lock and the link's, together (None: nothing is locked)."""
    lesson, link = st.session_state.get(LESSON_LOCK), st.session_state.get(LINK_LOCK)
    if lesson is None:
        return link
    return lesson.merged(link)


def hidden_pages() -> frozenset:
    """Pages the link hides (lessons hide no pages)."""
    link = st.session_state.get(LINK_LOCK)
    return link.pages if link is not None else frozenset()


def shows(part: str) -> bool:
    """False for a control or panel (``presets``, ``challenge``, ``share``, ``lessons``) the lock hides."""
    lock = session_lock()
    return lock is None or not lock.hides(part)


def enforce() -> list[str]:
    """Bring the session's settings (and the Train page's widgets) to the lock's values;
    returns a note per change. Call before the controls are drawn."""
    lock = session_lock()
    if lock is None:
        return []
    settings, notes = lock.apply(st.session_state[state.SETTINGS])
    if notes:
        state.write_settings(settings)
    return notes


def lock_notes() -> None:
    """What the link's lock fixes and hides (and a link whose lock did not hold), on the Train page."""
    note = st.session_state.pop(LOCK_NOTE, None)
    if note:
        st.warning(note, icon=":material/lock_open:")
    link = st.session_state.get(LINK_LOCK)
    if link is not None:
        st.info("**Exercise link.** " + "; ".join(link.describe()) + ".", icon=":material/lock:")


# -- the facilitator's form ------------------------------------------------------------------


def _compose(base_url: str) -> None:
    """on_click: the signed link for the session's settings and the form's choices."""
    token = st.session_state.get(TOKEN, "")
    st.session_state[TOKEN] = ""  # never kept in the session
    st.session_state.pop(COMPOSED, None)
    st.session_state.pop(COMPOSE_ERROR, None)
    try:
        st.session_state[COMPOSED] = exercise_lock.compose_link(
            st.session_state[state.SETTINGS], token, st.session_state.get(FIX_KEY, []),
            st.session_state.get(HIDE_KEY, []), st.session_state.get(PAGES_KEY, []), base_url)
    except (facilitator.TokenError, exercise_lock.LockError) as error:
        st.session_state[COMPOSE_ERROR] = f"No link made: {error}."


def composer(base_url: str = "") -> None:
    """The facilitator's form: fix and hide controls and pages at the current settings, sign
    the link (to ``base_url``, the app's address) with the token. Not shown inside a locked
    exercise."""
    if st.session_state.get(LINK_LOCK) is not None:
        return
    with st.expander("Facilitator: a locked exercise link", icon=":material/lock:",
                     expanded=COMPOSED in st.session_state or COMPOSE_ERROR in st.session_state):
        st.caption("A link to the Train page with these settings, in which participants cannot change "
                   "the controls you fix and do not see the ones (or the pages) you hide. It is signed "
                   "with the facilitator token, so an edited link opens without its locks.")
        with st.form("exercise_form", border=False):
            st.multiselect("Fix (shown, not changeable)", list(CONTROLS), key=FIX_KEY, format_func=CONTROL_LABELS.get)
            st.multiselect("Hide (not shown; hidden settings stay as they are now)", [*CONTROLS, *PANELS],
                           key=HIDE_KEY, format_func=lambda c: CONTROL_LABELS.get(c) or PANELS[c])
            st.multiselect("Hide pages", [p for p in navigation.PAGES if p not in exercise_lock.ALWAYS_SHOWN_PAGES],
                           key=PAGES_KEY, format_func=navigation.title)
            st.text_input("Facilitator token", type="password", key=TOKEN)
            st.form_submit_button("Make the link", key="exercise_make_link", on_click=_compose, args=(base_url,))
        error = st.session_state.get(COMPOSE_ERROR)
        if error:
            st.error(error)
        link = st.session_state.get(COMPOSED)
        if link:
            st.code(link, language=None, wrap_lines=True)
            st.caption("Copy it (the icon at the right of the box). Each participant who opens it gets "
                       "their own lab with these locks, kept when they reload.")
