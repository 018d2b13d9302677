"""Leaderboard: submit the current model's run, see the room's entries, and (facilitator)
clear the board.

Storage and checks are in ``lab/leaderboard.py`` (shared by every session of the
server). Names are shown only inside a dataframe, which renders its cells as text, never
as Markdown or HTML. A run's id on the board is a hash of this session's lab id and the
run number (the lab id itself is private and never stored).
"""

import hashlib
import time

import pandas as pd
import streamlit as st

from datasets import DIGIT_CLASS_NAMES
from lab.challenges import settings_of
from lab.display_text import network_text, percent
from lab.leaderboard import LeaderboardError
from lab.settings import OPTIMIZER_LABELS
from ui import entry_script, resources, state, workshop_challenges
from ui.widgets import set_message, show_message

entry_script.require()

NAME, TOKEN, FILTER = "leaderboard_name", "leaderboard_token", "leaderboard_filter"
MESSAGE, CLEAR_MESSAGE = "leaderboard_message", "leaderboard_clear_message"
ALL, FREE = "__all__", ""
COLUMNS = ["rank", "name", "test accuracy", "challenge", "network", "optimizer", "learning rate",
           "epochs", "batch", "submitted"]


def run_id(run) -> str:
    lab = st.session_state.get(state.LAB, "")
    return hashlib.sha256(f"{lab}:{run.number}".encode()).hexdigest()[:24]


def on_the_board(run) -> bool:
    """The board ranks digit models on MNIST's test set: an EMNIST letters model is not comparable."""
    return run is not None and run.test_accuracy is not None and tuple(run.class_names) == DIGIT_CLASS_NAMES


def submit() -> None:
    """on_click: put the current model's run on the board."""
    run = state.model()
    if not on_the_board(run):
        set_message("error", "Train a model first: the board needs its accuracy on the real MNIST test set.",
                    MESSAGE)
        return
    challenge = workshop_challenges.active_challenge()
    settings = settings_of(run.config)
    ident, note = "", ""
    if challenge is not None:
        if run.number < st.session_state.get(workshop_challenges.CHALLENGE_SINCE, 1) or \
                challenge.violations(settings):
            note = (f" It is listed as free training: it was not trained within the rules of "
                    f"“{challenge.title}”.")
        else:
            ident = challenge.id
    try:
        resources.leaderboard().submit(run_id(run), st.session_state.get(NAME, ""),
                                       float(run.test_accuracy), settings, challenge=ident)
    except LeaderboardError as error:
        set_message("error", f"Not submitted: {error}.", MESSAGE)
        return
    set_message("success", f"Run {run.number} is on the leaderboard.{note}", MESSAGE)


def clear() -> None:
    """on_click of the facilitator form: clear the board if the token is right."""
    token = st.session_state.get(TOKEN, "")
    st.session_state[TOKEN] = ""  # never kept in the session
    try:
        count = resources.leaderboard().clear(token)
    except LeaderboardError as error:
        set_message("error", f"Not cleared: {error}.", CLEAR_MESSAGE)
    else:
        set_message("success", f"Cleared {count} entries.", CLEAR_MESSAGE)


def entries_table(entries, titles: dict) -> pd.DataFrame:
    rows = []
    for entry in entries:
        s = entry.settings
        rows.append({
            "rank": entry.rank,
            "name": entry.name,
            "test accuracy": percent(entry.accuracy),
            "challenge": titles.get(entry.challenge, entry.challenge) or "free training",
            "network": network_text(s),
            "optimizer": OPTIMIZER_LABELS.get(s.get("optimizer"), s.get("optimizer")),
            "learning rate": f"{s.get('learning_rate', 0):g}",
            "epochs": s.get("epochs"),
            "batch": "full" if s.get("batch_mode") == "Full batch" else s.get("batch_size"),
            "submitted": time.strftime("%H:%M", time.localtime(entry.created)),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


st.title("Leaderboard")

st.subheader("Share your run")
run = state.model()
if not on_the_board(run):
    st.caption("Train a digit model on the Train page first; then you can put its test accuracy "
               "on the room's board here.")
else:
    challenge = workshop_challenges.active_challenge()
    st.caption(f"Current model: run {run.number}, {run.architecture}, test accuracy "
               f"{percent(run.test_accuracy)}" + (f", challenge “{challenge.title}”." if challenge else "."))
    name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    name_col.text_input("Display name", key=NAME, max_chars=40, placeholder="a name the room will see")
    button_col.button(f"Submit run {run.number}", key="leaderboard_submit", on_click=submit,
                      type="primary", width="stretch",
                      disabled=not str(st.session_state.get(NAME, "")).strip())
    st.caption("Opt-in: only the name you type, the run's settings and its test accuracy "
               "are stored, on this server, until the facilitator clears the board. One "
               "submission per run.")
show_message(MESSAGE)

# The facilitator's form before the table, so the table shows the board after a clear.
with st.expander("Facilitator: clear the leaderboard", icon=":material/delete:",
                 expanded=CLEAR_MESSAGE in st.session_state):
    with st.form("leaderboard_clear"):
        st.text_input("Facilitator token", type="password", key=TOKEN)
        st.form_submit_button("Clear every entry", key="leaderboard_clear_button", on_click=clear)
    show_message(CLEAR_MESSAGE)

offered, _ = resources.server_challenges()
titles = {c.id: c.title for c in offered}
board = resources.leaderboard()
known = [c.id for c in offered]
known += [c for c in board.challenges() if c and c not in known]
options = [ALL, FREE, *known]
if st.session_state.get(FILTER) not in options:
    active = workshop_challenges.active_challenge()
    st.session_state[FILTER] = active.id if active and active.id in options else ALL
st.subheader("The room's best runs")
st.selectbox("Show", options, key=FILTER,
             format_func=lambda c: {ALL: "All runs", FREE: "Free training"}.get(c, f"Challenge: {titles.get(c, c)}"))
entries = board.entries(None if st.session_state[FILTER] == ALL else st.session_state[FILTER])
if not entries:
    st.caption("No runs here yet.")
st.dataframe(entries_table(entries, titles), hide_index=True, width="stretch", key="leaderboard_table")
