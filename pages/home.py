"""Home: what Digit Lab is, and one button that trains a good default model."""

import streamlit as st

from datasets import DIGIT_CLASS_NAMES
from ui import entry_script, state

entry_script.require()

st.title("Digit Lab")
st.markdown(
    "Watch a neural network learn to read handwritten digits. The network is written from "
    "scratch in NumPy, small enough to read, and it trains here, in front of you, on 5,000 "
    "real MNIST images that ship with the app (no internet needed)."
)
st.markdown(
    "**How to start:** press the button below to train a good default network "
    "(784 → 128 ReLU → 10, Adam, a few seconds), or open **Train** to choose the settings "
    "yourself: epochs, learning rate, width, optimiser… Everything you train stays in "
    "your own session."
)
if state.class_names() != DIGIT_CLASS_NAMES:
    st.info(f"The data in use (Data page) holds {state.classes_text()}: the network learns to read "
            f"these {state.noun(True)}, with one output per class (784 → 128 ReLU → "
            f"{len(state.class_names())}).", icon=":material/info:")
st.button("Train a good default model", type="primary", icon=":material/play_arrow:",
          on_click=state.train_default_model, disabled=state.job_pending(), key="train_default")
if state.job_pending():
    st.caption("A run is in progress: follow it on the Train page.")
if st.session_state.pop(state.GO_TO_TRAIN, False):
    st.switch_page("pages/train.py")
