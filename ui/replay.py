"""Play / Pause through the epochs of a run, shared by the Weights page's replay and the
Hidden space page's: a button, an epoch slider, and a fragment that advances one frame
per tick while playing (``@st.fragment(run_every=...)``; under AppTest, where the timer
never fires, each ``at.run()`` stands for one tick).

The frame and the playing flag are remembered choices (``ui/widgets.py``): ``<name>`` and
``<name>_playing``; the slider's key is ``inside_<name>``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from ui.widgets import bind, choices, choose, remember

PLAY_SECONDS = 1.0  # one frame per second while playing


def playing_flag(name: str) -> str:
    return f"{name}_playing"


def stop(name: str) -> None:
    """Pause (e.g. when its tab is left)."""
    choices()[playing_flag(name)] = False


def _set_playing(name: str, last: int, playing: bool) -> None:
    """Play or pause. Set, never toggled: a click whose callback runs twice (its trigger
    replayed after a rerun the ticks interrupted) must not undo itself."""
    if playing and not choices().get(playing_flag(name), False):
        if choices().get(name, last) >= last:
            choose(name, 0)  # play again from the start
        choices()[f"{name}_hold"] = True  # show the current frame first, then advance
    choices()[playing_flag(name)] = playing


def _slider_moved(name: str) -> None:
    stop(name)
    remember(name)


def player(name: str, n_frames: int, draw: Callable[[int], None], *, format_func: Callable[[int], str],
           button_key: str, busy: bool = False, label: str = "Epoch", seconds: float = PLAY_SECONDS) -> None:
    """The Play/Pause button, then (in a fragment that ticks while playing) the slider over
    ``n_frames`` frames (``format_func`` names one) and ``draw(frame)``. ``busy``: a run is
    training (the sidebar's timer already polls it: one timer per page), so Play waits."""
    last = n_frames - 1
    if busy:
        stop(name)
    playing = bool(choices().get(playing_flag(name), False))
    st.button("Pause" if playing else "Play", icon=":material/pause:" if playing else ":material/play_arrow:",
              key=button_key, on_click=_set_playing, args=(name, last, not playing), disabled=busy,
              help="Plays once a running training is done." if busy else None)

    @st.fragment(run_every=seconds if playing else None)
    def frame() -> None:
        valid = lambda v: isinstance(v, int | np.integer) and 0 <= v <= last
        index = int(choices().get(name, last)) if valid(choices().get(name, last)) else last
        if choices().get(playing_flag(name), False) and not choices().pop(f"{name}_hold", False):
            index = min(index + 1, last)
            choose(name, index)
        key = bind(name, last, valid)
        st.select_slider(label, options=list(range(n_frames)), key=key, format_func=format_func,
                         on_change=_slider_moved, args=(name,))
        remember(name)
        index = int(st.session_state[key])
        draw(index)
        if choices().get(playing_flag(name), False) and index >= last:
            stop(name)
            st.rerun()  # stop the timer: a full rerun redraws Play

    frame()
