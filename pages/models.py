"""Models: download the current model (a plain .npz), upload one (to keep using it or to
look inside it), and compare this session's runs side by side.

An uploaded file is parsed from its bytes, never unpickled (``lab/model_files.py``); a
malformed one shows the loader's message and changes nothing. It is read once, as soon as it
arrives, and let go (``ui/uploads.py``): the page keeps the parsed model (at most
``lab.model_files.MAX_UPLOAD_PARAMETERS`` parameters), never the file's bytes. Widgets:
``use_models_tab``, the uploader ``use_model_upload`` (``_<version>`` after the first file),
``use_install``, ``use_forget_upload``, ``use_compare``. Session state: ``"use_uploaded_model"``
(the last upload, parsed), ``"use_installed"``, {upload number: run number} of the uploaded
models in use.
"""

import streamlit as st

from lab import data as lab_data
from lab import model_files
from lab.display_text import escape_markdown, percent
from lab.evaluation import evaluate_set
from lab.inspection import model_metadata_rows, run_curves
from lab.runs import STATUS_LABELS, architecture_of, run_key, runs_table
from nn import analysis
from nn.errors import DataError
from ui import entry_script, state, uploads
from ui.current_model import offer_training, test_set_or_warning
from ui.figures import models as model_figures
from ui.widgets import STATIC_CHART, cached_per_key, chart, lazy_tabs, set_message, show_message

entry_script.require()

TABS = ("Save and load", "Compare runs")
INSTALLED = "use_installed"
UPLOADED, UPLOADER = "use_uploaded_model", "use_model_uploader"
MODEL_LIMIT_MB = 50


def first_layer_grid(name: str, network, width_px: int):
    """The network's first layer drawn ``width_px`` wide (cached per network)."""
    return cached_per_key(f"grid:{name}:{width_px}", id(network),
                          lambda: model_figures.first_layer_figure(network, width_px))


def model_file_name(run) -> str:
    return f"digit-lab-run-{run.number}.npz"


def uploader_key() -> str:
    version = st.session_state.get(UPLOADER, 0)
    return "use_model_upload" if version == 0 else f"use_model_upload_{version}"


def read_upload(upload) -> None:
    """Parse an uploaded model against the data in use (a model must give one score per
    class of it), keep the result, and let the file go (a new, empty uploader follows)."""
    raw, name = uploads.take(upload)
    names = state.class_names()
    try:
        result = ("ok", *model_files.model_from_upload(raw, name, len(names), names))
    except DataError as error:
        result = ("error", str(error))
    serial = st.session_state.get(UPLOADED, {}).get("serial", 0) + 1
    st.session_state[UPLOADED] = {"serial": serial, "name": name, "names": names, "result": result}
    st.session_state[UPLOADER] = st.session_state.get(UPLOADER, 0) + 1


def forget_upload() -> None:
    st.session_state.pop(UPLOADED, None)


def install() -> None:
    uploaded = st.session_state.get(UPLOADED)
    if uploaded is None or uploaded["result"][0] != "ok":
        return
    _, network, meta = uploaded["result"]
    test = test_set_or_warning()
    run = model_files.run_from_model(network.copy(), meta, st.session_state.get(state.NEXT_RUN, 1),
                               name=uploaded["name"], test=test[:2] if test is not None else None,
                               default_names=state.class_names())
    if state.install_model(run):
        st.session_state.setdefault(INSTALLED, {})[uploaded["serial"]] = run.number
        set_message("success", f"The uploaded model is now the current model "
                                                f"(run {run.number}).")
    else:
        set_message("error", "A run is training: wait for it to finish before "
                                              "changing the model.")


def save_load_tab() -> None:
    run = state.model()
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Download the current model")
        if run is None:
            offer_training("use_models_train_default", "train one to download it.")
        else:
            st.markdown(f"Run {run.number}: **{run.architecture}**, {run.epochs_done} epochs, "
                        f"validation accuracy {percent(run.validation_accuracy)}, test "
                        f"{percent(run.test_accuracy)}.")
            st.download_button(
                f"Download {model_file_name(run)}",
                lambda: cached_per_key("model_file", run_key(run), lambda: model_files.model_file_bytes(run)),
                file_name=model_file_name(run), mime="application/octet-stream", type="primary",
                icon=":material/download:", key="use_model_download", on_click="ignore")
            st.caption("A `.npz` of plain arrays (the weights and biases) and JSON metadata: the "
                       "settings, the curves, the dataset. No Python objects: loading one never "
                       "runs code. Read it with `numpy.load` or `nn.model_io.load_model`.")
    with right:
        st.subheader("Upload a model")
        show_message()
        upload = st.file_uploader("A Digit Lab model (.npz)", key=uploader_key(),
                                  max_upload_size=MODEL_LIMIT_MB)
        if upload is not None:
            read_upload(upload)
            st.rerun()
        uploaded = st.session_state.get(UPLOADED)
        if uploaded is None:
            return
        result = uploaded["result"]
        if result[0] == "error":
            st.error(escape_markdown(result[1]) + "\n\nNothing was changed.", icon=":material/error:")
        elif uploaded["names"] != state.class_names():
            st.warning("The data in use changed since this model was uploaded: upload it again to check it "
                       "against the new data.", icon=":material/sync_problem:")
        else:
            inspect_upload(uploaded, *result[1:])


def inspect_upload(uploaded: dict, network, meta) -> None:
    sizes = architecture_of(network)
    names = model_files.class_names_from_metadata(meta, network.layer_sizes[-1])
    serial = uploaded["serial"]
    st.markdown(f"**{escape_markdown(lab_data.display_name(uploaded['name']))}**: a {sizes} network, "
                f"{network.activation}, {network.n_parameters:,} parameters, reading "
                f"{escape_markdown(state.classes_text(names))}.")
    data = state.dataset()
    accuracy = cached_per_key("uploaded_accuracy", (serial, data.key),
                      lambda: evaluate_set(network, data.validation_images, data.validation_labels,
                                                 "validation", data.n_classes).accuracy)
    st.caption(f"Accuracy now on this session's {data.n_validation:,} validation images: "
               f"{percent(accuracy)} (if the model was trained on other data, these images may "
               "include some it learnt from).")
    rows = model_metadata_rows(meta)
    if rows:
        st.dataframe(rows, hide_index=True, key="use_upload_meta", height=35 * len(rows) + 38)
    pending = state.job_pending()
    current = state.model()
    in_use = st.session_state.get(INSTALLED, {}).get(serial)
    use, forget = st.columns(2)
    if current is not None and in_use == current.number:
        use.caption(f"This file is the current model (run {in_use}).")
    else:
        use.button("Use it as the current model", type="primary", icon=":material/upload:",
                   on_click=install, disabled=pending, key="use_install",
                   help="Then draw, evaluate and look inside it like a model trained here; it "
                        "joins the run history.")
    forget.button("Forget this file", icon=":material/close:", on_click=forget_upload, key="use_forget_upload")
    if pending:
        st.caption("A run is training: the model can be changed once it is finished.")
    with st.expander("Its first-layer filters" if analysis.n_conv_layers(network)
                     else "Its first-layer weights"):
        chart(first_layer_grid(f"upload:{serial}", network, 560), "use_upload_grid")


def compare_tab() -> None:
    runs = state.runs()
    if not runs:
        st.info("No runs yet: every run you train (or model you upload) joins this session's "
                "run history, and can be compared here.")
        return
    numbers = [r.number for r in runs]
    key = "use_compare"
    if key not in st.session_state or not set(st.session_state[key]) <= set(numbers):
        st.session_state[key] = numbers[-3:]
    st.multiselect("Runs to compare", numbers, key=key, format_func=lambda n: f"run {n}",
                   help="From this session's run history, oldest first.")
    chosen = [r for r in runs if r.number in set(st.session_state[key])]
    if not chosen:
        st.caption("Pick one or more runs.")
        return
    st.dataframe(runs_table(chosen), hide_index=True, key="use_compare_table")
    left, right = st.columns(2)
    for where, measure, title, in_percent in ((left, "accuracy", "accuracy", True),
                                              (right, "loss", "loss (cross-entropy)", False)):
        curves = (run_curves(chosen, f"validation_{measure}", suffix=" validation")
                  + run_curves(chosen, f"train_{measure}", dash="dot", suffix=" train"))
        with where:
            chart(model_figures.run_curves_figure(curves, y_title=title, percent=in_percent),
                  f"use_compare_{measure}", config=STATIC_CHART)
            st.caption(f"{measure.capitalize()} per epoch: solid = validation, dotted = training.")
    st.subheader("First-layer weights")
    if any(r.network is not None and analysis.n_conv_layers(r.network) for r in chosen):
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
                chart(first_layer_grid(f"run:{r.number}", r.network, 1050 // per_row),
                       f"use_compare_grid_{r.number}")




st.title("Models")
st.markdown("Save a trained model to your computer, load one back (to keep using it or to "
            "look inside it), and compare this session's runs side by side.")
lazy_tabs(TABS, "use_models_tab", [save_load_tab, compare_tab])
