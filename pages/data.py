"""Data: look at the data in use (samples of each class, images per class, the average
image of each class) and change it: the bundled subset with another validation share, an
upload (Kaggle CSV, MNIST or EMNIST IDX files) or a download (full MNIST, EMNIST).

Uploads are parsed from their bytes; a malformed file shows the loader's message with
``st.error`` and changes nothing (dataset, model and run history stay as they were).
An upload's bytes are let go as soon as they are read (``ui/uploads.py``), whatever the
outcome, and identical data is parsed and split once for the whole server, shared
read-only (``lab.data.split_upload``; downloads and the bundled subset too).
Widgets: ``use_data_tab``, ``use_source``, ``use_split``, ``use_emnist_split``, the
uploaders ``use_<name>_<version>`` (a new version after each load empties them).
"""

import dataclasses
import time

import numpy as np
import streamlit as st

from lab import data as lab_data
from lab.display_text import escape_markdown
from lab.settings import VALIDATION_FRACTION
from nn.errors import DataError
from ui import entry_script, resources, state, uploads
from ui.action_buttons import action_button
from ui.figures import data as data_figures
from ui.widgets import STATIC_CHART, UPLOAD_LIMIT_MB, cached_per_key, chart, lazy_tabs, set_message, show_message

entry_script.require()

TABS = ("Look at the data", "Load data")
UPLOADS = "use_uploads"  # version of the uploaders (see change_dataset)
SPLITS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
SOURCES = {"bundled": "Bundled 5k subset", "csv": "Kaggle train.csv", "idx": "MNIST IDX files",
           "download": "Download full MNIST", "emnist": "EMNIST letters & more"}
# The EMNIST splits offered here (byclass and bymerge, 814,255 images, are for train.py).
EMNIST_APP_SPLITS = {"letters": "letters: A–Z, 26 classes (each holds both cases)",
                     "balanced": "balanced: 0–9, A–Z and 11 lower-case letters, 47 classes",
                     "digits": "digits: 0–9, 280,000 digits",
                     "mnist": "mnist: 0–9, MNIST's sizes"}


def data_summary(data):
    """(train counts, validation counts, mean images, sample indices) of a dataset, cached."""
    def build():
        k = data.n_classes
        return (lab_data.class_counts(data.train_labels, k), lab_data.class_counts(data.validation_labels, k),
                lab_data.mean_images(data.train_images, data.train_labels, k))

    return cached_per_key("data_summary", data.key, build)


def reshuffle() -> None:
    st.session_state["use_sample_seed"] = st.session_state.get("use_sample_seed", 0) + 1


def look_tab(data) -> None:
    train_counts, validation_counts, means = data_summary(data)
    names, noun, nouns = data.class_names, state.noun(names=data.class_names), state.noun(True, data.class_names)
    many = data.n_classes > 12  # 26 letters, 47 characters: smaller tiles, fewer samples each
    seed = st.session_state.get("use_sample_seed", 0)
    left, right = st.columns([1.2, 1], gap="large")
    with left:
        st.subheader(f"Samples of each {noun}")
        indices = lab_data.sample_indices(data.train_labels, 8 if many else 12, data.n_classes, seed=seed)
        chart(data_figures.samples_figure(data.train_images, indices, names, tile_px=30 if many else 40),
               "use_samples_chart", config=STATIC_CHART)
        st.button("Other samples", icon=":material/casino:", on_click=reshuffle,
                  key="use_reshuffle")
    with right:
        st.subheader(f"Images per {noun}")
        chart(data_figures.class_counts_figure(train_counts, validation_counts, names, height=300),
               "use_counts_chart", config=STATIC_CHART)
        smallest, largest = int(np.argmin(train_counts)), int(np.argmax(train_counts))
        spread = (f"{train_counts[0]:,} of each {noun}" if smallest == largest or
                  train_counts[smallest] == train_counts[largest] else
                  f"from {train_counts[smallest]:,} ({noun} {escape_markdown(names[smallest])}) to "
                  f"{train_counts[largest]:,} ({noun} {escape_markdown(names[largest])})")
        st.caption(f"Training: {train_counts.sum():,} images, {spread}. Validation: "
                   f"{validation_counts.sum():,}, split off {noun} by {noun} so both parts keep "
                   f"the same mix of {nouns}.")
        if not data.digits:
            st.caption(f"{escape_markdown(state.classes_text(names))}. EMNIST letters: each class holds the "
                       "upper- and the lower-case letter. The images are shown upright: EMNIST "
                       "stores them transposed (rows and columns swapped), the loader turns them back."
                       if names == tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ") else
                       f"{escape_markdown(state.classes_text(names))}.")
    st.subheader(f"The average {noun}")
    chart(data_figures.mean_images_figure(means, names, tile_px=72 if many else 96), "use_means_chart",
           config=STATIC_CHART)
    st.caption(f"The mean of all training images of each {noun}: where its ink usually is. A "
               "network without hidden layers can learn little more than templates like these; "
               "the hidden units of the Weights page look for parts of them.")


def refusal(error: Exception, data, uploaded: bool = False) -> str:
    """Why a load was refused, as plain text (``data``: the data still in use)."""
    again = " The file was let go: upload it again once it is fixed." if uploaded else ""
    return f"{error}\n\nNothing was changed: still using {data.name}.{again}"


def refused(error: Exception, data) -> None:
    st.error(escape_markdown(refusal(error, data)), icon=":material/error:")


def empty_uploaders() -> None:
    """New, empty uploaders from the next run on (the old ones' files are let go)."""
    st.session_state[UPLOADS] = st.session_state.get(UPLOADS, 0) + 1


def change_dataset(split, message: str) -> None:
    """Make ``split`` (None: the bundled default) the session's dataset, then rerun."""
    if not state.use_dataset(split):
        set_message("error", "A run is training: wait for it to finish (or "
                                              "stop it) before changing the data.")
    else:
        set_message("success", message)
        empty_uploaders()
    st.rerun()


def switch_to(data, load, *files) -> None:
    """Use the split ``load()`` returns (with its message); on a DataError say why and change
    nothing (``data``: the data in use). ``files``: the uploads ``load`` reads: let go at
    once, whatever the outcome (their uploaders are emptied)."""
    if files:
        empty_uploaders()
    try:
        split, message = load()
    except DataError as error:
        if files:  # shown above the new, empty uploaders
            set_message("error", refusal(error, data, uploaded=True))
            st.rerun()
        refused(error, data)
        return
    change_dataset(split, message)


def shared(kind: str, label: str, raws: tuple[bytes, ...], fraction: float, parse, parse_test=None):
    """``lab.data.split_upload`` with the server's shared data."""
    return lab_data.split_upload(kind, label, raws, fraction, parse, parse_test=parse_test,
                                 datasets=resources.shared_datasets(), splits=resources.shared_splits())


def named(split, name: str):
    """``split`` as this session sees it: named after its own file."""
    return dataclasses.replace(split, name=name)


def uploader_key(name: str) -> str:
    return f"use_{name}_{st.session_state.get(UPLOADS, 0)}"


def split_choice(data) -> float:
    key = "use_split"
    if st.session_state.get(key) not in SPLITS:
        share = data.n_validation / max(data.n_train + data.n_validation, 1)
        st.session_state[key] = min(SPLITS, key=lambda s: abs(s - share))
    st.columns([1, 1])[0].select_slider(
        "Validation share", SPLITS, key=key, format_func=lambda s: f"{s:.0%}",
        help="Held out of training, class by class, to measure the model on images it has not "
             "learnt from.")
    return float(st.session_state[key])


def bundled_split(fraction: float):
    if abs(fraction - VALIDATION_FRACTION) < 1e-9:
        return None  # the server-wide cached split
    from datasets import load_bundled

    key = f"bundled@{fraction:g}"
    return resources.shared_splits().get_or_load(key, lambda: lab_data.make_split(load_bundled(), fraction, key=key))


def load_tab(data) -> None:
    pending = state.job_pending()
    if pending:
        st.warning("A run is training: the data can be changed once it is finished (or stopped).",
                   icon=":material/hourglass_top:")
    source_key = "use_source"
    st.session_state.setdefault(source_key, "bundled")
    st.radio("Source", list(SOURCES), key=source_key, horizontal=True, format_func=SOURCES.get)
    fraction = split_choice(data)
    source = {"bundled": bundled_source, "csv": csv_source, "idx": idx_source, "emnist": emnist_source,
              "download": download_source}[st.session_state[source_key]]
    source(data, fraction, pending)
    if data.key != "bundled":
        st.divider()
        st.caption(f"In use: {escape_markdown(data.name)}.")
        if action_button("Back to the bundled subset", "reset_data", disabled=pending):
            change_dataset(None, "Back to the bundled MNIST subset.")


def bundled_source(data, fraction: float, pending: bool) -> None:
    st.caption("5,000 MNIST training images (500 of each digit) that ship with the app.")
    if action_button("Use the bundled subset", "use_bundled", type="primary", disabled=pending):
        switch_to(data, lambda: (bundled_split(fraction),
                                 f"Now using the bundled MNIST subset, {fraction:.0%} for validation."))


def csv_source(data, fraction: float, pending: bool) -> None:
    st.caption("Kaggle's Digit Recognizer `train.csv` (42,000 digits, header "
               "`label,pixel0,...,pixel783`), plain or gzipped, up to 200 MB.")
    upload = st.file_uploader("train.csv", key=uploader_key("train_csv"), max_upload_size=UPLOAD_LIMIT_MB)
    if action_button("Load this file", "load_csv", type="primary",
                     disabled=pending or upload is None) and upload is not None:
        raw, name = uploads.take(upload)

        def load():
            split = shared("csv", "Kaggle CSV", (raw,), fraction, lambda: lab_data.training_set_from_csv(raw, name))
            split = named(split, f"{lab_data.display_name(name)} ({split.n_train + split.n_validation:,} images, "
                                 "Kaggle CSV)")
            return split, f"Now using {split.name}, {fraction:.0%} for validation."

        switch_to(data, load, upload)


def idx_source(data, fraction: float, pending: bool) -> None:
    st.caption("The original MNIST files: an image file (`…-images-idx3-ubyte`) and its label "
               "file (`…-labels-idx1-ubyte`), gzipped or not.")
    a, b = st.columns(2)
    images = a.file_uploader("Images (idx3)", key=uploader_key("idx_images"), max_upload_size=UPLOAD_LIMIT_MB)
    labels = b.file_uploader("Labels (idx1)", key=uploader_key("idx_labels"), max_upload_size=UPLOAD_LIMIT_MB)
    if action_button("Load these files", "load_idx", type="primary",
                     disabled=pending or images is None or labels is None) \
            and images is not None and labels is not None:
        (images_raw, images_name), (labels_raw, labels_name) = uploads.take(images), uploads.take(labels)

        def load():
            split = shared("idx", "MNIST IDX", (images_raw, labels_raw), fraction,
                           lambda: lab_data.training_set_from_idx(images_raw, images_name, labels_raw, labels_name))
            split = named(split, f"{lab_data.display_name(images_name)} ({split.n_train + split.n_validation:,} "
                                 "images, IDX)")
            return split, f"Now using {split.name}, {fraction:.0%} for validation."

        switch_to(data, load, images, labels)


def download_source(data, fraction: float, pending: bool) -> None:
    st.caption("The full MNIST training set (60,000 images, about 10 MB to download from a "
               "public mirror, kept on the server for next time). Training on it takes "
               "about 12 times longer than on the bundled subset.")
    if action_button("Download MNIST", "download", type="primary", icon=":material/download:",
                     disabled=pending):
        download_mnist(fraction)


def emnist_source(data, fraction: float, pending: bool) -> None:
    """EMNIST: pick a split, then upload its IDX files or download it (datasets/emnist.py)."""
    from datasets.emnist import EMNIST_SIZES, EMNIST_ZIP_MEGABYTES

    split_key = "use_emnist_split"
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
    images = a.file_uploader("EMNIST images (idx3)", key=uploader_key("emnist_images"),
                             max_upload_size=UPLOAD_LIMIT_MB)
    labels = b.file_uploader("EMNIST labels (idx1)", key=uploader_key("emnist_labels"),
                             max_upload_size=UPLOAD_LIMIT_MB)
    with st.expander("Its test part (optional): the Evaluate page's test set"):
        c, d = st.columns(2)
        test_images = c.file_uploader("EMNIST test images (idx3)", key=uploader_key("emnist_test_images"),
                                      max_upload_size=UPLOAD_LIMIT_MB)
        test_labels = d.file_uploader("EMNIST test labels (idx1)", key=uploader_key("emnist_test_labels"),
                                      max_upload_size=UPLOAD_LIMIT_MB)
    if action_button(f"Load EMNIST {split}", "load_emnist", type="primary",
                     disabled=pending or images is None or labels is None) \
            and images is not None and labels is not None:
        files = [images, labels, *([test_images, test_labels] if None not in (test_images, test_labels) else [])]
        raws = [uploads.take(file) for file in files]
        uploads.release(test_images, test_labels)  # one of the two alone is not read
        switch_to(data, lambda: emnist_from_uploads(split, fraction, raws), *files)
    st.markdown(f"**Or download** it: NIST's archive of every split (about {EMNIST_ZIP_MEGABYTES} MB, "
                "kept on the server for next time), of which only this split is unpacked.")
    if action_button(f"Download EMNIST {split}", "download_emnist", icon=":material/download:",
                     disabled=pending):
        download_emnist(split, fraction)


def emnist_from_uploads(split: str, fraction: float, files):
    """(the split data, a message) from the uploaded EMNIST IDX files' (bytes, name): images and
    labels of the training part and, when there are four, of the test part. May raise DataError."""
    (images_raw, images_name), (labels_raw, labels_name) = files[:2]
    test = files[2:]

    def parse_test():
        (test_images_raw, test_images_name), (test_labels_raw, test_labels_name) = test
        return lab_data.emnist_set_from_idx(test_images_raw, test_images_name, test_labels_raw, test_labels_name,
                                            split, part="test")

    data = shared(f"emnist-{split}", f"EMNIST {split}", tuple(raw for raw, _ in files), fraction,
                  lambda: lab_data.emnist_set_from_idx(images_raw, images_name, labels_raw, labels_name, split),
                  parse_test if test else None)
    data = named(data, f"EMNIST {split} train ({data.n_train + data.n_validation:,} images, "
                       f"{lab_data.display_name(images_name)})")
    with_test = f" and its {len(data.test[1]):,} test images" if data.test is not None else \
        " (no test part: the Evaluate page shows the validation images)"
    return data, f"Now using {data.name}{with_test}, {fraction:.0%} for validation."


def throttled(show, seconds: float = 0.15):
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


def download_emnist(split: str, fraction: float) -> None:
    from datasets import emnist

    bar = st.progress(0.0, text="Connecting…")

    def show(file_name: str, done: int, total: int | None) -> None:
        size = f"{done / 2**20:.0f} of {total / 2**20:.0f} MB" if total else f"{done / 2**20:.0f} MB"
        bar.progress(min(done / total, 1.0) if total else 0.0, text=f"{file_name}: {size}")

    progress = throttled(show)

    try:
        train, test = emnist.download_emnist(split, progress=progress)
    except DataError as error:
        bar.empty()
        st.error(f"The download failed. {escape_markdown(error)}\n\nNothing was changed.", icon=":material/error:")
        return
    key = f"emnist-{split}@{fraction:g}"
    try:
        split_data = resources.shared_splits().get_or_load(
            key, lambda: lab_data.make_split(train, fraction, key=key, test=test))
    except DataError as error:
        bar.empty()
        refused(error, state.dataset())
        return
    bar.progress(1.0, text="Downloaded, checked and unpacked.")
    change_dataset(split_data, f"Now using {train.name} and its {test.n_samples:,} test images, "
                                f"{fraction:.0%} for validation.")


def download_mnist(fraction: float) -> None:
    from datasets import mnist

    bar = st.progress(0.0, text="Connecting…")
    files = ("train-images", "train-labels", "t10k-images", "t10k-labels")

    def show(file_name: str, done: int, total: int | None) -> None:
        index = next((i for i, f in enumerate(files) if file_name.startswith(f)), 0)
        part = done / total if total else 0.0
        size = f"{done / 2**20:.1f} of {total / 2**20:.1f} MB" if total else f"{done / 2**20:.1f} MB"
        bar.progress(min((index + part) / len(files), 1.0),
                     text=f"File {index + 1} of {len(files)}: {file_name}, {size}")

    progress = throttled(show)

    try:
        train, _ = mnist.download_mnist(progress=progress)
        key = f"mnist@{fraction:g}"
        split = resources.shared_splits().get_or_load(key, lambda: lab_data.make_split(train, fraction, key=key))
    except DataError as error:
        bar.empty()
        st.error(f"The download failed. {escape_markdown(error)}\n\nNothing was changed.",
                 icon=":material/error:")
        return
    bar.progress(1.0, text="Downloaded and checked.")
    change_dataset(split, f"Now using {train.name}, {fraction:.0%} for validation.")




st.title("Data")
data = state.dataset()
st.markdown(f"**In use:** {escape_markdown(data.name)}: {data.n_train:,} training and {data.n_validation:,} "
            "validation images. Changing the data keeps your model and run history; a new "
            "run trains on the new data.")
show_message()
lazy_tabs(TABS, "use_data_tab", [lambda: look_tab(data), lambda: load_tab(data)])
