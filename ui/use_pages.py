"""The Draw, Evaluate, Data and Models pages: widgets, choices and per-session caching.

The files in ``pages/`` are a few lines each; they call :func:`draw_page`,
:func:`evaluate_page`, :func:`data_page` and :func:`models_page`. The computing is in
``lab/evaluation.py, lab/data.py, lab/model_files.py`` and the figures in ``ui/figures/use.py`` (no Streamlit in either).

Session-state keys (``st.session_state``, per user, all starting with ``use_``):

* ``"use_cache"`` (:data:`CACHE`) -- evaluations, figures, parsed uploads: each entry is
  kept with the key it was made for (the model's run number and network, the dataset,
  the upload) and rebuilt when that key changes, so reruns are fast.
* ``"use_message"`` -- a message to show once after a rerun (e.g. "dataset loaded").
* ``"use_<name>"`` -- the widgets.

Also written: ``"drawn_digit"`` (``ui.inside_pages.DRAWN_DIGIT``), the digit drawn on the
Draw page as a (784,) float32 array in [0, 1], read by the Activations page.

Uploads are parsed from their bytes; a malformed file shows the loader's message with
``st.error`` and changes nothing (dataset, model and run history stay as they were).
"""

from __future__ import annotations

import html
import re
import time

import numpy as np
import streamlit as st

from datasets import DIGIT_CLASS_NAMES
from datasets.preprocess import BOX_SIDE, EMNIST_BOX_SIDE, preprocess_canvas, to_uint8_784
from lab import data as lab_data
from lab import model_files
from lab.evaluation import (
    KAGGLE_TEST_ROWS,
    Evaluation,
    by_confidence,
    cell_indices,
    evaluate_set,
    per_class_table,
    submission_from_upload,
)
from lab.runs import STATUS_LABELS, architecture_of, runs_table
from lab.settings import VALIDATION_FRACTION
from nn.errors import DataError
from nn.training import predict_proba
from ui.figures import use as figs

from . import inside_pages, state
from .train_panel import progress_text

PREFIX = "use_"
CACHE = PREFIX + "cache"
MESSAGE = PREFIX + "message"
REQUEST = PREFIX + "request"  # the action button last clicked (see action_button)
UPLOADS = PREFIX + "uploads"  # version of the Data page's uploaders (see _change_dataset)
INSTALLED = PREFIX + "installed"  # {upload file id: run number} of uploaded models in use
CANVAS_VERSION = PREFIX + "canvas_version"
CANVAS_SIZE = 280
DEFAULT_PEN = 20
CHART_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
STATIC_CHART = {"displayModeBar": False}
TAB_EVALUATE = ("Confusion matrix", "Misclassified", "Per class", "Kaggle submission")
TAB_DATA = ("Look at the data", "Load data")
TAB_MODELS = ("Save and load", "Compare runs")
GALLERY_SIZES = (20, 40, 60, 100)
CELL_IMAGES = 40  # images shown for a clicked cell of the confusion matrix
UPLOAD_LIMIT_MB = 200  # Kaggle's train.csv is 73 MB
MODEL_LIMIT_MB = 50
SPLITS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
SOURCES = {"bundled": "Bundled 5k subset", "csv": "Kaggle train.csv", "idx": "MNIST IDX files",
           "download": "Download full MNIST", "emnist": "EMNIST letters & more"}
# The EMNIST splits offered here (byclass and bymerge, 814,255 images, are for train.py).
EMNIST_APP_SPLITS = {"letters": "letters: A–Z, 26 classes (each holds both cases)",
                     "balanced": "balanced: 0–9, A–Z and 11 lower-case letters, 47 classes",
                     "digits": "digits: 0–9, 280,000 digits",
                     "mnist": "mnist: 0–9, MNIST's sizes"}


# ---------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------


def cached(name: str, key, build):
    """``build()`` once per ``key`` for this session (one entry per ``name``)."""
    store = st.session_state.setdefault(CACHE, {})
    entry = store.get(name)
    if entry is not None and entry[0] == key:
        return entry[1]
    value = build()
    store[name] = (key, value)
    return value


def run_key(run) -> tuple:
    """Identifies a model within the session (a new run, an upload or a Reset changes it)."""
    return run.number, id(run.network)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$])")


def plain(text) -> str:
    """``text`` shown literally by Streamlit's markdown (file names are user input: a
    ``_`` or ``$`` in one must not turn into italics or LaTeX)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")  # keep line breaks


def _chart(fig, key: str, config: dict | None = None, **kwargs):
    return st.plotly_chart(fig, key=key, config=config or CHART_CONFIG, **kwargs)


def _show_message() -> None:
    message = st.session_state.pop(MESSAGE, None)
    if message:
        kind, text = message
        (st.success if kind == "success" else st.error)(plain(text))


def _training_progress() -> None:
    @st.fragment(run_every=state.POLL_SECONDS)
    def progress() -> None:
        job = state.job()
        if job is None or not state.job_pending():
            return
        snapshot = job.snapshot()
        if snapshot.finished:
            st.rerun()  # a full rerun collects the model and draws the page
        st.progress(snapshot.fraction, text=progress_text(snapshot))

    progress()


def offer_training(page: str, what: str) -> None:
    """Say there is no model yet and offer the one-click default training (staying here)."""
    pending = state.job_pending()
    last = state.job()
    if last is not None and not pending and last.done:
        st.warning(f"The last run left no model: {last.snapshot().message}", icon=":material/warning:")
    st.info(f"No model yet: {what} The default network (784 → 128 ReLU → "
            f"{len(state.class_names())}) trains in a few seconds; this page fills in as soon as "
            "it is done.", icon=":material/info:")
    st.button("Train a good default model", type="primary", icon=":material/play_arrow:",
              on_click=state.train_default_model, disabled=pending, key=f"{PREFIX}{page}_train_default")
    st.session_state.pop(state.GO_TO_TRAIN, None)  # stay on this page (Home switches to Train)
    if pending:
        _training_progress()


def _percent(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.1f}%"


def _test_set(data=None):
    """(images, labels, description) of the test set that fits the data in use (the real
    MNIST test set for digits, EMNIST's test part when loaded), None when there is none."""
    try:
        return state.test_set(state.dataset() if data is None else data)
    except (DataError, OSError) as error:
        st.warning(f"The test set could not be read: {error}")
        return None


def _refuse_mismatch(run, data=None) -> bool:
    """Say so and return True when the current model does not fit the data in use."""
    message = state.model_mismatch(run, data)
    if message:
        st.warning(message, icon=":material/block:")
    return bool(message)




def _request(name: str) -> None:
    st.session_state[REQUEST] = name


def action_button(label: str, name: str, **kwargs) -> bool:
    """A button whose click is acted on in the page body (True once, on the run after the
    click), like ``if st.button(...)``, but remembered through an on_click callback.

    A plain ``st.button``'s True lasts for one script run only; a run that is restarted
    before reaching the button (``state.require_entry_script`` reruns a page that Streamlit
    started without app.py) would lose the click. The callback's flag survives that.
    """
    st.button(label, on_click=_request, args=(name,), key=PREFIX + name, **kwargs)
    return take_request(name)


def take_request(name: str) -> bool:
    """True (once) when action button ``name`` was clicked before this run."""
    if st.session_state.get(REQUEST) == name:
        del st.session_state[REQUEST]
        return True
    return False


def page(function):
    """Wrap a page: a click its run did not act on (its button was not drawn) is dropped,
    so that it cannot fire later, unexpectedly."""
    import functools

    @functools.wraps(function)
    def run() -> None:
        try:
            function()
        finally:
            st.session_state.pop(REQUEST, None)

    return run


# ---------------------------------------------------------------------------------
# Draw page
# ---------------------------------------------------------------------------------


def _clear_canvas() -> None:
    st.session_state[CANVAS_VERSION] = st.session_state.get(CANVAS_VERSION, 0) + 1


def read_canvas(rgba, style: str = "mnist") -> np.ndarray | None:
    """The canvas' RGBA pixels as the (784,) uint8 image the network sees, None if empty.

    style: "mnist" or "emnist", how the drawing is shrunk (see datasets.preprocess.preprocess_drawing).
    """
    if rgba is None:
        return None
    image28 = preprocess_canvas(rgba, background="black", style=style)
    return None if image28 is None else to_uint8_784(image28)


SHRINK_STYLES = {"mnist": "MNIST", "emnist": "EMNIST"}
SHRINK_HELP = {
    "mnist": f"cropped, scaled to fit {BOX_SIDE}×{BOX_SIDE}, centred by its centre of mass",
    "emnist": f"cropped, scaled to fill the square but a thin border ({EMNIST_BOX_SIDE}×{EMNIST_BOX_SIDE}), "
              "centred by its box",
}


def _shrink_style(dataset_name: str) -> str:
    """The session's choice of how to shrink drawings; it starts, and starts again whenever
    the model's dataset changes, as that dataset was made (EMNIST's or MNIST's way)."""
    key, made_for = PREFIX + "shrink_style", PREFIX + "shrink_style_for"
    if st.session_state.get(made_for) != dataset_name or st.session_state.get(key) not in SHRINK_STYLES:
        st.session_state[key] = "emnist" if dataset_name.startswith("EMNIST") else "mnist"
        st.session_state[made_for] = dataset_name
    return st.session_state[key]


def _canvas(style: str):
    from streamlit_drawable_canvas import st_canvas

    key = PREFIX + "pen"
    st.session_state.setdefault(key, DEFAULT_PEN)
    pen = int(st.session_state[key])
    st.markdown("**Your drawing**")
    st.space("small")  # room for the canvas' toolbar, which floats above it
    result = st_canvas(
        stroke_width=pen, stroke_color="#FFFFFF", background_color="#000000",
        height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw", return_image_data=True,
        key=f"{PREFIX}canvas_{st.session_state.get(CANVAS_VERSION, 0)}",
    )
    left, right = st.columns([1, 2], vertical_alignment="bottom")
    left.button("Clear", icon=":material/delete:", on_click=_clear_canvas, key=PREFIX + "clear",
                help="Start again on an empty canvas (the canvas' own bin icon works too).")
    right.slider("Pen width", 8, 40, key=key,
                 help="About 20 px suits a character drawn over most of the square: its "
                      "strokes then come out as thick as MNIST's after shrinking to 28×28.")
    try:
        return read_canvas(result.image_data, style)
    except ValueError as error:  # an unexpected image from the component
        st.warning(f"Could not read the drawing: {error}")
        return None


def _follow_drawing() -> None:
    """Open the Activations page on the drawing."""
    inside_pages.choose("activations_source", "drawn")


@page
def draw_page() -> None:
    st.title("Draw")
    run = state.model()
    names = run.class_names if run is not None else state.class_names()
    noun = state.noun(names=names)
    style = _shrink_style(run.dataset if run is not None else state.dataset_info().name)
    made = "the MNIST digits were" if style == "mnist" else "the EMNIST characters were"
    st.markdown(
        f"Draw a {noun} with the mouse (or a finger) in the black square, as big as the square. "
        f"It is shrunk to 28×28 pixels the way {made} made ({SHRINK_HELP[style]}), and the "
        "network reads that small image.")
    if take_request("follow") and st.session_state.get(inside_pages.DRAWN_DIGIT) is not None:
        _follow_drawing()
        st.switch_page("pages/activations.py")
    drawing, seen, answer = st.columns([1.1, 0.9, 1.6], gap="medium")
    with drawing:
        digit = _canvas(style)
    with seen:
        st.markdown("**What the network sees**")
        if digit is None:
            st.caption("Nothing drawn yet.")
        else:
            _chart(figs.digit_figure(digit, ink_on_black=True, height=250), PREFIX + "seen_chart",
                   config=STATIC_CHART)
            st.caption("28×28 = 784 pixels, each 0 (black) to 1 (white). Hover for the values.")
            st.session_state[inside_pages.DRAWN_DIGIT] = (digit / 255.0).astype(np.float32)
        st.segmented_control(
            "Shrunk the way of", list(SHRINK_STYLES), key=PREFIX + "shrink_style", required=True,
            format_func=SHRINK_STYLES.get,
            help=f"MNIST's way: {SHRINK_HELP['mnist']}. EMNIST's way: {SHRINK_HELP['emnist']}. "
                 "A network reads best what looks like its training images: the choice follows "
                 "the model's dataset until you change it.")
    with answer:
        if run is None:
            offer_training("draw", "draw as much as you like, but nobody reads it yet.")
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
            f"line-height:1;color:{figs.HIGHLIGHT}'>{top_name}</span>"
            f"<span style='font-size:1.1rem'>{probabilities[top]:.0%} sure</span></div>",
            unsafe_allow_html=True)
        _chart(figs.probability_figure(probabilities, names, height=260), PREFIX + "probability_chart",
               config=STATIC_CHART)
        st.button(f"Follow this {noun} through the network", icon=":material/bolt:",
                  on_click=_request, args=("follow",), key=PREFIX + "follow",
                  help="The Activations page, showing your drawing.")
        st.caption(f"Model: run {run.number}, {run.architecture}, reading "
                   f"{plain(state.classes_text(names))}.")


# ---------------------------------------------------------------------------------
# Evaluate page
# ---------------------------------------------------------------------------------


def evaluations(run, data) -> dict[str, Evaluation]:
    """{"validation": ..., "test": ...} for the current model (cached per model and data)."""
    def build():
        out = {"validation": evaluate_set(run.network, data.validation_images,
                                                data.validation_labels,
                                                f"{data.n_validation:,} validation images",
                                                data.n_classes)}
        test = _test_set(data)
        if test is not None:
            out["test"] = evaluate_set(run.network, test[0], test[1], test[2], data.n_classes)
        return out

    return cached("evaluations", (*run_key(run), data.key), build)


def _pick_set(evals: dict) -> Evaluation:
    options = list(evals)
    key = PREFIX + "eval_set"
    if st.session_state.get(key) not in options:
        st.session_state[key] = "test" if "test" in evals else "validation"
    labels = {"validation": "Validation set", "test": "Test set"}
    st.segmented_control("Images", options, key=key, required=True,
                         format_func=lambda k: f"{labels[k]} ({evals[k].n:,})")
    return evals[st.session_state[key]]


@page
def evaluate_page() -> None:
    st.title("Evaluate")
    data = state.dataset()
    test_words = ("the test set is the 10,000 real MNIST test digits" if data.test is None and data.digits
                  else "the test set is the data's own test part" if data.test is not None
                  else f"these {state.noun(True)} came without a test set (download EMNIST or "
                       "upload its test part on the Data page)")
    st.markdown(
        "How good is the current model, and where does it go wrong? The validation images "
        f"were held out of training; {test_words}, never seen while choosing settings.")
    run = state.model()
    if run is None:
        offer_training("evaluate", "there is nothing to evaluate until a network has been trained.")
        return
    if _refuse_mismatch(run, data):
        return
    evals = evaluations(run, data)
    metrics = st.columns(4)
    metrics[0].metric("Validation accuracy", _percent(evals["validation"].accuracy),
                      help=f"{evals['validation'].n_correct:,} of {evals['validation'].n:,} "
                           f"validation images of {plain(data.name)}")
    if "test" in evals:
        metrics[1].metric("Test accuracy", _percent(evals["test"].accuracy),
                          help=f"{evals['test'].n_correct:,} right of the {plain(evals['test'].name)}")
    else:
        metrics[1].metric("Test accuracy", "–",
                          help="The real MNIST test set is not available here." if data.digits else
                          f"No test set for these {state.noun(True)}: only the validation images.")
    metrics[2].metric("Model", f"run {run.number}", help=run.architecture)
    metrics[3].metric("Epochs trained", run.epochs_done)
    tabs = st.tabs(list(TAB_EVALUATE), key=PREFIX + "evaluate_tab", on_change="rerun")
    names = data.class_names
    with tabs[0]:
        if tabs[0].open:
            _confusion_tab(_pick_set(evals), names)
    with tabs[1]:
        if tabs[1].open:
            _misclassified_tab(_pick_set(evals), names)
    with tabs[2]:
        if tabs[2].open:
            _per_class_tab(_pick_set(evals), names)
    with tabs[3]:
        if tabs[3].open:
            _submission_tab(run)


def _default_cell(counts: np.ndarray) -> tuple[int, int]:
    """The most frequent mistake (or (0, 0) when there is none)."""
    off = counts.astype(np.int64).copy()
    np.fill_diagonal(off, -1)
    t, p = np.unravel_index(int(np.argmax(off)), off.shape)
    return (int(t), int(p)) if off[t, p] > 0 else (0, 0)


def _on_cell_click(chart_key: str, names) -> None:
    cell = figs.cell_from_selection(st.session_state.get(chart_key), len(names), names)
    if cell is not None:
        st.session_state[PREFIX + "cell_true"], st.session_state[PREFIX + "cell_predicted"] = cell


def _confusion_tab(evaluation: Evaluation, names) -> None:
    counts = evaluation.counts
    k, noun = len(names), state.noun(names=names)
    normalised = st.toggle(f"Row-normalised: % of each true {noun}", key=PREFIX + "normalised",
                           help=f"Each row then sums to 100%, and the diagonal is each {noun}'s recall.")
    true_key, predicted_key = PREFIX + "cell_true", PREFIX + "cell_predicted"
    if st.session_state.get(true_key) not in range(k) or st.session_state.get(predicted_key) not in range(k):
        st.session_state[true_key], st.session_state[predicted_key] = _default_cell(counts)
    cell = (int(st.session_state[true_key]), int(st.session_state[predicted_key]))
    left, right = st.columns([1.25, 1], gap="large")
    with left:
        st.caption(f"All {counts.sum():,} {evaluation.name.split(' ', 1)[1]}. Rows: the true "
                   f"{noun}; columns: the network's answer. Blue: right, orange: mistakes. "
                   "**Click a cell** to see its images.")
        fig = figs.confusion_matrix_figure(counts, normalised=normalised, class_names=names, selected=cell,
                                           height=470 if k <= 12 else 640)
        # A new key per selected cell: any click (even on the previous cell) is a change.
        chart_key = f"{PREFIX}confusion_chart_{cell[0]}_{cell[1]}"
        _chart(fig, chart_key, on_select=lambda: _on_cell_click(chart_key, names), selection_mode="points")
    with right:
        a, b = st.columns(2)
        a.selectbox(f"True {noun}", range(k), key=true_key, format_func=lambda c: names[c])
        b.selectbox(f"Predicted {noun}", range(k), key=predicted_key, format_func=lambda c: names[c])
        cell = (int(st.session_state[true_key]), int(st.session_state[predicted_key]))
        members = cell_indices(evaluation, *cell)
        true_name, predicted_name = plain(names[cell[0]]), plain(names[cell[1]])
        what = "read correctly" if cell[0] == cell[1] else f"read as {predicted_name}"
        if not len(members):
            st.info(f"No {true_name} was {what}.")
            return
        shown = members[:CELL_IMAGES]
        st.markdown(f"**{len(members):,} images of {true_name} {what}**" +
                    (f" (the {len(shown)} most confident shown)" if len(members) > len(shown) else ""))
        _chart(figs.gallery_figure(evaluation.images[shown],
                                   [f"{evaluation.confidence[i]:.0%}" for i in shown], columns=8,
                                   tile_px=58),
               f"{PREFIX}cell_gallery", config=STATIC_CHART)
        st.caption("Each image with the network's confidence in its answer.")


def _misclassified_tab(evaluation: Evaluation, names) -> None:
    wrong = evaluation.wrong
    if not len(wrong):
        st.success(f"Every one of the {evaluation.name} is read correctly.")
        return
    a, b, c = st.columns([1.2, 1, 1])
    order_key = PREFIX + "wrong_order"
    st.session_state.setdefault(order_key, "most")
    a.radio("Sort by confidence", ["most", "least"], key=order_key, horizontal=True,
            format_func=lambda o: "most confident first" if o == "most" else "least confident first",
            help=f"Confident mistakes are the interesting ones: often a badly written "
                 f"{state.noun(names=names)}, sometimes a wrong label.")
    digit_key = PREFIX + "wrong_digit"
    if st.session_state.get(digit_key) not in ["all", *range(len(names))]:
        st.session_state[digit_key] = "all"
    b.selectbox(f"True {state.noun(names=names)}", ["all", *range(len(names))], key=digit_key,
                format_func=lambda d: f"all {state.noun(True, names)}" if d == "all" else names[d])
    size_key = PREFIX + "wrong_count"
    st.session_state.setdefault(size_key, 40)
    c.selectbox("Show", GALLERY_SIZES, key=size_key, format_func=lambda n: f"up to {n} images")
    if st.session_state[digit_key] != "all":
        wrong = wrong[evaluation.labels[wrong] == int(st.session_state[digit_key])]
    ordered = by_confidence(wrong, evaluation.confidence, st.session_state[order_key] == "most")
    shown = ordered[: int(st.session_state[size_key])]
    st.markdown(f"**{len(wrong):,} misclassified** of {evaluation.name} "
                f"({len(wrong) / evaluation.n:.1%}); showing {len(shown)}. Caption: true → "
                "predicted, confidence.")
    if len(shown):
        captions = [f"{names[evaluation.labels[i]]}→{names[evaluation.predicted[i]]} "
                    f"{evaluation.confidence[i]:.0%}" for i in shown]
        _chart(figs.gallery_figure(evaluation.images[shown], captions, columns=10, tile_px=70),
               PREFIX + "wrong_gallery", config=STATIC_CHART)


def _per_class_tab(evaluation: Evaluation, names) -> None:
    noun = state.noun(names=names)
    st.dataframe(per_class_table(evaluation.counts, names), hide_index=True, key=PREFIX + "per_class",
                 column_config={
                     "precision %": st.column_config.NumberColumn(format="%.1f %%"),
                     "recall %": st.column_config.NumberColumn(format="%.1f %%")})
    st.caption(f"On the {evaluation.name}. **Precision** of a {noun}: of the images the network "
               f"called that {noun}, the share that really are. **Recall**: of the images of that "
               f"{noun}, the share the network found.")


def _submission(run, upload) -> tuple:
    """("ok", first images, predictions, csv) or ("error", message), cached per model and upload."""
    def build():
        try:
            images, predicted, csv = submission_from_upload(run.network, upload.getvalue(),
                                                                  upload.name)
        except DataError as error:
            return ("error", str(error))
        # Keep only what the page shows: 20 images, not the whole file (22 MB for Kaggle's).
        return ("ok", images[:20].copy(), predicted, csv)

    return cached("submission", (*run_key(run), upload.file_id), build)


def _submission_tab(run) -> None:
    st.markdown(
        "For Kaggle's [Digit Recognizer](https://www.kaggle.com/competitions/digit-recognizer): "
        "upload its `test.csv` (28,000 unlabelled digits, header `pixel0,...,pixel783`), and "
        "download `submission.csv` (`ImageId,Label`) to submit.")
    if tuple(run.class_names) != DIGIT_CLASS_NAMES:
        st.info(f"Kaggle's Digit Recognizer is about digits; the model of run {run.number} reads "
                f"{plain(state.classes_text(run.class_names))}.", icon=":material/info:")
        return
    upload = st.file_uploader("Kaggle test.csv", key=PREFIX + "kaggle_test",
                              max_upload_size=UPLOAD_LIMIT_MB,
                              help="A .csv or .csv.gz file; it is read in memory, never saved.")
    if upload is None:
        return
    result = _submission(run, upload)
    if result[0] == "error":
        st.error(plain(result[1]) + "\n\nNo submission was made.", icon=":material/error:")
        return
    _, images, predicted, csv = result
    n = len(predicted)
    if n != KAGGLE_TEST_ROWS:
        st.warning(f"{n:,} images: Kaggle's test.csv has {KAGGLE_TEST_ROWS:,}, so Kaggle "
                   "will not accept this submission as it is.")
    st.success(f"Predicted {n:,} images with the model of run {run.number}.")
    st.download_button("Download submission.csv", csv, file_name="submission.csv", mime="text/csv",
                       type="primary", icon=":material/download:", key=PREFIX + "submission_download",
                       on_click="ignore")
    left, right = st.columns([1, 3], gap="large")
    with left:
        st.markdown("**Preview**")
        preview = min(n, 10)
        st.dataframe({"ImageId": np.arange(1, preview + 1), "Label": predicted[:preview]},
                     hide_index=True, key=PREFIX + "submission_preview")
    with right:
        st.markdown(f"**The first {min(n, 20)} images with their predicted labels**")
        first = np.arange(min(n, 20))
        _chart(figs.gallery_figure(images[first], [f"#{i + 1}: {predicted[i]}" for i in first],
                                   columns=10, tile_px=60),
               PREFIX + "submission_gallery", config=STATIC_CHART)


# ---------------------------------------------------------------------------------
# Data page
# ---------------------------------------------------------------------------------


def data_summary(data):
    """(train counts, validation counts, mean images, sample indices) of a dataset, cached."""
    def build():
        k = data.n_classes
        return (lab_data.class_counts(data.train_labels, k), lab_data.class_counts(data.validation_labels, k),
                lab_data.mean_images(data.train_images, data.train_labels, k))

    return cached("data_summary", data.key, build)


def _reshuffle() -> None:
    st.session_state[PREFIX + "sample_seed"] = st.session_state.get(PREFIX + "sample_seed", 0) + 1


def _look_tab(data) -> None:
    train_counts, validation_counts, means = data_summary(data)
    names, noun, nouns = data.class_names, state.noun(names=data.class_names), state.noun(True, data.class_names)
    many = data.n_classes > 12  # 26 letters, 47 characters: smaller tiles, fewer samples each
    seed = st.session_state.get(PREFIX + "sample_seed", 0)
    left, right = st.columns([1.2, 1], gap="large")
    with left:
        st.subheader(f"Samples of each {noun}")
        indices = lab_data.sample_indices(data.train_labels, 8 if many else 12, data.n_classes, seed=seed)
        _chart(figs.samples_figure(data.train_images, indices, names, tile_px=30 if many else 40),
               PREFIX + "samples_chart", config=STATIC_CHART)
        st.button("Other samples", icon=":material/casino:", on_click=_reshuffle,
                  key=PREFIX + "reshuffle")
    with right:
        st.subheader(f"Images per {noun}")
        _chart(figs.class_counts_figure(train_counts, validation_counts, names, height=300),
               PREFIX + "counts_chart", config=STATIC_CHART)
        smallest, largest = int(np.argmin(train_counts)), int(np.argmax(train_counts))
        spread = (f"{train_counts[0]:,} of each {noun}" if smallest == largest or
                  train_counts[smallest] == train_counts[largest] else
                  f"from {train_counts[smallest]:,} ({noun} {plain(names[smallest])}) to "
                  f"{train_counts[largest]:,} ({noun} {plain(names[largest])})")
        st.caption(f"Training: {train_counts.sum():,} images, {spread}. Validation: "
                   f"{validation_counts.sum():,}, split off {noun} by {noun} so both parts keep "
                   f"the same mix of {nouns}.")
        if not data.digits:
            st.caption(f"{plain(state.classes_text(names))}. EMNIST letters: each class holds the "
                       "upper- and the lower-case letter. The images are shown upright: EMNIST "
                       "stores them transposed (rows and columns swapped), the loader turns them back."
                       if names == tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ") else
                       f"{plain(state.classes_text(names))}.")
    st.subheader(f"The average {noun}")
    _chart(figs.mean_images_figure(means, names, tile_px=72 if many else 96), PREFIX + "means_chart",
           config=STATIC_CHART)
    st.caption(f"The mean of all training images of each {noun}: where its ink usually is. A "
               "network without hidden layers can learn little more than templates like these; "
               "the hidden units of the Weights page look for parts of them.")


def _refused(error: Exception, data) -> None:
    st.error(f"{plain(error)}\n\nNothing was changed: still using {plain(data.name)}.",
             icon=":material/error:")


def _change_dataset(split, message: str) -> None:
    """Make ``split`` (None: the bundled default) the session's dataset, then rerun."""
    if not state.use_dataset(split):
        st.session_state[MESSAGE] = ("error", "A run is training: wait for it to finish (or "
                                              "stop it) before changing the data.")
    else:
        st.session_state[MESSAGE] = ("success", message)
        # New, empty uploaders: Streamlit then lets go of the uploaded file (up to 200 MB).
        st.session_state[UPLOADS] = st.session_state.get(UPLOADS, 0) + 1
    st.rerun()


def _uploader_key(name: str) -> str:
    return f"{PREFIX}{name}_{st.session_state.get(UPLOADS, 0)}"


def _split_choice(data) -> float:
    key = PREFIX + "split"
    if st.session_state.get(key) not in SPLITS:
        share = data.n_validation / max(data.n_train + data.n_validation, 1)
        st.session_state[key] = min(SPLITS, key=lambda s: abs(s - share))
    st.columns([1, 1])[0].select_slider(
        "Validation share", SPLITS, key=key, format_func=lambda s: f"{s:.0%}",
        help="Held out of training, class by class, to measure the model on images it has not "
             "learnt from.")
    return float(st.session_state[key])


def _bundled_split(fraction: float):
    if abs(fraction - VALIDATION_FRACTION) < 1e-9:
        return None  # the server-wide cached split
    from datasets import load_bundled

    return lab_data.make_split(load_bundled(), fraction, key=f"bundled@{fraction:g}")


def _load_tab(data) -> None:
    pending = state.job_pending()
    if pending:
        st.warning("A run is training: the data can be changed once it is finished (or stopped).",
                   icon=":material/hourglass_top:")
    source_key = PREFIX + "source"
    st.session_state.setdefault(source_key, "bundled")
    st.radio("Source", list(SOURCES), key=source_key, horizontal=True, format_func=SOURCES.get)
    fraction = _split_choice(data)
    source = st.session_state[source_key]
    if source == "bundled":
        st.caption("5,000 MNIST training images (500 of each digit) that ship with the app.")
        if action_button("Use the bundled subset", "use_bundled", type="primary", disabled=pending):
            try:
                split = _bundled_split(fraction)
            except DataError as error:
                _refused(error, data)
                return
            _change_dataset(split, f"Now using the bundled MNIST subset, {fraction:.0%} for validation.")
    elif source == "csv":
        st.caption("Kaggle's Digit Recognizer `train.csv` (42,000 digits, header "
                   "`label,pixel0,...,pixel783`), plain or gzipped, up to 200 MB.")
        upload = st.file_uploader("train.csv", key=_uploader_key("train_csv"),
                                  max_upload_size=UPLOAD_LIMIT_MB)
        if action_button("Load this file", "load_csv", type="primary",
                         disabled=pending or upload is None) and upload is not None:
            raw = upload.getvalue()
            try:
                dataset = lab_data.training_set_from_csv(raw, upload.name)
                split = lab_data.make_split(dataset, fraction, key=f"csv:{lab_data.digest(raw)}@{fraction:g}")
            except DataError as error:
                _refused(error, data)
                return
            _change_dataset(split, f"Now using {dataset.name}, {fraction:.0%} for validation.")
    elif source == "idx":
        st.caption("The original MNIST files: an image file (`…-images-idx3-ubyte`) and its label "
                   "file (`…-labels-idx1-ubyte`), gzipped or not.")
        a, b = st.columns(2)
        images = a.file_uploader("Images (idx3)", key=_uploader_key("idx_images"),
                                 max_upload_size=UPLOAD_LIMIT_MB)
        labels = b.file_uploader("Labels (idx1)", key=_uploader_key("idx_labels"),
                                 max_upload_size=UPLOAD_LIMIT_MB)
        if action_button("Load these files", "load_idx", type="primary",
                         disabled=pending or images is None or labels is None) \
                and images is not None and labels is not None:
            images_raw, labels_raw = images.getvalue(), labels.getvalue()
            try:
                dataset = lab_data.training_set_from_idx(images_raw, images.name, labels_raw, labels.name)
                split = lab_data.make_split(dataset, fraction,
                                         key=f"idx:{lab_data.digest(images_raw, labels_raw)}@{fraction:g}")
            except DataError as error:
                _refused(error, data)
                return
            _change_dataset(split, f"Now using {dataset.name}, {fraction:.0%} for validation.")
    elif source == "emnist":
        _emnist_source(data, fraction, pending)
    else:
        st.caption("The full MNIST training set (60,000 images, about 10 MB to download from a "
                   "public mirror, kept on the server for next time). Training on it takes "
                   "about 12 times longer than on the bundled subset.")
        if action_button("Download MNIST", "download", type="primary", icon=":material/download:",
                         disabled=pending):
            _download(fraction)
    if data.key != "bundled":
        st.divider()
        st.caption(f"In use: {plain(data.name)}.")
        if action_button("Back to the bundled subset", "reset_data", disabled=pending):
            _change_dataset(None, "Back to the bundled MNIST subset.")


def _emnist_source(data, fraction: float, pending: bool) -> None:
    """EMNIST: pick a split, then upload its IDX files or download it (datasets/emnist.py)."""
    from datasets.emnist import EMNIST_SIZES, EMNIST_ZIP_MEGABYTES

    split_key = PREFIX + "emnist_split"
    st.session_state.setdefault(split_key, "letters")
    st.columns([1, 1])[0].selectbox("EMNIST split", list(EMNIST_APP_SPLITS), key=split_key,
                                    format_func=EMNIST_APP_SPLITS.get)
    split = st.session_state[split_key]
    st.caption(f"EMNIST (Cohen et al., 2017): handwritten characters in MNIST's own IDX format, "
               f"{EMNIST_SIZES[split]:,} images in the {split} split. Its images are stored "
               "transposed (rows and columns swapped); they are turned upright when loaded.")
    st.markdown(f"**Upload** the split's files (`emnist-{split}-train-images-idx3-ubyte` and "
                f"`…-train-labels-idx1-ubyte`, gzipped or not); its test part is optional.")
    a, b = st.columns(2)
    images = a.file_uploader("EMNIST images (idx3)", key=_uploader_key("emnist_images"),
                             max_upload_size=UPLOAD_LIMIT_MB)
    labels = b.file_uploader("EMNIST labels (idx1)", key=_uploader_key("emnist_labels"),
                             max_upload_size=UPLOAD_LIMIT_MB)
    with st.expander("Its test part (optional): the Evaluate page's test set"):
        c, d = st.columns(2)
        test_images = c.file_uploader("EMNIST test images (idx3)", key=_uploader_key("emnist_test_images"),
                                      max_upload_size=UPLOAD_LIMIT_MB)
        test_labels = d.file_uploader("EMNIST test labels (idx1)", key=_uploader_key("emnist_test_labels"),
                                      max_upload_size=UPLOAD_LIMIT_MB)
    if action_button(f"Load EMNIST {split}", "load_emnist", type="primary",
                     disabled=pending or images is None or labels is None) \
            and images is not None and labels is not None:
        raws = [images.getvalue(), labels.getvalue()]
        try:
            train = lab_data.emnist_set_from_idx(raws[0], images.name, raws[1], labels.name, split)
            test = None
            if test_images is not None and test_labels is not None:
                raws += [test_images.getvalue(), test_labels.getvalue()]
                test = lab_data.emnist_set_from_idx(raws[2], test_images.name, raws[3], test_labels.name,
                                                 split, part="test")
            key = f"emnist-{split}:{lab_data.digest(*raws)}@{fraction:g}"
            split_data = lab_data.make_split(train, fraction, key=key, test=test)
        except DataError as error:
            _refused(error, data)
            return
        with_test = f" and its {test.n_samples:,} test images" if test is not None else \
            " (no test part: the Evaluate page shows the validation images)"
        _change_dataset(split_data, f"Now using {train.name}{with_test}, {fraction:.0%} for validation.")
    st.markdown(f"**Or download** it: NIST's archive of every split (about {EMNIST_ZIP_MEGABYTES} MB, "
                "kept on the server for next time), of which only this split is unpacked.")
    if action_button(f"Download EMNIST {split}", "download_emnist", icon=":material/download:",
                     disabled=pending):
        _download_emnist(split, fraction)


def _throttled(show, seconds: float = 0.15):
    """A download progress callback ``(file_name, done, total)`` that passes at most one call
    per ``seconds`` on to ``show`` (each redraw is a message to the browser), and always the last."""
    last = [0.0]

    def progress(file_name: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < seconds and (total is None or done < total):
            return
        last[0] = now
        show(file_name, done, total)

    return progress


def _download_emnist(split: str, fraction: float) -> None:
    from datasets import emnist

    bar = st.progress(0.0, text="Connecting…")

    def show(file_name: str, done: int, total: int | None) -> None:
        size = f"{done / 2**20:.0f} of {total / 2**20:.0f} MB" if total else f"{done / 2**20:.0f} MB"
        bar.progress(min(done / total, 1.0) if total else 0.0, text=f"{file_name}: {size}")

    progress = _throttled(show)

    try:
        train, test = emnist.download_emnist(split, progress=progress)
    except DataError as error:
        bar.empty()
        st.error(f"The download failed. {plain(error)}\n\nNothing was changed.", icon=":material/error:")
        return
    try:
        split_data = lab_data.make_split(train, fraction, key=f"emnist-{split}@{fraction:g}", test=test)
    except DataError as error:
        bar.empty()
        _refused(error, state.dataset())
        return
    bar.progress(1.0, text="Downloaded, checked and unpacked.")
    _change_dataset(split_data, f"Now using {train.name} and its {test.n_samples:,} test images, "
                                f"{fraction:.0%} for validation.")


def _download(fraction: float) -> None:
    from datasets.mnist import download_mnist

    bar = st.progress(0.0, text="Connecting…")
    files = ("train-images", "train-labels", "t10k-images", "t10k-labels")

    def show(file_name: str, done: int, total: int | None) -> None:
        index = next((i for i, f in enumerate(files) if file_name.startswith(f)), 0)
        part = done / total if total else 0.0
        size = f"{done / 2**20:.1f} of {total / 2**20:.1f} MB" if total else f"{done / 2**20:.1f} MB"
        bar.progress(min((index + part) / len(files), 1.0),
                     text=f"File {index + 1} of {len(files)}: {file_name}, {size}")

    progress = _throttled(show)

    try:
        train, _ = download_mnist(progress=progress)
        split = lab_data.make_split(train, fraction, key=f"mnist@{fraction:g}")
    except DataError as error:
        bar.empty()
        st.error(f"The download failed. {plain(error)}\n\nNothing was changed.",
                 icon=":material/error:")
        return
    bar.progress(1.0, text="Downloaded and checked.")
    _change_dataset(split, f"Now using {train.name}, {fraction:.0%} for validation.")


@page
def data_page() -> None:
    st.title("Data")
    data = state.dataset()
    st.markdown(f"**In use:** {plain(data.name)}: {data.n_train:,} training and {data.n_validation:,} "
                "validation images. Changing the data keeps your model and run history; a new "
                "run trains on the new data.")
    _show_message()
    tabs = st.tabs(list(TAB_DATA), key=PREFIX + "data_tab", on_change="rerun")
    with tabs[0]:
        if tabs[0].open:
            _look_tab(data)
    with tabs[1]:
        if tabs[1].open:
            _load_tab(data)


# ---------------------------------------------------------------------------------
# Models page
# ---------------------------------------------------------------------------------


def _model_file_name(run) -> str:
    return f"digit-lab-run-{run.number}.npz"


def _uploaded_model(upload):
    """("ok", network, metadata) or ("error", message), cached per upload and the data's
    classes (a model must give one score per class of the data in use)."""
    names = state.class_names()

    def build():
        try:
            return ("ok", *model_files.model_from_upload(upload.getvalue(), upload.name, len(names), names))
        except DataError as error:
            return ("error", str(error))

    return cached("uploaded_model", (upload.file_id, names), build)


def _install(upload) -> None:
    result = _uploaded_model(upload)
    if result[0] != "ok":
        return
    _, network, meta = result
    test = _test_set()
    run = model_files.run_from_model(network.copy(), meta, st.session_state.get(state.NEXT_RUN, 1),
                               name=upload.name, test=test[:2] if test is not None else None,
                               default_names=state.class_names())
    if state.install_model(run):
        st.session_state.setdefault(INSTALLED, {})[upload.file_id] = run.number
        st.session_state[MESSAGE] = ("success", f"The uploaded model is now the current model "
                                                f"(run {run.number}).")
    else:
        st.session_state[MESSAGE] = ("error", "A run is training: wait for it to finish before "
                                              "changing the model.")


def _metadata_rows(meta: dict) -> list[dict]:
    rows = []
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    summary = meta.get("history") if isinstance(meta.get("history"), dict) else {}
    for key in ("app", "run", "status", "dataset"):
        if key in meta:
            rows.append({"what": key, "value": str(meta[key])[:200]})
    for key in ("optimizer", "learning_rate", "epochs", "batch_size", "l2", "seed"):
        if key in config:
            rows.append({"what": key.replace("_", " "), "value": str(config[key])[:200]})
    for key in ("train_accuracy", "validation_accuracy"):
        if isinstance(summary.get(key), int | float):
            rows.append({"what": key.replace("_", " ") + " (when saved)", "value": _percent(summary[key])})
    if isinstance(meta.get("test_accuracy"), int | float):
        rows.append({"what": "test accuracy (when saved)", "value": _percent(meta["test_accuracy"])})
    return rows


def _save_load_tab() -> None:
    run = state.model()
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Download the current model")
        if run is None:
            offer_training("models", "train one to download it.")
        else:
            st.markdown(f"Run {run.number}: **{run.architecture}**, {run.epochs_done} epochs, "
                        f"validation accuracy {_percent(run.validation_accuracy)}, test "
                        f"{_percent(run.test_accuracy)}.")
            st.download_button(
                f"Download {_model_file_name(run)}",
                lambda: cached("model_file", run_key(run), lambda: model_files.model_file_bytes(run)),
                file_name=_model_file_name(run), mime="application/octet-stream", type="primary",
                icon=":material/download:", key=PREFIX + "model_download", on_click="ignore")
            st.caption("A `.npz` of plain arrays (the weights and biases) and JSON metadata: the "
                       "settings, the curves, the dataset. No Python objects: loading one never "
                       "runs code. Read it with `numpy.load` or `nn.model_io.load_model`.")
    with right:
        st.subheader("Upload a model")
        _show_message()
        upload = st.file_uploader("A Digit Lab model (.npz)", key=PREFIX + "model_upload",
                                  max_upload_size=MODEL_LIMIT_MB)
        if upload is not None:
            result = _uploaded_model(upload)
            if result[0] == "error":
                st.error(plain(result[1]) + "\n\nNothing was changed.", icon=":material/error:")
            else:
                _inspect_upload(upload, *result[1:])


def _inspect_upload(upload, network, meta) -> None:
    sizes = architecture_of(network)
    names = model_files.class_names_from_metadata(meta, network.layer_sizes[-1])
    st.markdown(f"**{plain(lab_data.display_name(upload.name))}**: a {sizes} network, "
                f"{network.activation}, {network.n_parameters:,} parameters, reading "
                f"{plain(state.classes_text(names))}.")
    data = state.dataset()
    accuracy = cached("uploaded_accuracy", (upload.file_id, data.key),
                      lambda: evaluate_set(network, data.validation_images, data.validation_labels,
                                                 "validation", data.n_classes).accuracy)
    st.caption(f"Accuracy now on this session's {data.n_validation:,} validation images: "
               f"{_percent(accuracy)} (if the model was trained on other data, these images may "
               "include some it learnt from).")
    rows = _metadata_rows(meta)
    if rows:
        st.dataframe(rows, hide_index=True, key=PREFIX + "upload_meta", height=35 * len(rows) + 38)
    pending = state.job_pending()
    current = state.model()
    in_use = st.session_state.get(INSTALLED, {}).get(upload.file_id)
    if current is not None and in_use == current.number:
        st.caption(f"This file is the current model (run {in_use}).")
    else:
        st.button("Use it as the current model", type="primary", icon=":material/upload:",
                  on_click=_install, args=(upload,), disabled=pending, key=PREFIX + "install",
                  help="Then draw, evaluate and look inside it like a model trained here; it "
                       "joins the run history.")
    if pending:
        st.caption("A run is training: the model can be changed once it is finished.")
    with st.expander("Its first-layer filters" if getattr(network, "is_convolutional", False)
                     else "Its first-layer weights"):
        _chart(_grid(f"upload:{upload.file_id}", network, 560), PREFIX + "upload_grid")


def _grid(name: str, network, width_px: int):
    """The first-layer weight grid, about as tall as ``width_px`` of width needs (for a
    convolutional network: its first conv layer's k x k filters)."""
    from ui.figures.inside import filter_grid_figure, weight_grid_figure
    from ui.figures.tiles import default_columns

    if getattr(network, "is_convolutional", False):
        kernel = network.weights[0]
        columns = min(default_columns(kernel.shape[-1]), 8)  # about square: the columns are narrow
        return cached(f"grid:{name}:{width_px}", id(network), lambda: filter_grid_figure(
            kernel, network.biases[0], columns=columns, width=width_px))

    n_units = network.weights[0].shape[1]
    columns = default_columns(n_units)
    rows = -(-n_units // columns)
    height = int(max(width_px - 90, 120) * rows / columns) + 30  # 90 px: the colour bar

    return cached(f"grid:{name}:{width_px}", id(network),
                  lambda: weight_grid_figure(network.weights[0], height=max(height, 160)))


def _curves(runs, field: str, *, dash: str = "solid", suffix: str = "") -> list[dict]:
    return [{"name": f"run {r.number}{suffix}", "group": f"run {r.number}", "epoch": r.history.epoch,
             "values": getattr(r.history, field), "dash": dash}
            for r in runs if r.history.epoch]


def _compare_tab() -> None:
    runs = state.runs()
    if not runs:
        st.info("No runs yet: every run you train (or model you upload) joins this session's "
                "run history, and can be compared here.")
        return
    numbers = [r.number for r in runs]
    key = PREFIX + "compare"
    if key not in st.session_state or not set(st.session_state[key]) <= set(numbers):
        st.session_state[key] = numbers[-3:]
    st.multiselect("Runs to compare", numbers, key=key, format_func=lambda n: f"run {n}",
                   help="From this session's run history, oldest first.")
    chosen = [r for r in runs if r.number in set(st.session_state[key])]
    if not chosen:
        st.caption("Pick one or more runs.")
        return
    table = runs_table(chosen)
    st.dataframe(table, hide_index=True, key=PREFIX + "compare_table")
    left, right = st.columns(2)
    with left:
        _chart(figs.run_curves_figure(_curves(chosen, "validation_accuracy", suffix=" validation")
                                      + _curves(chosen, "train_accuracy", dash="dot", suffix=" train"),
                                      y_title="accuracy", percent=True),
               PREFIX + "compare_accuracy", config=STATIC_CHART)
        st.caption("Accuracy per epoch: solid = validation, dotted = training.")
    with right:
        _chart(figs.run_curves_figure(_curves(chosen, "validation_loss", suffix=" validation")
                                      + _curves(chosen, "train_loss", dash="dot", suffix=" train"),
                                      y_title="loss (cross-entropy)"),
               PREFIX + "compare_loss", config=STATIC_CHART)
        st.caption("Loss per epoch: solid = validation, dotted = training.")
    st.subheader("First-layer weights")
    if any(getattr(r.network, "is_convolutional", False) for r in chosen):
        st.caption("Dense runs: every first-layer unit's 784 weights as a 28×28 picture. "
                   "Convolutional runs: the first conv layer's small filters, each slid over the "
                   "whole image.")
    with_network = [r for r in chosen if r.network is not None]
    if not with_network:
        st.caption("None of these runs left a network (diverged or stopped before training).")
        return
    per_row = min(3, len(with_network))
    for start in range(0, len(with_network), per_row):
        columns = st.columns(per_row)
        for column, r in zip(columns, with_network[start: start + per_row]):
            with column:
                st.markdown(f"**Run {r.number}**: {r.architecture}, "
                            f"{STATUS_LABELS.get(r.status, r.status)}")
                _chart(_grid(f"run:{r.number}", r.network, 1050 // per_row),
                       f"{PREFIX}compare_grid_{r.number}")


@page
def models_page() -> None:
    st.title("Models")
    st.markdown("Save a trained model to your computer, load one back (to keep using it or to "
                "look inside it), and compare this session's runs side by side.")
    tabs = st.tabs(list(TAB_MODELS), key=PREFIX + "models_tab", on_change="rerun")
    with tabs[0]:
        if tabs[0].open:
            _save_load_tab()
    with tabs[1]:
        if tabs[1].open:
            _compare_tab()
