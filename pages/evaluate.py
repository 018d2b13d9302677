"""Evaluate: how good the current model is on the validation and test images and on the
room's handwriting (the digits the room drew, ``ui/workshop_room.py``), where it goes wrong
(a clickable confusion matrix, the misclassified images, precision and recall per class),
and a Kaggle submission from its test.csv.

Widgets: ``use_evaluate_tab``, ``use_eval_set``, ``use_cell_true``/``use_cell_predicted``,
``use_wrong_*``, ``use_kaggle_test``. The evaluations are cached per model and data
(``"use_cache"``, ``ui/widgets.py``).
"""

import numpy as np
import streamlit as st

from datasets import DIGIT_CLASS_NAMES
from lab.display_text import escape_markdown, percent
from lab.evaluation import (
    KAGGLE_TEST_ROWS,
    Evaluation,
    by_confidence,
    cell_indices,
    evaluate_set,
    per_class_table,
    submission_from_upload,
)
from lab.inspection import most_frequent_mistake
from lab.runs import run_key
from nn.errors import DataError
from ui import entry_script, state, workshop_room
from ui.current_model import offer_training, refuse_mismatch, test_set_or_warning
from ui.figures import evaluation as evaluation_figures
from ui.figures import images as image_figures
from ui.widgets import STATIC_CHART, UPLOAD_LIMIT_MB, cached_per_key, chart, lazy_tabs

entry_script.require()

TABS = ("Confusion matrix", "Misclassified", "Per class", "Kaggle submission")
GALLERY_SIZES = (20, 40, 60, 100)
CELL_IMAGES = 40  # images shown for a clicked cell of the confusion matrix


def evaluations(run, data) -> dict[str, Evaluation]:
    """{"validation": ..., "test": ..., "room": ...} for the current model (cached per model
    and data; the room's handwriting per model and version of the set, when there is one)."""
    def build():
        out = {"validation": evaluate_set(run.network, data.validation_images,
                                                data.validation_labels,
                                                f"{data.n_validation:,} validation images",
                                                data.n_classes)}
        test = test_set_or_warning(data)
        if test is not None:
            out["test"] = evaluate_set(run.network, test[0], test[1], test[2], data.n_classes)
        return out

    evals = cached_per_key("evaluations", (*run_key(run), data.key), build)
    room = workshop_room.evaluation(run) if data.digits else None
    return evals if room is None else {**evals, workshop_room.ROOM_SET: room}


def pick_set(evals: dict) -> Evaluation:
    options = list(evals)
    key = "use_eval_set"
    if st.session_state.get(key) not in options:
        st.session_state[key] = "test" if "test" in evals else "validation"
    labels = {"validation": "Validation set", "test": "Test set", workshop_room.ROOM_SET: "The room's handwriting"}
    st.segmented_control("Images", options, key=key, required=True,
                         format_func=lambda k: f"{labels[k]} ({evals[k].n:,})")
    return evals[st.session_state[key]]


def on_cell_click(chart_key: str, names) -> None:
    cell = evaluation_figures.cell_from_selection(st.session_state.get(chart_key), len(names), names)
    if cell is not None:
        st.session_state["use_cell_true"], st.session_state["use_cell_predicted"] = cell


def confusion_tab(evaluation: Evaluation, names) -> None:
    counts = evaluation.counts
    k, noun = len(names), state.noun(names=names)
    normalised = st.toggle(f"Row-normalised: % of each true {noun}", key="use_normalised",
                           help=f"Each row then sums to 100%, and the diagonal is each {noun}'s recall.")
    true_key, predicted_key = "use_cell_true", "use_cell_predicted"
    if st.session_state.get(true_key) not in range(k) or st.session_state.get(predicted_key) not in range(k):
        st.session_state[true_key], st.session_state[predicted_key] = most_frequent_mistake(counts)
    cell = (int(st.session_state[true_key]), int(st.session_state[predicted_key]))
    left, right = st.columns([1.25, 1], gap="large")
    with left:
        st.caption(f"All {counts.sum():,} {evaluation.name.split(' ', 1)[1]}. Rows: the true "
                   f"{noun}; columns: the network's answer. Blue: right, orange: mistakes. "
                   "**Click a cell** to see its images.")
        fig = evaluation_figures.confusion_matrix_figure(counts, normalised=normalised, class_names=names,
                                                         selected=cell, height=470 if k <= 12 else 640)
        # A new key per selected cell: any click (even on the previous cell) is a change.
        chart_key = f"use_confusion_chart_{cell[0]}_{cell[1]}"
        chart(fig, chart_key, on_select=lambda: on_cell_click(chart_key, names), selection_mode="points")
    with right:
        a, b = st.columns(2)
        a.selectbox(f"True {noun}", range(k), key=true_key, format_func=lambda c: names[c])
        b.selectbox(f"Predicted {noun}", range(k), key=predicted_key, format_func=lambda c: names[c])
        cell = (int(st.session_state[true_key]), int(st.session_state[predicted_key]))
        members = cell_indices(evaluation, *cell)
        true_name, predicted_name = escape_markdown(names[cell[0]]), escape_markdown(names[cell[1]])
        what = "read correctly" if cell[0] == cell[1] else f"read as {predicted_name}"
        if not len(members):
            st.info(f"No {true_name} was {what}.")
            return
        shown = members[:CELL_IMAGES]
        st.markdown(f"**{len(members):,} images of {true_name} {what}**" +
                    (f" (the {len(shown)} most confident shown)" if len(members) > len(shown) else ""))
        chart(image_figures.gallery_figure(evaluation.images[shown],
                                   [f"{evaluation.confidence[i]:.0%}" for i in shown], columns=8,
                                   tile_px=58),
               "use_cell_gallery", config=STATIC_CHART)
        st.caption("Each image with the network's confidence in its answer.")


def misclassified_tab(evaluation: Evaluation, names) -> None:
    wrong = evaluation.wrong
    if not len(wrong):
        st.success(f"Every one of the {evaluation.name} is read correctly.")
        return
    a, b, c = st.columns([1.2, 1, 1])
    order_key = "use_wrong_order"
    st.session_state.setdefault(order_key, "most")
    a.radio("Sort by confidence", ["most", "least"], key=order_key, horizontal=True,
            format_func=lambda o: "most confident first" if o == "most" else "least confident first",
            help=f"Confident mistakes are the interesting ones: often a badly written "
                 f"{state.noun(names=names)}, sometimes a wrong label.")
    digit_key = "use_wrong_digit"
    if st.session_state.get(digit_key) not in ["all", *range(len(names))]:
        st.session_state[digit_key] = "all"
    b.selectbox(f"True {state.noun(names=names)}", ["all", *range(len(names))], key=digit_key,
                format_func=lambda d: f"all {state.noun(True, names)}" if d == "all" else names[d])
    size_key = "use_wrong_count"
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
        chart(image_figures.gallery_figure(evaluation.images[shown], captions, columns=10, tile_px=70),
               "use_wrong_gallery", config=STATIC_CHART)


def per_class_tab(evaluation: Evaluation, names) -> None:
    noun = state.noun(names=names)
    st.dataframe(per_class_table(evaluation.counts, names), hide_index=True, key="use_per_class",
                 column_config={
                     "precision %": st.column_config.NumberColumn(format="%.1f %%"),
                     "recall %": st.column_config.NumberColumn(format="%.1f %%")})
    st.caption(f"On the {evaluation.name}. **Precision** of a {noun}: of the images the network "
               f"called that {noun}, the share that really are. **Recall**: of the images of that "
               f"{noun}, the share the network found.")


def submission(run, upload) -> tuple:
    """("ok", first images, predictions, csv) or ("error", message), cached per model and upload."""
    def build():
        try:
            images, predicted, csv = submission_from_upload(run.network, upload.getvalue(),
                                                                  upload.name)
        except DataError as error:
            return ("error", str(error))
        # Keep only what the page shows: 20 images, not the whole file (22 MB for Kaggle's).
        return ("ok", images[:20].copy(), predicted, csv)

    return cached_per_key("submission", (*run_key(run), upload.file_id), build)


def submission_tab(run) -> None:
    st.markdown(
        "For Kaggle's [Digit Recognizer](https://www.kaggle.com/competitions/digit-recognizer): "
        "upload its `test.csv` (28,000 unlabelled digits, header `pixel0,...,pixel783`), and "
        "download `submission.csv` (`ImageId,Label`) to submit.")
    if tuple(run.class_names) != DIGIT_CLASS_NAMES:
        st.info(f"Kaggle's Digit Recognizer is about digits; the model of run {run.number} reads "
                f"{escape_markdown(state.classes_text(run.class_names))}.", icon=":material/info:")
        return
    upload = st.file_uploader("Kaggle test.csv", key="use_kaggle_test",
                              max_upload_size=UPLOAD_LIMIT_MB,
                              help="A .csv or .csv.gz file; it is read in memory, never saved.")
    if upload is None:
        return
    result = submission(run, upload)
    if result[0] == "error":
        st.error(escape_markdown(result[1]) + "\n\nNo submission was made.", icon=":material/error:")
        return
    _, images, predicted, csv = result
    n = len(predicted)
    if n != KAGGLE_TEST_ROWS:
        st.warning(f"{n:,} images: Kaggle's test.csv has {KAGGLE_TEST_ROWS:,}, so Kaggle "
                   "will not accept this submission as it is.")
    st.success(f"Predicted {n:,} images with the model of run {run.number}.")
    st.download_button("Download submission.csv", csv, file_name="submission.csv", mime="text/csv",
                       type="primary", icon=":material/download:", key="use_submission_download",
                       on_click="ignore")
    left, right = st.columns([1, 3], gap="large")
    with left:
        st.markdown("**Preview**")
        preview = min(n, 10)
        st.dataframe({"ImageId": np.arange(1, preview + 1), "Label": predicted[:preview]},
                     hide_index=True, key="use_submission_preview")
    with right:
        st.markdown(f"**The first {min(n, 20)} images with their predicted labels**")
        first = np.arange(min(n, 20))
        chart(image_figures.gallery_figure(images[first], [f"#{i + 1}: {predicted[i]}" for i in first],
                                   columns=10, tile_px=60),
               "use_submission_gallery", config=STATIC_CHART)




def metrics(run, data, evals: dict) -> None:
    """Validation and test accuracy, the room's handwriting's, the model and its epochs."""
    columns = st.columns(5)
    columns[0].metric("Validation accuracy", percent(evals["validation"].accuracy),
                      help=f"{evals['validation'].n_correct:,} of {evals['validation'].n:,} "
                           f"validation images of {escape_markdown(data.name)}")
    if "test" in evals:
        columns[1].metric("Test accuracy", percent(evals["test"].accuracy),
                          help=f"{evals['test'].n_correct:,} right of the {escape_markdown(evals['test'].name)}")
    else:
        columns[1].metric("Test accuracy", "–",
                          help="The real MNIST test set is not available here." if data.digits else
                          f"No test set for these {state.noun(True)}: only the validation images.")
    room = evals.get(workshop_room.ROOM_SET)
    if room is not None:
        columns[2].metric("The room's handwriting", percent(room.accuracy),
                          help=f"{room.n_correct:,} right of the {room.n:,} digits the room drew on the Draw page")
    else:
        columns[2].metric("The room's handwriting", "–",
                          help="Nobody has added a drawing on the Draw page yet." if data.digits else
                          "The room's handwriting is digits.")
    columns[3].metric("Model", f"run {run.number}", help=run.architecture)
    columns[4].metric("Epochs trained", run.epochs_done)


st.title("Evaluate")
data = state.dataset()
test_words = ("the test set is the 10,000 real MNIST test digits" if data.test is None and data.digits
              else "the test set is the data's own test part" if data.test is not None
              else f"these {state.noun(True)} came without a test set (download EMNIST or "
                   "upload its test part on the Data page)")
st.markdown(
    "How good is the current model, and where does it go wrong? The validation images "
    f"were held out of training; {test_words}, never seen while choosing settings."
    + (" **The room's handwriting** is the digits this room drew on the Draw page: other hands, "
       "other pens than MNIST's." if data.digits else ""))
run = state.model()
if run is None:
    offer_training("use_evaluate_train_default", "there is nothing to evaluate until a network has been trained.")
elif not refuse_mismatch(run, data):
    evals = evaluations(run, data)
    metrics(run, data, evals)
    names = data.class_names
    lazy_tabs(TABS, "use_evaluate_tab", [lambda: confusion_tab(pick_set(evals), names),
                                         lambda: misclassified_tab(pick_set(evals), names),
                                         lambda: per_class_tab(pick_set(evals), names),
                                         lambda: submission_tab(run)])
