"""Leaderboard: submit the current model's run, see what worked in the room (the room map:
every run as a point, every run's settings as a line; refreshed while the page is open) and
the best runs, and (facilitator) clear the board, download and clear the room's handwriting,
see and stop any run of the server (``ui/facilitator_jobs.py``).

Storage and checks are in ``lab/leaderboard.py`` (shared by every session of the
server). Names are shown only inside a dataframe, which renders its cells as text, never
as Markdown or HTML. A run's id on the board is a hash of this session's lab id and the
run number (the lab id itself is private and never stored).
"""

import hashlib
import time

import numpy as np
import pandas as pd
import streamlit as st

from datasets import DIGIT_CLASS_NAMES
from lab import config
from lab.challenges import settings_of
from lab.display_text import network_text, percent
from lab.leaderboard import LeaderboardError
from lab.room import COLOUR_BY, what_worked
from lab.settings import OPTIMIZER_LABELS
from ui import entry_script, facilitator_jobs, resources, state, workshop_challenges, workshop_room
from ui.widgets import CHART_CONFIG, chart, projector, set_message, show_message

entry_script.require()

NAME, TOKEN, FILTER = "leaderboard_name", "leaderboard_token", "leaderboard_filter"
MESSAGE, CLEAR_MESSAGE = "leaderboard_message", "leaderboard_clear_message"
COLOUR = "leaderboard_colour_by"
ALL, FREE = "__all__", ""
COLUMNS = ["rank", "name", "test accuracy", "room's handwriting", "challenge", "network", "optimizer",
           "learning rate", "epochs", "batch", "submitted"]
TABLE_ROWS = 100
REFRESH_SECONDS = config.get(config.ROOM_REFRESH_SECONDS)


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
    if challenge is not None:  # the Train page's verdict decides: the same check
        passed, reasons = challenge.entry_verdict(run, st.session_state.get(workshop_challenges.CHALLENGE_SINCE, 1))
        if passed:
            ident = challenge.id
        else:
            note = f" It is listed as free training, not under “{challenge.title}”: {'; '.join(reasons)}."
    room = workshop_room.evaluation(run)
    try:
        resources.leaderboard().submit(run_id(run), st.session_state.get(NAME, ""),
                                       float(run.test_accuracy), settings, challenge=ident,
                                       room_accuracy=None if room is None else room.accuracy,
                                       room_images=0 if room is None else room.n)
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
            "room's handwriting": "–" if entry.room_accuracy is None else
            f"{percent(entry.room_accuracy)} of {entry.room_images:,}",
            "challenge": titles.get(entry.challenge, entry.challenge) or "free training",
            "network": network_text(s),
            "optimizer": OPTIMIZER_LABELS.get(s.get("optimizer"), s.get("optimizer")),
            "learning rate": f"{s.get('learning_rate', 0):g}",
            "epochs": s.get("epochs"),
            "batch": "full" if s.get("batch_mode") == "Full batch" else s.get("batch_size"),
            "submitted": time.strftime("%H:%M", time.localtime(entry.created)),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def room_map(entries, points, room_map_figure, parallel) -> None:
    """Every run as a dot (learning rate, accuracy, optimiser or activation, width), every
    run's settings as a line, and the median accuracy per optimiser or activation."""
    st.segmented_control("Colour by", list(COLOUR_BY), key=COLOUR, format_func=COLOUR_BY.get, required=True)
    chart(room_map_figure, "room_map", config=CHART_CONFIG)
    best = what_worked(points, st.session_state[COLOUR])
    st.caption(
        f"Each dot is one of the {len(entries):,} runs: across, its learning rate (log scale: each "
        "step is ten times larger); up, its accuracy on the MNIST test set; colour, its "
        f"{COLOUR_BY[st.session_state[COLOUR]]}; size, its hidden width. Look for where the high dots "
        "gather, and for the learning rates where every colour fails. (Dots at one learning rate are "
        "spread a little sideways so that they do not hide each other.)  \n**Median test accuracy:** "
        + " · ".join(f"{g.label} {percent(g.median)} ({g.runs} runs, best {percent(g.best)})" for g in best))
    chart(parallel, "room_parallel", config=CHART_CONFIG)
    st.caption("Each line is one run, through its settings to its test accuracy (the last axis, and the "
               "colour: yellow is best). Drag along any axis to keep only the runs in that range, e.g. "
               "the top of the accuracy axis: which settings do the best runs share?")


@st.fragment(run_every=REFRESH_SECONDS)
def room_view(challenge: str | None, titles: dict) -> None:
    """The room map and the best runs, redrawn every REFRESH_SECONDS while the page is open
    (rebuilt only when the board changed, see ``workshop_room.board_view``)."""
    big = projector()
    if st.session_state.get(COLOUR) not in COLOUR_BY:
        st.session_state[COLOUR] = "optimizer"
    entries, points, room_map_figure, parallel = workshop_room.board_view(challenge, st.session_state[COLOUR], big)
    st.subheader("What worked in this room?")
    if entries:
        room_map(entries, points, room_map_figure, parallel)
    else:
        st.caption("No runs here yet: the map fills as the room submits runs.")
    st.subheader("The room's best runs")
    st.dataframe(entries_table(entries[:TABLE_ROWS], titles), hide_index=True, width="stretch",
                 key="leaderboard_table")
    if len(entries) > TABLE_ROWS:
        st.caption(f"The best {TABLE_ROWS} of {len(entries):,} runs.")


def facilitator_form() -> None:
    """The facilitator's actions, each needing the token: clear the board; download or clear
    the room's handwriting."""
    room = workshop_room.room_set()
    counts = "" if room is None else " (" + ", ".join(
        f"{digit}: {n}" for digit, n in enumerate(np.bincount(room[1], minlength=10))) + ")"
    st.caption(f"The board has {board.count():,} runs; the room's handwriting "
               f"{0 if room is None else len(room[1]):,} drawings{counts}.")
    with st.form("leaderboard_clear"):
        st.text_input("Facilitator token", type="password", key=TOKEN)
        clear_col, download_col, forget_col = st.columns(3)
        clear_col.form_submit_button("Clear every entry", key="leaderboard_clear_button", on_click=clear,
                                     icon=":material/delete:")
        download_col.form_submit_button("Download the room's handwriting", key="room_download_button",
                                        on_click=workshop_room.facilitator_download, args=(TOKEN,),
                                        icon=":material/download:")
        forget_col.form_submit_button("Clear the room's handwriting", key="room_clear_button",
                                      on_click=workshop_room.facilitator_clear, args=(TOKEN,),
                                      icon=":material/delete_sweep:")
    show_message(CLEAR_MESSAGE)
    show_message(workshop_room.FACILITATOR_MESSAGE)
    csv = st.session_state.get(workshop_room.CSV)
    if csv is not None:
        st.download_button(f"Save {workshop_room.CSV_NAME}", csv, file_name=workshop_room.CSV_NAME,
                           mime="text/csv", icon=":material/save:", key="room_csv_download", on_click="ignore",
                           type="primary")
        st.caption("A Kaggle train.csv (label, pixel0 … pixel783): the Data page trains on it "
                   "(Kaggle train.csv), and any Kaggle Digit Recognizer code reads it.")


st.title("Leaderboard")

st.subheader("Share your run")
run = state.model()
if not on_the_board(run):
    st.caption("Train a digit model on the Train page first; then you can put its test accuracy "
               "on the room's board here.")
else:
    challenge = workshop_challenges.active_challenge()
    room = workshop_room.evaluation(run)
    st.caption(f"Current model: run {run.number}, {run.architecture}, test accuracy "
               f"{percent(run.test_accuracy)}"
               + ("" if room is None else f", {percent(room.accuracy)} on the room's handwriting ({room.n:,} drawings)")
               + (f", challenge “{challenge.title}”." if challenge else "."))
    name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    name_col.text_input("Display name", key=NAME, max_chars=40, placeholder="a name the room will see")
    button_col.button(f"Submit run {run.number}", key="leaderboard_submit", on_click=submit,
                      type="primary", width="stretch",
                      disabled=not str(st.session_state.get(NAME, "")).strip())
    st.caption("Opt-in: only the name you type, the run's settings, its test accuracy and its accuracy "
               "on the room's handwriting are stored, on this server, until the facilitator clears the "
               "board. One submission per run.")
show_message(MESSAGE)

offered, _ = resources.server_challenges()
titles = {c.id: c.title for c in offered}
board = resources.leaderboard()
known = [c.id for c in offered]
known += [c for c in board.challenges() if c and c not in known]
options = [ALL, FREE, *known]
if st.session_state.get(FILTER) not in options:
    active = workshop_challenges.active_challenge()
    st.session_state[FILTER] = active.id if active and active.id in options else ALL
st.selectbox("Show", options, key=FILTER,
             format_func=lambda c: {ALL: "All runs", FREE: "Free training"}.get(c, f"Challenge: {titles.get(c, c)}"))
room_view(None if st.session_state[FILTER] == ALL else st.session_state[FILTER], titles)

with st.expander("Facilitator: clear the board, download or clear the room's handwriting",
                 icon=":material/admin_panel_settings:",
                 expanded=any(key in st.session_state for key in (CLEAR_MESSAGE, workshop_room.FACILITATOR_MESSAGE,
                                                                   workshop_room.CSV))):
    facilitator_form()

with st.expander("Facilitator: the server's runs (see and stop any of them)", icon=":material/monitoring:",
                 expanded=facilitator_jobs.unlocked() or facilitator_jobs.MESSAGE in st.session_state):
    facilitator_jobs.panel()
