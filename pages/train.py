import streamlit as st

from ui import state, train_panel, workshop

state.require_entry_script()

st.title("Train")
workshop.url_notes()
challenge = workshop.challenge_panel()  # before the controls: it may change the settings
controls, live = st.columns([1, 2], gap="large")
with controls:
    if not workshop.projector():
        workshop.preset_panel()
    train_panel.settings_controls(challenge, compact=workshop.projector())
    train_panel.buttons()
    workshop.challenge_result()
    workshop.share_panel()
with live:
    train_panel.live_panel()
train_panel.run_history()
