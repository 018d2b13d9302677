import streamlit as st

from ui import state, train_panel

state.require_entry_script()

st.title("Train")
controls, live = st.columns([1, 2], gap="large")
with controls:
    train_panel.settings_controls()
    train_panel.buttons()
with live:
    train_panel.live_panel()
train_panel.run_history()
