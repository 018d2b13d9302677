"""Preset experiments on the Train page: pick one, load its settings (within the active
challenge's rules), see what to look for and where. The presets are in
``lab/presets.py`` (no Streamlit).
"""

from __future__ import annotations

import streamlit as st

from lab import presets
from lab.settings import CONV_DEFAULTS
from ui import state
from ui.workshop_challenges import active_challenge
from ui.workshop_lock import session_lock

PRESET_KEY, PRESET_NOTE = "workshop_preset", "workshop_preset_note"


def load_preset() -> None:
    """on_click: the chosen preset's settings (within the active challenge) into the page."""
    option = st.session_state.get(PRESET_KEY)
    if not option or option[0] not in presets.BY_ID:
        return
    preset = presets.BY_ID[option[0]]
    # A dense preset also switches convolution off (its dict predates the conv knobs).
    settings = {**CONV_DEFAULTS, **preset.settings(option[1])}
    notes = []
    challenge = active_challenge()
    if challenge is not None:
        settings, notes = challenge.apply(settings)
    lock = session_lock()  # an exercise's fixed settings win over the preset's
    if lock is not None:
        settings, fixed = lock.apply(settings)
        notes += fixed
    state.write_settings(settings)
    for name, value in settings.items():
        st.session_state[state.WIDGET_PREFIX + name] = value
    note = f"Loaded “{presets.label(option)}”. Look for: {preset.look_for} Where: {preset.page}"
    if notes:
        note += " (Changed for the challenge or the exercise: " + " ".join(notes) + ")"
    st.session_state[PRESET_NOTE] = note


def preset_panel() -> None:
    """The preset picker, its Load button and what the loaded preset shows."""
    options = presets.options()
    if st.session_state.get(PRESET_KEY) not in options:
        st.session_state[PRESET_KEY] = options[0]
    with st.container(border=True):
        st.selectbox("Preset experiment", options, key=PRESET_KEY, format_func=presets.label)
        st.button("Load preset", on_click=load_preset, key="load_preset", icon=":material/science:",
                  disabled=state.job_pending())
        preset = presets.BY_ID[st.session_state[PRESET_KEY][0]]
        note = st.session_state.get(PRESET_NOTE)
        if note:
            st.success(note, icon=":material/science:")
        else:
            st.caption(f"{preset.look_for} *Where:* {preset.page}")

