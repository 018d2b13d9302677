"""The room's shared things on the pages. The room's handwriting: the Draw page's "add it to
the room's set", the set's images for Evaluate and the leaderboard (loaded once per version
of the set and shared by every session, read-only), a model's accuracy on it, and the
facilitator's download and clear (storage: ``lab/handwriting.py``). The room map: the
leaderboard's entries and figures, built once per version of the board for every session
(``lab/room.py``, ``ui/figures/room.py``).

Session state: ``room_label`` (the Draw page's label choice), ``room_message``,
``room_csv`` / ``room_facilitator_message`` (the facilitator's download and clear).
"""

from __future__ import annotations

import logging

import numpy as np
import streamlit as st

from datasets import DIGIT_CLASS_NAMES
from lab import handwriting, storage
from lab.data import read_only
from lab.evaluation import Evaluation, evaluate_set
from lab.room import room_points
from lab.runs import run_key
from ui import resources, state
from ui.digit_picker import DRAWN_DIGIT
from ui.figures.room import room_map_figure, settings_parallel_figure
from ui.widgets import cached_per_key, set_message

logger = logging.getLogger(__name__)

LABEL, MESSAGE = "room_label", "room_message"
CSV, FACILITATOR_MESSAGE = "room_csv", "room_facilitator_message"
CSV_NAME = "room-handwriting.csv"
ROOM_SET = "room"  # Evaluate's name of the set


def store() -> handwriting.RoomHandwriting:
    """The room's handwriting in the configured database (a cheap handle)."""
    return handwriting.RoomHandwriting()


def participant() -> str:
    return handwriting.participant_key(st.session_state.get(state.LAB, ""))


@st.cache_resource(max_entries=2, show_spinner=False)
def _images(url: str, version: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The set's images and labels at ``version`` (shared by every session: read-only)."""
    images, labels = handwriting.RoomHandwriting(url).images()
    return read_only(images), read_only(labels)


def room_set() -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
    """(images (n, 784) uint8, labels (n,), version) of the room's handwriting, or None when
    it is empty or the database cannot be read."""
    try:
        room = store()
        version = room.version()
        if not version[0]:
            return None
        images, labels = _images(room.database.url.render_as_string(hide_password=False), version)
    except (storage.StorageError, handwriting.HandwritingError, OSError):
        return None
    except Exception:  # a database that is away must not break the page
        logger.exception("reading the room's handwriting failed")
        return None
    return images, labels, version


def reads_digits(run) -> bool:
    return run is not None and run.network is not None and tuple(run.class_names) == DIGIT_CLASS_NAMES


def evaluation(run) -> Evaluation | None:
    """``run``'s model on the room's handwriting (cached per model and version of the set),
    or None when the set is empty or the model does not read digits."""
    room = room_set()
    if room is None or not reads_digits(run):
        return None
    images, labels, version = room
    return cached_per_key("room_evaluation", (*run_key(run), version), lambda: evaluate_set(
        run.network, images, labels, f"{len(labels):,} drawings of the room's handwriting", len(DIGIT_CLASS_NAMES)))


# -- the Draw page ------------------------------------------------------------------------------


def add_drawing(canvas: int) -> bool:
    """For an on_click: add the drawing of canvas number ``canvas`` with the chosen label
    (once: a second click on the same canvas finds it there). True when it was added."""
    label, drawn = st.session_state.get(LABEL), st.session_state.get(DRAWN_DIGIT)
    if label is None or drawn is None:
        set_message("error", "Draw a digit and choose which digit it is first.", MESSAGE)
        return False
    pixels = np.rint(np.asarray(drawn, dtype=np.float64) * 255).astype(np.uint8)
    lab_id = st.session_state.get(state.LAB, "")
    try:
        added = store().add(handwriting.drawing_key(lab_id, canvas), participant(), int(label), pixels)
    except handwriting.HandwritingError as error:
        set_message("error", f"Not added: {error}.", MESSAGE)
        return False
    if not added.added:
        set_message("success", "This drawing is already in the room's set.", MESSAGE)
        return False
    set_message("success", f"Added your {int(label)} to the room's handwriting: {added.yours} of yours "
                           f"(at most {store().per_person}), {added.total:,} in the room.", MESSAGE)
    st.session_state[LABEL] = None
    return True


def facilitator_download(token_key: str) -> None:
    """on_click of the facilitator's form: the set as a Kaggle CSV, if the token (in widget
    ``token_key``) is right."""
    token = st.session_state.get(token_key, "")
    st.session_state[token_key] = ""  # never kept in the session
    st.session_state.pop(CSV, None)
    try:
        st.session_state[CSV] = store().export_csv(token)
    except handwriting.HandwritingError as error:
        set_message("error", f"Not downloaded: {error}.", FACILITATOR_MESSAGE)
        return
    set_message("success", "Ready: press Download below.", FACILITATOR_MESSAGE)


def facilitator_clear(token_key: str) -> None:
    """on_click of the facilitator's form: delete the set, if the token (in widget
    ``token_key``) is right."""
    token = st.session_state.get(token_key, "")
    st.session_state[token_key] = ""
    st.session_state.pop(CSV, None)
    try:
        count = store().clear(token)
    except handwriting.HandwritingError as error:
        set_message("error", f"Not cleared: {error}.", FACILITATOR_MESSAGE)
        return
    set_message("success", f"Cleared {count:,} drawings from the room's handwriting.", FACILITATOR_MESSAGE)


# -- the room map (the Leaderboard page) ---------------------------------------------------------


@st.cache_resource(max_entries=4, show_spinner=False)
def _board_entries(url: str, version: tuple[int, int], challenge: str | None) -> tuple:
    """Every entry of the board at ``version`` (shared: the board is public to the room)."""
    return tuple(resources.leaderboard().entries(challenge, limit=None))


@st.cache_resource(max_entries=16, show_spinner=False)
def _room_figures(url: str, version: tuple[int, int], challenge: str | None, colour_by: str, projector: bool):
    """(points, room map, parallel coordinates) of the board at ``version``, built once for
    every session that shows them (each refresh of an open page only checks the version)."""
    points = room_points(_board_entries(url, version, challenge))
    return (points, room_map_figure(points, colour_by, projector=projector),
            settings_parallel_figure(points, projector=projector))


def board_view(challenge: str | None, colour_by: str, projector: bool):
    """(entries best first, points, room map figure, parallel coordinates figure) of the
    leaderboard (``challenge`` None: every entry), rebuilt only when the board changed."""
    board = resources.leaderboard()
    url, version = board.database.url.render_as_string(hide_password=False), board.version()
    entries = _board_entries(url, version, challenge)
    return (entries, *_room_figures(url, version, challenge, colour_by, projector))
