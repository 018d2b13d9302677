"""The Draw, Evaluate, Data and Models pages under AppTest (no browser).

Uploads go through the real ``st.file_uploader`` widgets (AppTest can set them). What
AppTest cannot do -- draw on the canvas, click a chart cell, fetch a download -- is
covered by tests/browser/test_browser_draw_evaluate_data_models.py and by the plain
functions in tests/ui/test_page_figures_and_files.py.
"""

import gzip
import io
import json
import re
import zipfile

import numpy as np
import pytest
from app_support import (  # noqa: F401 (restore_blas_threads is a fixture)
    chart_key,
    decode,
    open_tab,
    rerun,
    restore_blas_threads,
    trained_run,
    wait_for_model,
)
from app_support import open_page as _open_page
from streamlit.testing.v1 import AppTest

from lab import evaluation, model_files
from lab.runs import Run
from nn.model_io import model_to_bytes
from nn.network import Network
from nn.training import predict_proba


@pytest.fixture(scope="module")
def run(data) -> Run:
    return trained_run(data, (32,), validation=True)


def open_page(page: str, run: Run | None = None, **state) -> AppTest:
    """The page with ``run`` as the current model and the run history's only run."""
    return _open_page(page, run, in_history=True, **state)


def chart(at: AppTest, prefix: str) -> dict:
    """The figure JSON of the page's plotly chart whose key starts with ``prefix``."""
    for element in at.get("plotly_chart"):
        if chart_key(element).startswith(prefix):
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {prefix!r}; charts: "
                         f"{[chart_key(e) for e in at.get('plotly_chart')]}")


def shown_matrix(figure: dict) -> np.ndarray:
    right, wrong = (decode(figure["data"][i]["z"]).reshape(10, 10) for i in (0, 1))
    return np.where(np.isnan(right), wrong, right)


def uploader(at: AppTest, label: str):
    """The file uploader labelled ``label`` (the Data page versions their keys)."""
    return next(u for u in at.file_uploader if u.label == label)


def shown(element) -> str:
    """An element's text as the reader sees it (markdown backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", element.value)


def kaggle_csv(images, labels=None) -> bytes:
    header = ("label," if labels is not None else "") + ",".join(f"pixel{i}" for i in range(784))
    rows = [",".join(map(str, ([int(labels[i])] if labels is not None else []) + image.tolist()))
            for i, image in enumerate(images)]
    return ("\n".join([header, *rows]) + "\n").encode()


# ---------------------------------------------------------------------------------
# Without a model
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["draw", "evaluate", "models"])
def test_without_a_model_the_page_says_so_and_offers_the_default_training(page):
    at = open_page(page)
    assert [t.value for t in at.title] == [page.capitalize()]
    assert any("No model yet" in i.value for i in at.info)
    button = at.button(key=f"use_{page}_train_default")
    assert button.label == "Train a good default model" and not button.disabled


def test_default_training_from_evaluate_stays_there_and_shows_test_accuracy(mnist_test_set):
    at = open_page("evaluate")
    at.button(key="use_evaluate_train_default").click()
    rerun(at)
    assert [t.value for t in at.title] == ["Evaluate"]
    assert "go_to_train" not in at.session_state
    wait_for_model(at)
    model = at.session_state["model"]
    assert model.network.layer_sizes == (784, 128, 10)
    metrics = {m.label: m.value for m in at.metric}
    expected = np.mean(predict_proba(model.network, mnist_test_set.images).argmax(axis=1)
                       == mnist_test_set.labels)
    assert metrics["Test accuracy"] == f"{100 * expected:.1f}%"
    print(f"default one-click model, test accuracy on the Evaluate page: {metrics['Test accuracy']}")
    assert expected >= 0.92


# ---------------------------------------------------------------------------------
# Evaluate
# ---------------------------------------------------------------------------------


def test_confusion_matrix_counts_sum_to_the_evaluated_images(run, data, mnist_test_set):
    at = open_page("evaluate", run)
    figure = chart(at, "use_confusion_chart")
    counts = shown_matrix(figure)
    assert counts.sum() == len(mnist_test_set.labels) == 10_000  # the test set by default
    predicted = predict_proba(run.network, mnist_test_set.images).argmax(axis=1)
    assert np.array_equal(counts, evaluation.confusion_counts(mnist_test_set.labels, predicted))
    at.session_state["use_eval_set"] = "validation"
    rerun(at)
    counts = shown_matrix(chart(at, "use_confusion_chart"))
    assert counts.sum() == data.n_validation == 500
    assert np.trace(counts) / 500 == pytest.approx(run.validation_accuracy)
    at.toggle(key="use_normalised").set_value(True)
    rerun(at)
    shares = shown_matrix(chart(at, "use_confusion_chart"))
    assert shares.sum(axis=1) == pytest.approx(np.ones(10))


def test_a_chosen_cell_shows_exactly_its_images(run, data):
    at = open_page("evaluate", run, use_eval_set="validation")
    ev = evaluation.evaluate_set(run.network, data.validation_images, data.validation_labels, "v")
    off = ev.counts - np.diag(np.diag(ev.counts))
    t, p = np.unravel_index(np.argmax(off), off.shape)
    at.selectbox(key="use_cell_true").set_value(int(t))
    at.selectbox(key="use_cell_predicted").set_value(int(p))
    rerun(at)
    gallery = chart(at, "use_cell_gallery")
    assert gallery["layout"]["meta"]["gallery"]["n"] == min(ev.counts[t, p], 40)
    assert any(f"images of {t} read as {p}" in m.value for m in at.markdown)
    # The chosen cell is outlined in the matrix.
    rect = chart(at, "use_confusion_chart")["layout"]["shapes"][0]
    assert ((rect["x0"] + rect["x1"]) / 2, (rect["y0"] + rect["y1"]) / 2) == (p, t)


def test_misclassified_gallery_sorted_by_confidence(run, data):
    at = open_tab(open_page("evaluate", run, use_eval_set="validation"), "use_evaluate_tab",
                  "Misclassified")
    ev = evaluation.evaluate_set(run.network, data.validation_images, data.validation_labels, "v")

    def confidences():
        annotations = chart(at, "use_wrong_gallery")["layout"]["annotations"]
        return [int(a["text"].rsplit(" ", 1)[1].rstrip("%")) for a in annotations]

    first = confidences()
    assert len(first) == min(len(ev.wrong), 40)
    assert first == sorted(first, reverse=True)
    at.radio(key="use_wrong_order").set_value("least")
    rerun(at)
    last = confidences()
    assert last == sorted(last)
    assert last[0] == round(100 * ev.confidence[ev.wrong].min())


def test_per_class_table_matches_the_matrix(run, data):
    at = open_tab(open_page("evaluate", run, use_eval_set="validation"), "use_evaluate_tab",
                  "Per class")
    table = at.dataframe[0].value
    ev = evaluation.evaluate_set(run.network, data.validation_images, data.validation_labels, "v")
    expected = evaluation.per_class_table(ev.counts)
    assert table["recall %"].tolist() == expected["recall %"].tolist()
    assert table["images"].sum() == 500


def test_kaggle_submission_from_an_uploaded_test_csv(run, mnist_test_set):
    at = open_tab(open_page("evaluate", run), "use_evaluate_tab", "Kaggle submission")
    images = mnist_test_set.images[:123]
    at.file_uploader(key="use_kaggle_test").set_value(("test.csv", kaggle_csv(images), "text/csv"))
    rerun(at)
    assert not at.error
    assert at.download_button[0].label == "Download submission.csv"
    assert any("Kaggle's test.csv has 28,000" in w.value for w in at.warning)  # 123 rows
    _, (status, _, predicted, csv) = at.session_state["use_cache"]["submission"]
    lines = csv.decode().splitlines()
    assert status == "ok" and lines[0] == "ImageId,Label" and len(lines) == 124
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, 124))
    assert [int(line.split(",")[1]) for line in lines[1:]] == \
        predict_proba(run.network, images).argmax(axis=1).tolist()
    preview = at.dataframe[0].value
    assert preview["ImageId"].tolist()[:3] == [1, 2, 3]
    # A training file, an empty file: the loader's message, no download.
    for name, raw in [("train.csv", kaggle_csv(images[:5], mnist_test_set.labels[:5])),
                      ("empty.csv", b"")]:
        at.file_uploader(key="use_kaggle_test").set_value((name, raw, "text/csv"))
        rerun(at)
        assert at.error and name in shown(at.error[0])
        assert not at.download_button


# ---------------------------------------------------------------------------------
# Data page: loading, malformed uploads
# ---------------------------------------------------------------------------------

HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))


def csv_with(row: str, header: str = HEADER) -> bytes:
    good = "3," + ",".join(["0"] * 784)
    return "\n".join([header, good, row, good]).encode()


def idx(magic: int, shape: tuple, payload: bytes) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in shape) + payload


def malformed_csvs(data) -> list[tuple[str, bytes, str]]:
    zero = ["0"] * 784
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train.csv", kaggle_csv(data.train_images[:30], data.train_labels[:30]))
    good = gzip.compress(kaggle_csv(data.train_images[::150], data.train_labels[::150]))
    return [
        ("empty.csv", b"", "empty"),
        ("wrong_header.csv", csv_with("1," + ",".join(zero), header="digit,p0,p1"), "header"),
        ("784_columns.csv", csv_with(",".join(zero)), "784"),
        ("786_columns.csv", csv_with("1," + ",".join(zero) + ",0"), "786"),
        ("test_as_train.csv", kaggle_csv(data.train_images[:30]), "no 'label' column"),
        ("non_numeric.csv", csv_with("1," + ",".join(zero[:-1] + ["abc"])), "abc"),
        ("pixel_300.csv", csv_with("1," + ",".join(zero[:-1] + ["300"])), "300"),
        ("negative.csv", csv_with("1," + ",".join(["-1"] + zero[1:])), "-1"),
        ("label_10.csv", csv_with("10," + ",".join(zero)), "10"),
        ("train.zip", buffer.getvalue(), "ZIP"),
        ("truncated.csv.gz", good[: len(good) // 2], "truncated"),
        ("model.npz", model_to_bytes(Network((784, 8, 10), seed=0)), "ZIP"),
    ]


def malformed_idx(data) -> list[tuple[tuple, tuple, str]]:
    images = data.train_images[:30]
    labels = data.train_labels[:30]
    good_images = idx(0x803, (30, 28, 28), images.tobytes())
    good_labels = idx(0x801, (30,), labels.tobytes())
    return [
        (("wrong_magic", idx(0x804, (30, 28, 28), images.tobytes())), ("labels", good_labels), "magic"),
        (("images", good_images), ("wrong_magic", idx(0x7777, (30,), labels.tobytes())), "magic"),
        (("truncated.gz", gzip.compress(good_images)[:2000]), ("labels", good_labels), "truncated"),
        (("short", good_images[:-100]), ("labels", good_labels), "expected"),
        (("images", good_images), ("too_few", idx(0x801, (29,), labels[:29].tobytes())), "29"),
        (("images", good_images), ("label_10", idx(0x801, (30,), bytes([10] * 30))), "label 10"),
        (("swapped", good_labels), ("images", good_images), "not an IDX image file"),
        (("empty", b""), ("labels", good_labels), "short"),
    ]


def snapshot(at: AppTest) -> tuple:
    """What must not change: the dataset, the model and the run history."""
    data = at.session_state["session_dataset"] if "session_dataset" in at.session_state else None
    model = at.session_state["model"]
    return (None if data is None else (data.key, data.n_train, data.n_validation), model.number,
            id(model.network), tuple(r.number for r in at.session_state["runs"]))


def test_a_good_csv_upload_replaces_the_dataset_and_keeps_model_and_history(run, data):
    at = open_tab(open_page("data", run), "use_data_tab", "Load data")
    at.radio(key="use_source").set_value("csv")
    rerun(at)
    images, labels = data.train_images[::30], data.train_labels[::30]  # 150 images, all digits
    uploader(at, "train.csv").set_value(("my train.csv", kaggle_csv(images, labels), "text/csv"))
    at.select_slider(key="use_split").set_value(0.2)
    rerun(at)
    at.button(key="use_load_csv").click()
    rerun(at)
    loaded = at.session_state["session_dataset"]
    assert loaded.n_train + loaded.n_validation == 150 and loaded.n_validation == 30
    assert at.success and "my train.csv" in shown(at.success[0])
    assert "my train.csv (150 images" in " ".join(c.value for c in at.sidebar.caption)
    assert at.session_state["model"].number == run.number and len(at.session_state["runs"]) == 1
    assert uploader(at, "train.csv").value is None  # a fresh uploader: the file is let go
    # The other pages use the new data.
    at.switch_page("pages/evaluate.py")
    at.session_state["use_eval_set"] = "validation"
    rerun(at)
    assert shown_matrix(chart(at, "use_confusion_chart")).sum() == 30


def test_malformed_uploads_show_the_loaders_message_and_change_nothing(run, data):
    at = open_tab(open_page("data", run), "use_data_tab", "Load data")
    before = snapshot(at)
    at.radio(key="use_source").set_value("csv")
    rerun(at)
    for name, raw, expected in malformed_csvs(data):
        uploader(at, "train.csv").set_value((name, raw, "text/csv"))
        rerun(at)
        at.button(key="use_load_csv").click()
        rerun(at)
        assert at.error, f"{name}: no error shown"
        message = shown(at.error[0])
        assert name in message and expected in message, f"{name}: {message}"
        assert "Nothing was changed" in message
        assert snapshot(at) == before, name
    at.radio(key="use_source").set_value("idx")
    rerun(at)
    for (images_name, images_raw), (labels_name, labels_raw), expected in malformed_idx(data):
        uploader(at, "Images (idx3)").set_value((images_name, images_raw, "application/octet-stream"))
        uploader(at, "Labels (idx1)").set_value((labels_name, labels_raw, "application/octet-stream"))
        rerun(at)
        at.button(key="use_load_idx").click()
        rerun(at)
        assert at.error, f"{images_name}/{labels_name}: no error shown"
        assert expected in shown(at.error[0]), shown(at.error[0])
        assert snapshot(at) == before


def test_other_split_of_the_bundled_data_and_back(run):
    at = open_tab(open_page("data", run), "use_data_tab", "Load data")
    at.select_slider(key="use_split").set_value(0.2)
    rerun(at)
    at.button(key="use_use_bundled").click()
    rerun(at)
    loaded = at.session_state["session_dataset"]
    assert (loaded.n_train, loaded.n_validation) == (4000, 1000)
    assert at.session_state["model"].number == run.number
    at.button(key="use_reset_data").click()
    rerun(at)
    assert at.session_state["session_dataset"] is None


def test_mnist_download_offline_shows_the_message_and_changes_nothing(run, monkeypatch, tmp_path):
    import datasets.mnist

    real = datasets.mnist.download_mnist

    def unreachable(**kwargs):  # a closed local port: fails at once, whatever the network
        return real(tmp_path, mirrors=("http://127.0.0.1:9/",), **kwargs)

    monkeypatch.setattr(datasets.mnist, "download_mnist", unreachable)
    at = open_tab(open_page("data", run), "use_data_tab", "Load data")
    before = snapshot(at)
    at.radio(key="use_source").set_value("download")
    rerun(at)
    at.button(key="use_download").click()
    rerun(at)
    assert at.error and "could not download" in shown(at.error[0])
    assert snapshot(at) == before


def test_data_page_shows_samples_counts_and_means(data):
    at = open_page("data")
    samples = chart(at, "use_samples_chart")
    assert samples["layout"]["yaxis"]["ticktext"] == [str(d) for d in range(10)]
    counts = chart(at, "use_counts_chart")
    train_counts = decode(counts["data"][0]["y"])
    assert train_counts.sum() == data.n_train and decode(counts["data"][1]["y"]).sum() == data.n_validation
    assert len(chart(at, "use_means_chart")["layout"]["annotations"]) == 10


# ---------------------------------------------------------------------------------
# Models page
# ---------------------------------------------------------------------------------


def malformed_models() -> list[tuple[str, bytes, str]]:
    pickled = io.BytesIO()
    np.savez(pickled, W1=np.array([object()], dtype=object))
    network = Network((784, 8, 10), seed=0)
    good = model_to_bytes(network)
    wrong_shape = io.BytesIO()
    with np.load(io.BytesIO(good)) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["W1"] = arrays["W1"][:700]
    np.savez(wrong_shape, **arrays)
    return [
        ("empty.npz", b"", "empty"),
        ("pickled.npz", pickled.getvalue(), "pickle"),
        ("wrong_shape.npz", wrong_shape.getvalue(), "shape"),
        ("truncated.npz", good[: len(good) // 2], "npz"),
        ("train.csv", b"label,pixel0\n1,2\n", "not a .npz"),
        ("three_classes.npz", model_to_bytes(Network((784, 8, 3), seed=0)), "10 scores"),
    ]


def test_model_download_then_upload_round_trips(run, data):
    at = open_page("models", run)
    button = at.download_button[0]
    assert button.label == "Download digit-lab-run-1.npz"
    raw = model_files.model_file_bytes(run)  # what the download button serves (deferred)
    at.file_uploader(key="use_model_upload").set_value(("digit-lab-run-1.npz", raw, "application/octet-stream"))
    rerun(at)
    assert not at.error
    assert any("784-32-10" in m.value for m in at.markdown)
    at.button(key="use_install").click()
    rerun(at)
    model = at.session_state["model"]
    assert model.number == 2 and model.status == "uploaded"
    assert [r.number for r in at.session_state["runs"]] == [1, 2]
    assert np.array_equal(predict_proba(model.network, data.validation_images),
                          predict_proba(run.network, data.validation_images))
    assert model.history.validation_accuracy == pytest.approx(run.history.validation_accuracy)
    assert "run 2 (uploaded)" in " ".join(c.value for c in at.sidebar.caption)
    # Every page works with the uploaded model.
    for page in ("draw", "evaluate", "weights", "gradients", "activations", "train"):
        at.switch_page(f"pages/{page}.py")
        rerun(at)
    # The comparison lists both runs, with their curves and weight grids.
    at.switch_page("pages/models.py")
    rerun(at)
    open_tab(at, "use_models_tab", "Compare runs")
    assert at.multiselect(key="use_compare").value == [1, 2]
    names = [t["name"] for t in chart(at, "use_compare_accuracy")["data"]]
    assert names == ["run 1 validation", "run 2 validation", "run 1 train", "run 2 train"]
    chart(at, "use_compare_grid_1")
    chart(at, "use_compare_grid_2")


def test_malformed_model_files_show_a_message_and_change_nothing(run):
    at = open_page("models", run)
    before = snapshot(at)
    for name, raw, expected in malformed_models():
        uploader(at, "A Digit Lab model (.npz)").set_value((name, raw, "application/octet-stream"))
        rerun(at)
        assert at.error, f"{name}: no error"
        assert name in shown(at.error[0]) and expected in shown(at.error[0]), shown(at.error[0])
        assert not [b for b in at.button if b.key == "use_install"]
        assert snapshot(at) == before
