"""Workshop challenges on the Train page: pick one of the server's challenges, keep the
settings within its rules, say whether the latest run passed. The rules themselves are in
``lab/challenges.py`` (no Streamlit).

Session state: ``challenge_id`` (the active challenge, None: free training),
``challenge_since`` (the first run number trained under it: only those are judged),
``challenge_notes`` (what its rules changed), ``workshop_challenge`` (the selectbox).
"""

from __future__ import annotations

import streamlit as st

from lab import challenges
from ui import resources, state

CHALLENGE, CHALLENGE_SINCE, CHALLENGE_NOTES = "challenge_id", "challenge_since", "challenge_notes"
CHALLENGE_KEY = "workshop_challenge"


def challenge_by_id(ident) -> challenges.Challenge | None:
    """The server's challenge ``ident``, or None."""
    for challenge in resources.server_challenges()[0]:
        if challenge.id == ident:
            return challenge
    return None


def active_challenge() -> challenges.Challenge | None:
    """The session's active challenge, or None (free training)."""
    return challenge_by_id(st.session_state.get(CHALLENGE))


def activate(ident) -> None:
    """Make challenge ``ident`` the active one (None or unknown: free training)."""
    challenge = challenge_by_id(ident)
    st.session_state[CHALLENGE] = challenge.id if challenge else None
    # The controls' ranges change with the challenge, which makes them new widgets:
    # forget the old ones so that they are drawn again from the session's settings.
    state.forget_train_widgets()
    st.session_state[CHALLENGE_SINCE] = st.session_state.get(state.NEXT_RUN, 1)
    st.session_state[CHALLENGE_NOTES] = enforce_challenge() if challenge else []


def enforce_challenge() -> list[str]:
    """Bring the session's settings (and the Train page's widgets) within the active
    challenge's rules; returns the notes. Call before the controls are drawn."""
    challenge = active_challenge()
    if challenge is None:
        return []
    settings, notes = challenge.apply(st.session_state[state.SETTINGS])
    state.write_settings(settings)
    return notes


def _on_challenge_change() -> None:
    activate(st.session_state.get(CHALLENGE_KEY))


def challenge_panel(picker: bool = True) -> challenges.Challenge | None:
    """Pick a challenge (``picker``: False when an exercise hides the picker); show the
    active one's goal and rules. Returns it."""
    offered, error = resources.server_challenges()
    notes = enforce_challenge()  # settings from elsewhere (a lab, a link) keep the rules too
    if notes:
        st.session_state[CHALLENGE_NOTES] = [*st.session_state.get(CHALLENGE_NOTES, []), *notes]
    if error:
        st.warning(error)
    if not offered:
        return None
    ids = ["", *(c.id for c in offered)]  # "": free training (None would read "Choose")
    titles = {c.id: c.title for c in offered}
    if st.session_state.get(CHALLENGE) not in ids:
        st.session_state[CHALLENGE] = None
    st.session_state[CHALLENGE_KEY] = st.session_state.get(CHALLENGE) or ""
    if picker:
        st.selectbox("Challenge", ids, key=CHALLENGE_KEY, on_change=_on_challenge_change,
                     format_func=lambda i: titles.get(i, "None: free training"),
                     disabled=state.job_pending())
    challenge = active_challenge()
    notes = st.session_state.pop(CHALLENGE_NOTES, None)
    if challenge is not None:
        rules = " · ".join(challenge.rules_text())
        st.info(f"**Challenge: {challenge.title}**  \n{challenge.description}  \n"
                f"Goal: {challenge.goal_text()}. Rules: {rules}.", icon=":material/flag:")
        if notes:
            st.caption("Settings changed for the challenge: " + " ".join(notes))
    return challenge


def challenge_result() -> None:
    """Pass or fail for the latest run trained under the active challenge."""
    challenge = active_challenge()
    runs = state.runs()
    if challenge is None or not runs or state.job_pending():
        return
    run = runs[-1]
    since = st.session_state.get(CHALLENGE_SINCE, 1)
    if run.number < since:
        return
    passed, reasons = challenge.entry_verdict(run, since)  # what the Leaderboard's submit asks too
    text = "; ".join(reasons)
    if passed:
        st.success(f"Challenge passed with run {run.number}: {text}.", icon=":material/emoji_events:")
    else:
        st.error(f"Challenge not passed by run {run.number}: {text}.", icon=":material/flag:")

