"""The Draw, Evaluate, Data and Models pages' figures and computations, without Streamlit.

Each figure test reads the numbers back out of the figure, so a figure drawing the
wrong data fails.
"""

import base64
import gzip
import io
import json
import zipfile

import numpy as np
import pytest

from datasets import load_bundled
from datasets.preprocess import render_digit
from lab import data as lab_data
from lab import evaluation, model_files
from lab.runs import Run
from nn.errors import DataError
from nn.model_io import ModelFileError, load_model, model_to_bytes
from nn.network import Network
from nn.training import History, TrainConfig, build_network, predict_proba, train
from ui.figures import activations as activation_figures
from ui.figures import data as data_figures
from ui.figures import evaluation as evaluation_figures
from ui.figures import images as image_figures
from ui.figures import models as model_figures
from ui.figures import style


def values(array) -> np.ndarray:
    """Plotly 7 may store arrays as {"dtype", "bdata"}; read either form back."""
    if isinstance(array, dict) and "bdata" in array:
        flat = np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
        if "shape" in array:  # e.g. "28, 28"
            return flat.reshape([int(n) for n in str(array["shape"]).split(",")])
        return flat
    return np.asarray(array, dtype=float)


def spec(fig) -> dict:
    return json.loads(fig.to_json())


@pytest.fixture(scope="module")
def data():
    return load_bundled()


@pytest.fixture(scope="module")
def run(data):
    config = TrainConfig(hidden_sizes=(24,), optimizer="adam", learning_rate=1e-3, epochs=3,
                         batch_size=128, seed=0)
    result = train(build_network(config), data.images[:2000], data.labels[:2000], config,
                   validation=(data.images[4000:], data.labels[4000:]))
    return Run(7, config, result.status, result.message, result.network, result.history,
               "test data", 1.5, test_accuracy=0.5)


# ---------------------------------------------------------------------------------
# Evaluation numbers
# ---------------------------------------------------------------------------------


def test_confusion_counts_and_per_class_precision_recall():
    true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 0, 1, 1, 2, 2, 2, 2, 0])
    counts = evaluation.confusion_counts(true, pred, 3)
    assert counts.tolist() == [[2, 1, 0], [0, 1, 1], [1, 0, 3]]
    assert counts.sum() == len(true)
    table = evaluation.per_class_table(counts)
    assert table["images"].tolist() == [3, 2, 4]
    assert table["correct"].tolist() == [2, 1, 3]
    assert table["precision %"].tolist() == pytest.approx([66.7, 50.0, 75.0], abs=0.05)
    assert table["recall %"].tolist() == pytest.approx([66.7, 50.0, 75.0], abs=0.05)
    # A class never predicted has no precision (not 0, not a crash).
    table = evaluation.per_class_table(evaluation.confusion_counts([0, 1], [0, 0], 2))
    assert np.isnan(table["precision %"][1]) and table["recall %"][1] == 0


def test_evaluation_matches_the_network(run, data):
    images, labels = data.images[4000:4300], data.labels[4000:4300]
    ev = evaluation.evaluate_set(run.network, images, labels, "300 images")
    probabilities = predict_proba(run.network, images)
    assert np.array_equal(ev.predicted, probabilities.argmax(axis=1))
    assert ev.counts.sum() == 300
    assert ev.accuracy == pytest.approx(np.mean(probabilities.argmax(axis=1) == labels))
    assert np.array_equal(ev.wrong, np.flatnonzero(ev.predicted != labels))
    ordered = evaluation.by_confidence(ev.wrong, ev.confidence)
    assert np.all(np.diff(ev.confidence[ordered]) <= 0)
    ordered = evaluation.by_confidence(ev.wrong, ev.confidence, most_confident_first=False)
    assert np.all(np.diff(ev.confidence[ordered]) >= 0)
    t, p = np.unravel_index(np.argmax(ev.counts - np.diag(np.diag(ev.counts))), ev.counts.shape)
    cell = evaluation.cell_indices(ev, t, p)
    assert len(cell) == ev.counts[t, p]
    assert np.all(labels[cell] == t) and np.all(ev.predicted[cell] == p)


# ---------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------


def test_probability_figure_shows_the_ten_probabilities():
    p = np.array([0.01, 0.02, 0.03, 0.04, 0.5, 0.1, 0.1, 0.1, 0.05, 0.05])
    fig = spec(activation_figures.probability_figure(p))
    bar = fig["data"][0]
    assert bar["x"] == [str(d) for d in range(10)]
    assert values(bar["y"]) == pytest.approx(p)
    colors = bar["marker"]["color"]
    assert colors[4] == style.HIGHLIGHT and colors.count(style.HIGHLIGHT) == 1


def test_digit_figure_shows_the_pixels():
    image = (np.arange(784) % 256).astype(np.uint8)
    fig = spec(image_figures.digit_figure(image, ink_on_black=True))
    z = values(fig["data"][0]["z"]).reshape(28, 28)
    assert z == pytest.approx(image.reshape(28, 28) / 255, abs=1e-6)
    assert fig["data"][0]["colorscale"][0][1] == "#000000"  # 0 drawn black


def matrix_of(fig: dict) -> np.ndarray:
    """The numbers the confusion figure colours: the two heatmaps are complementary."""
    right, wrong = (values(fig["data"][i]["z"]).reshape(10, 10) for i in (0, 1))
    assert np.all(np.isnan(right) != np.isnan(wrong))
    return np.where(np.isnan(right), wrong, right)


def test_confusion_matrix_figure_counts_and_row_normalised():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 10, 1000)
    pred = np.where(rng.random(1000) < 0.8, true, rng.integers(0, 10, 1000))
    counts = evaluation.confusion_counts(true, pred)
    fig = spec(evaluation_figures.confusion_matrix_figure(counts))
    shown = matrix_of(fig)
    assert np.array_equal(shown, counts) and shown.sum() == 1000
    assert fig["layout"]["meta"]["counts"] == counts.tolist()
    normalised = matrix_of(spec(evaluation_figures.confusion_matrix_figure(counts, normalised=True)))
    assert normalised.sum(axis=1) == pytest.approx(np.ones(10))
    assert normalised[3, 5] == pytest.approx(counts[3, 5] / counts[3].sum())
    # Rows are true digits, columns predicted: the texts say so cell by cell.
    text = np.asarray(fig["data"][1]["text"], dtype=object)
    assert text[2][7] == (str(counts[2, 7]) if counts[2, 7] else "")


def test_confusion_cells_are_clickable_and_map_back():
    counts = np.arange(100).reshape(10, 10)
    fig = evaluation_figures.confusion_matrix_figure(counts, selected=(4, 9))
    targets = next(t for t in fig.data if t.name == evaluation_figures.CLICK_TRACE_NAME)
    assert len(targets.x) == 100
    for i in (0, 49, 94):  # what st.plotly_chart reports for a click on that marker
        event = {"selection": {"points": [{"x": targets.x[i], "y": targets.y[i]}]}}
        assert evaluation_figures.cell_from_selection(event) == divmod(i, 10)
    assert evaluation_figures.cell_from_selection({"selection": {"points": []}}) is None
    assert evaluation_figures.cell_from_selection(None) is None
    rect = fig.layout.shapes[0]
    assert (rect.x0 + rect.x1) / 2 == 9 and (rect.y0 + rect.y1) / 2 == 4


def test_gallery_places_every_image_and_caption():
    images = np.zeros((5, 784), np.uint8)
    for i in range(5):
        images[i, i * 10] = 255  # one lit pixel per image, in a different place
    fig = spec(image_figures.gallery_figure(images, [f"c{i}" for i in range(5)], columns=3))
    z = values(fig["data"][0]["z"])
    assert np.nansum(z) == pytest.approx(5.0)
    assert [a["text"] for a in fig["layout"]["annotations"]] == [f"c{i}" for i in range(5)]
    assert fig["layout"]["meta"]["gallery"] == {"columns": 3, "rows": 2, "n": 5}


def test_samples_figure_one_row_per_digit(data):
    indices = lab_data.sample_indices(data.labels, 4, seed=1)
    assert indices.shape == (10, 4)
    for digit in range(10):
        assert np.all(data.labels[indices[digit]] == digit)
    fig = spec(data_figures.samples_figure(data.images, indices))
    assert fig["layout"]["yaxis"]["ticktext"] == [str(d) for d in range(10)]
    z = values(fig["data"][0]["z"])
    assert np.nansum(z) == pytest.approx(data.images[indices.reshape(-1)].sum() / 255, rel=1e-5)
    # A digit with fewer samples leaves empty slots instead of failing.
    few = lab_data.sample_indices(np.array([0, 0, 1]), 3)
    assert few[0].tolist()[:2] == [0, 1] and few[0, 2] == -1 and few[2].tolist() == [-1, -1, -1]


def test_class_counts_and_mean_images(data):
    counts = lab_data.class_counts(data.labels)
    assert counts.tolist() == [500] * 10
    fig = spec(data_figures.class_counts_figure(counts[:], counts // 10))
    assert values(fig["data"][0]["y"]).tolist() == [500] * 10
    assert values(fig["data"][1]["y"]).tolist() == [50] * 10
    means = lab_data.mean_images(data.images, data.labels)
    assert means[3] == pytest.approx(data.images[data.labels == 3].mean(axis=0) / 255, abs=1e-5)
    fig = spec(data_figures.mean_images_figure(means))
    assert len(fig["layout"]["annotations"]) == 10


def test_run_curves_overlay_one_colour_per_run():
    curves = [{"name": "run 1 validation", "group": "run 1", "epoch": [1, 2], "values": [0.5, 0.7]},
              {"name": "run 1 train", "group": "run 1", "epoch": [1, 2], "values": [0.6, 0.8],
               "dash": "dot"},
              {"name": "run 2 validation", "group": "run 2", "epoch": [1, 2, 3], "values": [0.4, 0.6, 0.9]}]
    fig = spec(model_figures.run_curves_figure(curves, y_title="accuracy", percent=True))
    assert [t["name"] for t in fig["data"]] == [c["name"] for c in curves]
    assert values(fig["data"][2]["y"]) == pytest.approx([40, 60, 90])
    colors = [t["line"]["color"] for t in fig["data"]]
    assert colors[0] == colors[1] != colors[2]
    assert fig["data"][1]["line"]["dash"] == "dot"


# ---------------------------------------------------------------------------------
# Drawing -> digit
# ---------------------------------------------------------------------------------


def test_a_canvas_drawing_becomes_the_digit_the_network_reads(data):
    from lab.canvas import read_canvas

    ink = render_digit(data.images[0], 280, pen=0.5)  # a digit as a 280 x 280 drawing
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., :3] = (ink * 255).astype(np.uint8)[..., None]
    rgba[..., 3] = 255
    digit = read_canvas(rgba)
    assert digit.shape == (784,) and digit.dtype == np.uint8
    assert digit.max() == 255
    assert read_canvas(np.zeros((280, 280, 4), np.uint8)) is None  # an empty canvas
    assert read_canvas(None) is None


# ---------------------------------------------------------------------------------
# Kaggle submission
# ---------------------------------------------------------------------------------


def kaggle_csv(images, labels=None) -> bytes:
    header = ("label," if labels is not None else "") + ",".join(f"pixel{i}" for i in range(784))
    rows = [",".join(map(str, ([int(labels[i])] if labels is not None else []) + image.tolist()))
            for i, image in enumerate(images)]
    return ("\n".join([header, *rows]) + "\n").encode()


def test_submission_csv_header_rows_and_image_ids(run, data):
    images = data.images[:57]
    _, predicted, csv = evaluation.submission_from_upload(run.network, kaggle_csv(images), "test.csv")
    lines = csv.decode().splitlines()
    assert lines[0] == "ImageId,Label"
    assert len(lines) == 1 + 57
    ids, labels = zip(*(map(int, line.split(",")) for line in lines[1:]))
    assert list(ids) == list(range(1, 58))
    assert np.array_equal(labels, predict_proba(run.network, images).argmax(axis=1))
    assert np.array_equal(labels, predicted)


def test_submission_refuses_a_labelled_file_and_bad_files(run, data):
    with pytest.raises(DataError, match="label"):
        evaluation.submission_from_upload(run.network, kaggle_csv(data.images[:3], data.labels[:3]), "x.csv")
    with pytest.raises(DataError, match="empty"):
        evaluation.submission_from_upload(run.network, b"", "test.csv")


# ---------------------------------------------------------------------------------
# Uploads: names, training sets, model files
# ---------------------------------------------------------------------------------


def test_upload_names_are_only_ever_display_text():
    assert lab_data.display_name("../../etc/passwd") == "passwd"
    assert lab_data.display_name("C:\\Users\\me\\train.csv") == "train.csv"
    assert lab_data.display_name("a\x00b\nc.csv") == "abc.csv"
    assert lab_data.display_name("") == "uploaded file"
    assert len(lab_data.display_name("x" * 500)) == 80


def test_training_set_from_csv_and_gzip_and_idx(data):
    images, labels = data.images[::167][:30], data.labels[::167][:30]  # every digit
    raw = kaggle_csv(images, labels)
    dataset = lab_data.training_set_from_csv(raw, "train.csv")
    assert np.array_equal(dataset.images, images)
    assert np.array_equal(dataset.labels, labels)
    assert lab_data.training_set_from_csv(gzip.compress(raw), "train.csv.gz").n_samples == 30
    idx_images = (b"\x00\x00\x08\x03" + (30).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
                  + images.tobytes())
    idx_labels = b"\x00\x00\x08\x01" + (30).to_bytes(4, "big") + labels.tobytes()
    dataset = lab_data.training_set_from_idx(gzip.compress(idx_images), "i.gz", idx_labels, "l")
    assert np.array_equal(dataset.images, images)
    split = lab_data.make_split(dataset, 0.2, key="k")
    assert split.n_train + split.n_validation == 30 and split.n_validation > 0
    assert not split.train_images.flags.writeable


def test_unlabelled_or_tiny_training_sets_are_refused(data):
    with pytest.raises(DataError, match="no 'label' column"):
        lab_data.training_set_from_csv(kaggle_csv(data.images[:30]), "test.csv")
    with pytest.raises(DataError, match="at least"):
        lab_data.training_set_from_csv(kaggle_csv(data.images[:5], data.labels[:5]), "t.csv")
    with pytest.raises(DataError, match="same label"):
        lab_data.training_set_from_csv(kaggle_csv(data.images[:30], np.zeros(30, int)), "t.csv")


def test_model_file_round_trip_keeps_predictions_settings_and_curves(run, data):
    raw = model_files.model_file_bytes(run)
    network, meta = model_files.model_from_upload(raw, "run.npz")
    assert model_files.same_predictions(network, run.network, data.images[:500])
    copy = model_files.run_from_model(network, meta, 9, name="run.npz",
                                test=(data.images[:200], data.labels[:200]))
    assert copy.status == model_files.UPLOADED and copy.number == 9
    assert copy.config.hidden_sizes == run.config.hidden_sizes
    assert copy.config.learning_rate == run.config.learning_rate
    assert copy.history.epoch == run.history.epoch
    assert copy.history.validation_accuracy == pytest.approx(run.history.validation_accuracy)
    assert copy.test_accuracy == pytest.approx(np.mean(
        predict_proba(run.network, data.images[:200]).argmax(axis=1) == data.labels[:200]))


def test_model_files_that_do_not_fit_are_refused():
    wide = Network((784, 8, 3), seed=0)
    with pytest.raises(ModelFileError, match="10 scores"):
        model_files.model_from_upload(model_to_bytes(wide), "three.npz")
    flat = Network((784, 10), seed=0)
    with pytest.raises(ModelFileError, match="hidden layer"):
        model_files.model_from_upload(model_to_bytes(flat), "flat.npz")
    buffer = io.BytesIO()
    np.savez(buffer, metadata=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="pickle"):
        model_files.model_from_upload(buffer.getvalue(), "evil.npz")


def test_a_model_file_with_odd_metadata_still_loads_with_defaults():
    network = Network((784, 16, 10), seed=0)
    raw = model_to_bytes(network, config={"learning_rate": -5, "epochs": "many"},
                         curves={"epoch": [1, 2], "train_loss": [1.0]})
    net, meta = model_files.model_from_upload(raw, "odd.npz")
    run = model_files.run_from_model(net, meta, 3)
    assert run.config.hidden_sizes == (16,) and run.history.epoch == []
    assert load_model(raw)[0].layer_sizes == (784, 16, 10)


def test_zip_instead_of_csv_says_so(data):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train.csv", kaggle_csv(data.images[:3], data.labels[:3]))
    with pytest.raises(DataError, match="ZIP"):
        lab_data.training_set_from_csv(buffer.getvalue(), "train.zip")


def test_history_is_untouched_by_saving(run):
    before = History(**{k: list(v) if isinstance(v, list) else v for k, v in vars(run.history).items()})
    model_files.model_file_bytes(run)
    assert run.history.epoch == before.epoch


def test_user_text_is_shown_literally_in_markdown():
    from lab.display_text import escape_markdown

    assert escape_markdown("my_train_set.csv") == r"my\_train\_set.csv"
    assert escape_markdown("$x$ *b* [l](u) <i> a|b ~s~ `c` #h \\") == \
        r"\$x\$ \*b\* \[l\](u) \<i\> a\|b \~s\~ \`c\` \#h \\"
