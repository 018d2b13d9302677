"""Draw: draw a digit (or a letter) on a canvas, see it shrunk to the 28 x 28 pixels the
network reads, and the network's answer; follow the drawing through the network on the
Activations page; add a digit, with its true label, to the room's handwriting (a test set
the whole room shares, ``ui/workshop_room.py``).

Writes ``"drawn_digit"`` (``ui.digit_picker.DRAWN_DIGIT``): the drawing as a (784,) float32
array in [0, 1]. Widgets: ``use_canvas_<version>``, ``use_pen``, ``use_shrink_style``, ``use_follow``,
``room_label``, ``room_add``.
"""

import html

import numpy as np
import streamlit as st

from datasets import DIGIT_CLASS_NAMES
from lab.canvas import SHRINK_HELP, SHRINK_STYLES, read_canvas, shrink_style_for
from lab.display_text import escape_markdown
from nn.training import predict_proba
from ui import action_buttons, entry_script, state, workshop_room
from ui.current_model import offer_training
from ui.digit_picker import DRAWN_DIGIT
from ui.figures import activations as activation_figures
from ui.figures import images as image_figures
from ui.figures.style import HIGHLIGHT
from ui.widgets import STATIC_CHART, chart, choose, show_message

entry_script.require()

CANVAS_VERSION = "use_canvas_version"  # a new version: a new, empty canvas
CANVAS_SIZE = 280
DEFAULT_PEN = 20


def clear_canvas() -> None:
    st.session_state[CANVAS_VERSION] = st.session_state.get(CANVAS_VERSION, 0) + 1


def add_to_room(canvas_number: int) -> None:
    """on_click: the drawing into the room's handwriting, then a new, empty canvas."""
    if workshop_room.add_drawing(canvas_number):
        clear_canvas()


def room_panel(digit) -> None:
    """Add the drawing, with the digit it really is, to the room's handwriting."""
    with st.container(border=True, key="room_panel"):
        words, left, right = st.columns([1.25, 2.1, 0.55], vertical_alignment="bottom", gap="medium")
        words.markdown("**Add it to the room's handwriting**")
        words.caption("The room collects its own digits: every model in the room is then tested on them "
                      "(Evaluate page, and beside each run on the Leaderboard). Only the 28×28 image and "
                      "the digit you choose are kept, until the facilitator clears them.")
        left.segmented_control("It is a …", list(range(10)), key=workshop_room.LABEL,
                               help="The digit you meant to draw, whatever the network reads.")
        canvas_number = st.session_state.get(CANVAS_VERSION, 0)
        right.button("Add", key="room_add", icon=":material/group_add:", on_click=add_to_room, args=(canvas_number,),
                     disabled=digit is None or st.session_state.get(workshop_room.LABEL) is None,
                     width="stretch", help="Adds this drawing once; the canvas then starts again.")
        show_message(workshop_room.MESSAGE)


def shrink_style(dataset_name: str) -> str:
    """The session's choice of how to shrink drawings; it starts, and starts again whenever
    the model's dataset changes, as that dataset was made (EMNIST's or MNIST's way)."""
    key, made_for = "use_shrink_style", "use_shrink_style_for"
    if st.session_state.get(made_for) != dataset_name or st.session_state.get(key) not in SHRINK_STYLES:
        st.session_state[key] = shrink_style_for(dataset_name)
        st.session_state[made_for] = dataset_name
    return st.session_state[key]


def canvas(style: str):
    """The canvas, its Clear button and pen width; the drawing as the (784,) uint8 image
    the network reads, or None."""
    from streamlit_drawable_canvas import st_canvas

    key = "use_pen"
    st.session_state.setdefault(key, DEFAULT_PEN)
    pen = int(st.session_state[key])
    st.markdown("**Your drawing**")
    st.space("small")  # room for the canvas' toolbar, which floats above it
    result = st_canvas(
        stroke_width=pen, stroke_color="#FFFFFF", background_color="#000000",
        height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw", return_image_data=True,
        key=f"use_canvas_{st.session_state.get(CANVAS_VERSION, 0)}",
    )
    left, right = st.columns([1, 2], vertical_alignment="bottom")
    left.button("Clear", icon=":material/delete:", on_click=clear_canvas, key="use_clear",
                help="Start again on an empty canvas (the canvas' own bin icon works too).")
    right.slider("Pen width", 8, 40, key=key,
                 help="About 20 px suits a character drawn over most of the square: its "
                      "strokes then come out as thick as MNIST's after shrinking to 28×28.")
    try:
        return read_canvas(result.image_data, style)
    except ValueError as error:  # an unexpected image from the component
        st.warning(f"Could not read the drawing: {error}")
        return None


def answer(run, digit, names, noun: str) -> None:
    """The network's reading of the drawing: its top guess, large, and every class's probability."""
    if run is None:
        offer_training("use_draw_train_default", "draw as much as you like, but nobody reads it yet.")
        return
    if digit is None:
        st.markdown("**Prediction**")
        st.caption(f"Draw a {noun}: the model of run {run.number} will read it.")
        return
    probabilities = predict_proba(run.network, digit[None])[0]
    top = int(probabilities.argmax())
    top_name = html.escape(str(names[top])) if top < len(names) else str(top)
    st.markdown(
        f"<div style='display:flex;align-items:baseline;gap:0.6em'>"
        f"<span style='font-size:1.1rem'>The network reads</span>"
        f"<span data-testid='draw-top-guess' style='font-size:5rem;font-weight:700;"
        f"line-height:1;color:{HIGHLIGHT}'>{top_name}</span>"
        f"<span style='font-size:1.1rem'>{probabilities[top]:.0%} sure</span></div>",
        unsafe_allow_html=True)
    chart(activation_figures.probability_figure(probabilities, names, height=260), "use_probability_chart",
          config=STATIC_CHART)
    st.button(f"Follow this {noun} through the network", icon=":material/bolt:",
              on_click=action_buttons.request, args=("follow",), key="use_follow",
              help="The Activations page, showing your drawing.")
    st.caption(f"Model: run {run.number}, {run.architecture}, reading "
               f"{escape_markdown(state.classes_text(names))}.")


st.title("Draw")
run = state.model()
names = run.class_names if run is not None else state.class_names()
noun = state.noun(names=names)
style = shrink_style(run.dataset if run is not None else state.dataset_info().name)
made = "the MNIST digits were" if style == "mnist" else "the EMNIST characters were"
st.markdown(
    f"Draw a {noun} with the mouse (or a finger) in the black square, as big as the square. "
    f"It is shrunk to 28×28 pixels the way {made} made ({SHRINK_HELP[style]}), and the "
    "network reads that small image.")
if action_buttons.take_request("follow") and st.session_state.get(DRAWN_DIGIT) is not None:
    choose("activations_source", "drawn")  # open the Activations page on the drawing
    st.switch_page("pages/activations.py")
drawing, seen, reading = st.columns([1.1, 0.9, 1.6], gap="medium")
with drawing:
    digit = canvas(style)
with seen:
    st.markdown("**What the network sees**")
    if digit is None:
        st.caption("Nothing drawn yet.")
    else:
        chart(image_figures.digit_figure(digit, ink_on_black=True, height=250), "use_seen_chart",
              config=STATIC_CHART)
        st.caption("28×28 = 784 pixels, each 0 (black) to 1 (white). Hover for the values.")
        st.session_state[DRAWN_DIGIT] = (digit / 255.0).astype(np.float32)
    st.segmented_control(
        "Shrunk the way of", list(SHRINK_STYLES), key="use_shrink_style", required=True,
        format_func=SHRINK_STYLES.get,
        help=f"MNIST's way: {SHRINK_HELP['mnist']}. EMNIST's way: {SHRINK_HELP['emnist']}. "
             "A network reads best what looks like its training images: the choice follows "
             "the model's dataset until you change it.")
with reading:
    answer(run, digit, names, noun)
if tuple(names) == DIGIT_CLASS_NAMES:  # the room's set is a digit set (a Kaggle digit file)
    room_panel(digit)
