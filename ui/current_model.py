"""The current model as the pages need it: the "No model yet" block with its one-click
training, the refusal of a model whose classes are not the data's, the test set that fits
the data in use, and what the model's classes are called.

Classes are named as the model names them (``run.class_names``: "0".."9" for digits,
"A".."Z" for EMNIST letters) and the pages say "digit", "letter" or "character" to match.
"""

from __future__ import annotations

import streamlit as st

from lab.runs import Run
from nn.errors import DataError
from ui import state

NOTHING_INSIDE = "there is nothing to look inside until a network has been trained."


def offer_training(button_key: str, what: str) -> None:
    """Say there is no model yet (``what``: one sentence on what the page would show) and
    offer the one-click default training, which stays on this page: the sidebar follows the
    run and reruns the app when it is done."""
    pending = state.job_pending()
    last = state.job()
    if last is not None and not pending and last.done:
        st.warning(f"The last run left no model: {last.snapshot().message}", icon=":material/warning:")
    st.info(f"No model yet: {what} The default network (784 → 128 ReLU → "
            f"{len(state.class_names())}) trains in a few seconds; this page fills in as soon as "
            "it is done.", icon=":material/info:")
    st.button("Train a good default model", type="primary", icon=":material/play_arrow:",
              on_click=state.train_default_model, disabled=pending, key=button_key)
    st.session_state.pop(state.GO_TO_TRAIN, None)  # stay on this page (Home switches to Train)
    if pending:
        st.caption("Training… follow it in the sidebar (or its curves on the Train page).")


def current_model(button_key: str, what: str = NOTHING_INSIDE) -> Run | None:
    """The current Run, or None after :func:`offer_training`. While a new run trains, a
    caption says that the page shows the current model until then."""
    run = state.model()
    if run is None:
        offer_training(button_key, what)
        return None
    if state.job_pending():
        st.caption("A new run is training: this page shows the current model until it is done.")
    return run


def refuse_mismatch(run, data=None) -> bool:
    """True (after saying why) when the model's outputs are not the classes of the data in
    use (``data``, default the session's)."""
    message = state.model_mismatch(run, data)
    if message:
        st.warning(message, icon=":material/block:")
    return bool(message)


def test_set_or_warning(data=None):
    """(images, labels, description) of the test set that fits the data in use (the real
    MNIST test set for digits, EMNIST's test part when loaded); None, after a warning when
    it could not be read, when there is none."""
    try:
        return state.test_set(state.dataset() if data is None else data)
    except (DataError, OSError) as error:
        st.warning(f"The test set could not be read: {error}")
        return None


def class_names(run) -> tuple[str, ...]:
    """What the model's output units stand for ("0".."9", "A".."Z"...)."""
    return tuple(run.class_names)


def noun(run, plural: bool = False) -> str:
    """"digit", "letter" or "character": one of the model's classes."""
    return state.noun(plural, class_names(run))
