"""The Leaderboard page (issue 8): submit the current model's run, see the room's entries.

Storage and checks are in :mod:`lab.leaderboard` (SQLite, shared by every session of the
server). Names are shown only inside a dataframe, which renders its cells as text, never
as Markdown or HTML. A run's id on the board is a hash of this session's lab id and the
run number (the lab id itself is private and never stored).
"""

from __future__ import annotations

import hashlib
import os
import time

import streamlit as st

from datasets import DIGIT_CLASS_NAMES
from lab.challenges import settings_of
from lab.leaderboard import URL_ENV, Leaderboard, LeaderboardError, default_path, open_leaderboard
from lab.settings import OPTIMIZER_LABELS

from . import state, workshop

NAME, TOKEN, FILTER, MESSAGE = ("leaderboard_name", "leaderboard_token", "leaderboard_filter",
                                "leaderboard_message")
CLEAR_MESSAGE = "leaderboard_clear_message"
ALL, FREE = "__all__", ""


@st.cache_resource(show_spinner=False)
def _board(url: str, path: str) -> Leaderboard:
    """One handle per configured database (it keeps no entries in memory: they are in the
    database). ``path`` is part of the cache key only: $DIGIT_LAB_LEADERBOARD_DB."""
    return open_leaderboard(url)


def board() -> Leaderboard:
    return _board(os.environ.get(URL_ENV, "").strip(), str(default_path()))


def run_id(run) -> str:
    lab = st.session_state.get(state.LAB, "")
    return hashlib.sha256(f"{lab}:{run.number}".encode()).hexdigest()[:24]


def _submit() -> None:
    """on_click: put the current model's run on the board."""
    run = state.model()
    if run is None or run.test_accuracy is None or tuple(run.class_names) != DIGIT_CLASS_NAMES:
        st.session_state[MESSAGE] = ("error", "Train a model first: the board needs its accuracy "
                                              "on the real MNIST test set.")
        return
    challenge = workshop.active_challenge()
    settings = settings_of(run.config)
    ident, note = "", ""
    if challenge is not None:
        if run.number < st.session_state.get(workshop.CHALLENGE_SINCE, 1) or \
                challenge.violations(settings):
            note = (f" It is listed as free training: it was not trained within the rules of "
                    f"“{challenge.title}”.")
        else:
            ident = challenge.id
    try:
        board().submit(run_id(run), st.session_state.get(NAME, ""), float(run.test_accuracy),
                       settings, challenge=ident)
    except LeaderboardError as error:
        st.session_state[MESSAGE] = ("error", f"Not submitted: {error}.")
        return
    st.session_state[MESSAGE] = ("success", f"Run {run.number} is on the leaderboard.{note}")


def _percent(value) -> str:
    return f"{100 * value:.1f}%"


def network_text(s: dict) -> str:
    """E.g. "784-128-10 relu" or "28×28 → conv 8@5×5 → pool → 10 relu" from an entry's
    stored settings (which may predate the convolution knobs, or be odd: never raises)."""
    try:
        layers = int(s.get("layers", 1))
        hidden = [str(s.get("width", "?"))] * layers
        n_conv = int(s.get("conv_layers", 0) or 0)
        if n_conv:
            kernel = int(s.get("conv_kernel", 5))
            filters = [int(s.get("conv_filters", 8)), int(s.get("conv_filters_2", 16))]
            blocks = []
            for layer in range(n_conv):
                blocks.append(f"conv {filters[min(layer, 1)]}@{kernel}×{kernel}"
                              + (" same" if s.get("conv_padding") == "same" else ""))
                blocks += ["pool"] if s.get("conv_pool", True) else []
            return " → ".join(["28×28", *blocks, *hidden, "10"]) + f" {s.get('activation', '')}"
    except (TypeError, ValueError):
        hidden = ["?"]
    return "784-" + "-".join(hidden or ["?"]) + f"-10 {s.get('activation', '')}"


def entries_table(entries, titles: dict):
    import pandas as pd

    rows = []
    for entry in entries:
        s = entry.settings
        rows.append({
            "rank": entry.rank,
            "name": entry.name,
            "test accuracy": _percent(entry.accuracy),
            "challenge": titles.get(entry.challenge, entry.challenge) or "free training",
            "network": network_text(s),
            "optimizer": OPTIMIZER_LABELS.get(s.get("optimizer"), s.get("optimizer")),
            "learning rate": f"{s.get('learning_rate', 0):g}",
            "epochs": s.get("epochs"),
            "batch": "full" if s.get("batch_mode") == "Full batch" else s.get("batch_size"),
            "submitted": time.strftime("%H:%M", time.localtime(entry.created)),
        })
    columns = ["rank", "name", "test accuracy", "challenge", "network", "optimizer",
               "learning rate", "epochs", "batch", "submitted"]
    return pd.DataFrame(rows, columns=columns)


def submit_section() -> None:
    st.subheader("Share your run")
    run = state.model()
    if run is None or run.test_accuracy is None or tuple(run.class_names) != DIGIT_CLASS_NAMES:
        # The board ranks digit models on MNIST's test set: an EMNIST letters model is not comparable.
        st.caption("Train a digit model on the Train page first; then you can put its test accuracy "
                   "on the room's board here.")
    else:
        challenge = workshop.active_challenge()
        st.caption(f"Current model: run {run.number}, {run.architecture}, test accuracy "
                   f"{_percent(run.test_accuracy)}" +
                   (f", challenge “{challenge.title}”." if challenge else "."))
        name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
        name_col.text_input("Display name", key=NAME, max_chars=40,
                            placeholder="a name the room will see")
        button_col.button(f"Submit run {run.number}", key="leaderboard_submit", on_click=_submit,
                          type="primary", width="stretch",
                          disabled=not str(st.session_state.get(NAME, "")).strip())
        st.caption("Opt-in: only the name you type, the run's settings and its test accuracy "
                   "are stored, on this server, until the facilitator clears the board. One "
                   "submission per run.")
    message = st.session_state.pop(MESSAGE, None)
    if message:
        kind, text = message
        (st.success if kind == "success" else st.error)(text)


def board_section() -> None:
    challenges, _ = workshop.server_challenges()
    titles = {c.id: c.title for c in challenges}
    lb = board()
    known = [c.id for c in challenges]
    known += [c for c in lb.challenges() if c and c not in known]
    options = [ALL, FREE, *known]
    if st.session_state.get(FILTER) not in options:
        active = workshop.active_challenge()
        st.session_state[FILTER] = active.id if active and active.id in options else ALL
    st.subheader("The room's best runs")
    st.selectbox("Show", options, key=FILTER,
                 format_func=lambda c: {ALL: "All runs", FREE: "Free training"}.get(
                     c, f"Challenge: {titles.get(c, c)}"))
    choice = st.session_state[FILTER]
    entries = lb.entries(None if choice == ALL else choice)
    if not entries:
        st.caption("No runs here yet.")
    st.dataframe(entries_table(entries, titles), hide_index=True, width="stretch",
                 key="leaderboard_table")


def _clear() -> None:
    """on_click of the facilitator form: clear the board if the token is right."""
    token = st.session_state.get(TOKEN, "")
    st.session_state[TOKEN] = ""  # never kept in the session
    try:
        count = board().clear(token)
    except LeaderboardError as error:
        st.session_state[CLEAR_MESSAGE] = ("error", f"Not cleared: {error}.")
    else:
        st.session_state[CLEAR_MESSAGE] = ("success", f"Cleared {count} entries.")


def clear_section() -> None:
    message = st.session_state.pop(CLEAR_MESSAGE, None)
    with st.expander("Facilitator: clear the leaderboard", icon=":material/delete:",
                     expanded=message is not None):
        with st.form("leaderboard_clear"):
            st.text_input("Facilitator token", type="password", key=TOKEN)
            st.form_submit_button("Clear every entry", key="leaderboard_clear_button",
                                  on_click=_clear)
        if message:
            kind, text = message
            (st.success if kind == "success" else st.error)(text)


def render() -> None:
    st.title("Leaderboard")
    submit_section()
    clear_section()  # before the table, so the table shows the board after a clear
    board_section()
