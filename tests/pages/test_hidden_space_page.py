"""The Hidden space page under AppTest: the map of each layer (the points are the PCA map of the
network's own activations), the replay over the run's weight snapshots on fixed axes, the
separation per epoch, the payload within budget, and t-SNE only where scikit-learn is."""

from __future__ import annotations

import json

import numpy as np
import pytest
from app_support import (  # noqa: F401 (restore_blas_threads is a fixture)
    chart_key,
    decode,
    open_page,
    open_tab,
    rerun,
    restore_blas_threads,
    trained_run,
)

from lab import hidden_space
from lab.runs import Run
from ui.figures.weights import payload_budget


@pytest.fixture(scope="module")
def run(data) -> Run:
    return trained_run(data, (48,), epochs=4, snapshot_every=1)


@pytest.fixture(scope="module")
def held_out(data, mnist_test_set):
    return hidden_space.held_out_images(data, (mnist_test_set.images, mnist_test_set.labels, "x"))


def charts(at) -> dict[str, dict]:
    return {chart_key(c): json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def points(spec: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image index, x, y) of every point of a map, from the class traces."""
    rows, xs, ys = [], [], []
    for trace in spec["data"]:
        if trace.get("name") == "selected":
            continue
        rows.append(decode(trace["customdata"]).reshape(-1, 3)[:, 0])
        xs.append(decode(trace["x"]))
        ys.append(decode(trace["y"]))
    rows, xs, ys = (np.concatenate(a) for a in (rows, xs, ys))
    order = np.argsort(rows)
    return rows[order], xs[order], ys[order]


def test_without_a_model_the_page_offers_the_default_training():
    at = open_page("hidden_space")
    assert [t.value for t in at.title] == ["Hidden space"]
    assert at.button(key="inside_space_train_default").label == "Train a good default model"


def test_the_map_shows_the_hidden_layer_s_pca_map_within_budget(run, held_out):
    at = open_page("hidden_space", run)
    assert at.selectbox(key="inside_space_layer").value == 1  # the hidden layer first
    expected = hidden_space.layer_map(run.network, held_out, 1)
    spec = charts(at)["space_map_chart"]
    rows, x, y = points(spec)
    assert rows.tolist() == list(range(1000))
    np.testing.assert_allclose(np.column_stack([x, y]), expected.coordinates, rtol=1e-6, atol=1e-5)
    wrong = np.flatnonzero(expected.predictions != held_out.labels)
    crosses = next(t for t in spec["data"] if t["name"].startswith("read wrong"))
    assert crosses["marker"]["symbol"] == "x-thin-open" and crosses["name"] == f"read wrong ({len(wrong)})"
    np.testing.assert_array_equal(decode(crosses["customdata"])[:, 0], wrong)
    np.testing.assert_array_equal(decode(crosses["customdata"])[:, 1], expected.predictions[wrong])
    assert len(at.get("plotly_chart")[0].proto.spec) <= payload_budget(128)  # 150 KiB
    assert at.metric[0].value == f"{expected.separation:.0%}"
    assert "direction of most spread" in spec["layout"]["xaxis"]["title"]["text"]


def test_each_layer_has_its_map_and_the_output_scores_separate_best(run, held_out):
    at = open_page("hidden_space", run)
    separation = []
    for layer in range(3):
        at.selectbox(key="inside_space_layer").set_value(layer).run()
        separation.append(float(at.metric[0].value.rstrip("%")))
        assert hidden_space.layer_map(run.network, held_out, layer).separation == pytest.approx(
            separation[-1] / 100, abs=0.005)
    assert separation[2] > separation[0]


def test_the_replay_moves_through_the_epochs_on_fixed_axes(run, held_out):
    at = open_tab(open_page("hidden_space", run), "inside_space_tab", "Through training")
    frames = hidden_space.replay(run.network, run.history.snapshots, held_out, 1)
    assert at.select_slider(key="inside_space_epoch").value == 4
    last = charts(at)["space_replay_chart"]
    at.select_slider(key="inside_space_epoch").set_value(0).run()
    first = charts(at)["space_replay_chart"]
    for spec, index in ((first, 0), (last, 4)):
        _, x, y = points(spec)
        np.testing.assert_allclose(np.column_stack([x, y]), frames.coordinates[index], rtol=1e-6, atol=1e-5)
        assert spec["layout"]["xaxis"]["range"] == pytest.approx(list(frames.limits[0]))
        assert spec["layout"]["yaxis"]["range"] == pytest.approx(list(frames.limits[1]))
    assert at.metric[0].label == "Classes apart at epoch 0" and at.metric[0].value == f"{frames.separation[0]:.0%}"
    separation = charts(at)["space_separation_chart"]["data"][0]
    np.testing.assert_allclose(decode(separation["y"]), 100 * frames.separation)
    at.button(key="inside_space_play").click().run()  # Play from the start, one epoch per tick
    seen = [at.select_slider(key="inside_space_epoch").value]
    for _ in range(5):
        rerun(at)
        seen.append(at.select_slider(key="inside_space_epoch").value)
    assert seen[:5] == [0, 1, 2, 3, 4] and at.button(key="inside_space_play").label == "Play"


def test_a_clicked_point_shows_its_image_and_the_network_s_answer(run, held_out):
    at = open_page("hidden_space", run)
    at.session_state["inside_choices"] = {**at.session_state["inside_choices"], "space_image": 17}
    rerun(at)
    image = decode(charts(at)["space_image_chart"]["data"][0]["z"]).reshape(-1)
    np.testing.assert_allclose(image, held_out.images[17] / 255, atol=1e-6)
    answer = int(run.network.predict(held_out.images[17:18] / np.float32(255))[0])
    assert any(f"Read as **{answer}**" in m.value for m in at.markdown)


def test_tsne_is_offered_only_where_scikit_learn_is(run, monkeypatch):
    monkeypatch.setattr(hidden_space, "tsne_available", lambda: False)
    at = open_page("hidden_space", run)
    assert at.radio(key="inside_space_method").options == ["PCA (straight-line view, NumPy)"]
    assert any("scikit-learn" in c.value and "PCA" in c.value for c in at.caption)


def test_a_click_is_read_from_either_form_of_the_browser_s_customdata():
    """Chromium sends a clicked point's customdata row as a list or, when the figure carried it as
    a typed array, as {"0": image, "1": answer, ...}; both name the image, junk names none."""
    from ui.figures.hidden_space import image_index_from_selection
    assert image_index_from_selection({"selection": {"points": [{"customdata": [123, 4, 7]}]}}) == 123
    assert image_index_from_selection({"selection": {"points": [{"customdata": {"0": 123, "1": 4, "2": 7}}]}}) == 123
    assert image_index_from_selection({"selection": {"points": [{"customdata": {"x": 1}}]}}) is None
    assert image_index_from_selection({"selection": {"points": []}}) is None
    assert image_index_from_selection(None) is None
