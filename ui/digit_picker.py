"""Picking one image to follow through the network (the Activations page, the Gradients
page's saliency): a validation image by number, by class, among the misclassified, at
random, or the Draw page's drawing.

Session state: ``"drawn_digit"`` (:data:`DRAWN_DIGIT`) holds the Draw page's drawing, a
``(784,)`` float array in [0, 1] (row-major 28 x 28, ink = 1); the widgets are
``"inside_<prefix>_source"``, ``"inside_<prefix>_index"``... (remembered choices,
``ui/widgets.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from lab import inspection
from ui import state
from ui.widgets import bind, cached_for_model, choices, index_in, remember

DRAWN_DIGIT = "drawn_digit"
SOURCES = {"index": "By number", "class": "By class", "misclassified": "Misclassified",
           "random": "Random", "drawn": "Drawn digit"}  # the picker says "Drawn letter"...


@dataclass
class PickedDigit:
    image: np.ndarray  # (784,) uint8 (dataset) or float32 in [0, 1] (drawn)
    label: int | None  # the true class, None for a drawn digit
    description: str


def drawn_digit() -> np.ndarray | None:
    """The Draw page's drawing as a (784,) float32 array in [0, 1], or None."""
    value = st.session_state.get(DRAWN_DIGIT)
    if value is None:
        return None
    try:
        image = np.asarray(value, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        return None
    if image.size != 784 or not np.all(np.isfinite(image)):
        return None
    return np.clip(image, 0, 1)


def misclassified(run):
    """(indices, predictions, confidence) of the validation images the model gets wrong."""
    data = state.dataset()
    return cached_for_model(run, "misclassified", lambda: inspection.misclassified(
        run.network, data.validation_images, data.validation_labels))


def digit_picker(run, prefix: str) -> PickedDigit | None:
    """Widgets choosing one image (a digit, a letter...): one of the validation images (never
    trained on) or the drawing. Labels are the data's classes (the caller made sure the
    model has one output per class)."""
    data = state.dataset()
    what = state.noun(names=data.class_names)
    sources = [s for s in SOURCES if s != "drawn" or drawn_digit() is not None]
    source_key = bind(f"{prefix}_source", "index", lambda v: v in sources)
    st.radio(f"Pick a {what}", sources, format_func={**SOURCES, "drawn": f"Drawn {what}"}.get,
             key=source_key, horizontal=True)
    remember(f"{prefix}_source")
    source = st.session_state[source_key]
    if source == "drawn":
        return PickedDigit(drawn_digit(), None, "Your drawing from the Draw page")
    index = {"index": _by_number, "class": _by_class, "misclassified": _misclassified,
             "random": _at_random}[source](run, prefix, data)
    if index is None:
        return None
    names, labels = data.class_names, data.validation_labels
    return PickedDigit(data.validation_images[index], int(labels[index]),
                       f"Validation image {index}, labelled {names[int(labels[index])]}")


def _by_number(run, prefix: str, data) -> int:
    n = len(data.validation_labels)
    key = bind(f"{prefix}_index", 0, index_in(n))
    st.columns([1, 2])[0].number_input(f"Validation image (0–{n - 1})", 0, n - 1, step=1, key=key)
    remember(f"{prefix}_index")
    return int(st.session_state[key])


def _by_class(run, prefix: str, data) -> int | None:
    names = data.class_names
    left, right, _ = st.columns([1, 1, 2])
    class_key = bind(f"{prefix}_class", 0, lambda v: v in range(len(names)))
    left.selectbox(state.noun(names=names).capitalize(), range(len(names)), key=class_key,
                   format_func=lambda c: names[c])
    remember(f"{prefix}_class")
    members = np.flatnonzero(data.validation_labels == int(st.session_state[class_key]))
    if not len(members):
        st.info("No validation image of that class.")
        return None
    which_key = bind(f"{prefix}_which", 0, index_in(len(members)))
    right.number_input(f"Which one (0–{len(members) - 1})", 0, len(members) - 1, step=1, key=which_key)
    remember(f"{prefix}_which")
    return int(members[int(st.session_state[which_key])])


def _misclassified(run, prefix: str, data) -> int | None:
    wrong, predicted, confidence = misclassified(run)
    if not len(wrong):
        st.success("The model gets every validation image right: nothing misclassified.")
        return None
    names, labels = data.class_names, data.validation_labels
    options = list(range(len(wrong)))
    key = bind(f"{prefix}_wrong", 0, lambda v: v in options)
    st.columns([1, 1])[0].selectbox(
        f"{len(wrong)} of the {len(labels)} validation images are misclassified", options, key=key,
        format_func=lambda k: f"image {wrong[k]}: a {names[labels[wrong[k]]]} read as "
                              f"{names[predicted[k]]} ({confidence[k]:.0%})")
    remember(f"{prefix}_wrong")
    return int(wrong[int(st.session_state[key])])


def _at_random(run, prefix: str, data) -> int:
    n = len(data.validation_labels)
    name = f"{prefix}_random"

    def reroll() -> None:
        choices()[name] = int(np.random.default_rng().integers(n))

    if not index_in(n)(choices().get(name)):
        reroll()
    st.button(f"Another random {state.noun(names=data.class_names)}", icon=":material/casino:",
              key=f"inside_{prefix}_reroll", on_click=reroll)
    return int(choices()[name])
