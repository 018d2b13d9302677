"""The Probe page under AppTest (no browser): each tab's figures and numbers are the model's
own (dreams, attacks, robustness and damage computed again here and compared)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from app_support import (  # noqa: F401 (restore_blas_threads is a fixture)
    chart_key,
    decode,
    open_app,
    open_page,
    open_tab,
    rerun,
    restore_blas_threads,
    run_until_done,
    set_settings,
    trained_run,
)

from lab import robustness
from nn import probe
from ui import navigation

TAB = "inside_probe_tab"


@pytest.fixture(scope="module")
def mlp(data):
    return trained_run(data, hidden=(64,), epochs=6)


@pytest.fixture(scope="module")
def cnn(data):
    return trained_run(data, hidden=(), epochs=2, conv_layers=((4, 5),), number=2)


def charts(at) -> dict[str, dict]:
    return {chart_key(c): json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def gallery_tiles(spec: dict, n: int, columns: int = 10) -> np.ndarray:  # 10 a row (not in projector view)
    """The (n, 784) images of a ``gallery_figure`` with captions, as the browser gets them."""
    grid = decode(spec["data"][0]["z"])
    tiles = []
    for i in range(n):
        r, c = divmod(i, columns)
        top, left = r * (28 + 2 + 9) + 9, c * 30
        tiles.append(grid[top : top + 28, left : left + 28].reshape(-1))
    return np.array(tiles)


def metric(at, label_start: str):
    return next(m for m in at.metric if m.label.startswith(label_start))


def test_the_page_is_in_the_navigation_and_asks_for_a_model_first():
    assert "probe" in navigation.PAGES
    at = open_app("probe.py")
    assert any("nothing to probe" in info.value for info in at.info)
    assert at.button(key="inside_probe_train_default")


def test_dream_tab_shows_the_dreamt_images_and_their_probabilities(data, mlp):
    at = open_page("probe", mlp)
    spec = charts(at)["inside_dream_chart"]
    expected = probe.dream(mlp.network)
    np.testing.assert_allclose(gallery_tiles(spec, 10), expected.images, atol=1e-6)
    captions = [a["text"] for a in spec["layout"]["annotations"]]
    assert captions == [f"{c}: {p:.0%}" for c, p in zip(range(10), expected.confidence)]
    assert expected.confidence.min() >= 0.99
    # From a validation image, with another L2: another dream, computed for those settings.
    at.radio(key="inside_dream_start").set_value("image")
    at.select_slider(key="inside_dream_l2").set_value(0.03)
    rerun(at)
    at.number_input(key="inside_dream_index").set_value(7)
    rerun(at)
    start = data.validation_images[7]
    again = probe.dream(mlp.network, start=start, l2=0.03)
    np.testing.assert_allclose(gallery_tiles(charts(at)["inside_dream_chart"], 10), again.images, atol=1e-6)


def test_fool_tab_attacks_the_picked_image_and_measures_the_fooling_rate(data, mlp):
    at = open_tab(open_page("probe", mlp), TAB, "Fool it")
    at.slider(key="inside_fool_epsilon").set_value(0.1)
    at.selectbox(key="inside_fool_target").set_value(3)
    rerun(at)
    image, label = data.validation_images[0], int(data.validation_labels[0])
    expected = probe.attack(mlp.network, image[None], [label], 0.1, 3, "fgsm")
    panels = charts(at)["inside_fool_panels"]
    np.testing.assert_allclose(decode(panels["data"][2]["z"]).reshape(-1), expected.adversarial[0], atol=1e-6)
    assert panels["layout"]["meta"]["probe"]["max_change"] <= 0.1 + 1e-6
    bars = charts(at)["inside_fool_probabilities"]["data"]
    np.testing.assert_allclose(decode(bars[1]["y"]), expected.probabilities[0], rtol=1e-5)
    smallest = probe.smallest_epsilon(mlp.network, image, label, 3, "fgsm")
    assert any(f"{smallest.epsilon:.3f}" in m.value for m in at.markdown)
    at.button(key="inside_fool_use_smallest").click()
    rerun(at)
    assert at.slider(key="inside_fool_epsilon").value == pytest.approx(smallest.epsilon)
    assert np.argmax(decode(charts(at)["inside_fool_probabilities"]["data"][1]["y"])) == 3
    at.button(key="inside_fool_measure").click()
    rerun(at)
    curves = charts(at)["inside_fool_curve"]["layout"]["meta"]["probe"]["curves"]
    images, labels = data.validation_images[:500], data.validation_labels[:500]
    fgsm = probe.fooling_curve(mlp.network, images, labels, [0.0, 0.05, 0.1], "fgsm")
    assert curves["fgsm"][0] == 0 and curves["fgsm"][4] == pytest.approx(fgsm.rates[1])
    assert curves["fgsm"][6] == pytest.approx(fgsm.rates[2])
    assert all(i >= f for i, f in zip(curves["iterative"][1:], curves["fgsm"][1:]))


def test_robustness_tab_measures_the_changed_test_images_and_compares_runs(data, mlp, mnist_test_set):
    augmented = dataclasses.replace(trained_run(data, hidden=(64,), epochs=6, number=5, augment=True,
                                                augment_shift=3.0, augment_degrees=20.0))
    at = open_page("probe", mlp, runs=[mlp.for_history(), augmented.for_history()], next_run=6)
    at = open_tab(at, TAB, "How robust")
    at.selectbox(key="inside_robust_kind").set_value("shift_x")
    rerun(at)
    at.slider(key="inside_robust_shift_x").set_value(3.0)
    rerun(at)
    images, labels = mnist_test_set.images[:1000], mnist_test_set.labels[:1000]
    expected = robustness.accuracy_under(mlp.network, images, labels, "shift_x", 3.0)
    assert metric(at, "Accuracy").value == f"{expected:.1%}"
    assert "shifted 3 px right" in charts(at)["inside_robust_examples"]["layout"]["title"]["text"]
    at.button(key="inside_robust_measure").click()
    rerun(at)
    at.multiselect(key="inside_robust_compare").set_value([5])
    rerun(at)
    accuracies = charts(at)["inside_robust_curves"]["layout"]["meta"]["probe"]["accuracies"]
    (own_name, own), (other_name, other) = accuracies.items()
    assert "current" in own_name and "augmented" in other_name
    assert own["shift_x"][7] == pytest.approx(expected)  # the curve's point at +3 px
    moved = robustness.accuracy_under(augmented.network, images, labels, "shift_x", 3.0)
    assert other["shift_x"][7] == pytest.approx(moved)
    assert moved > expected + 0.1  # trained on moved digits: reads moved digits


def test_break_tab_switches_units_off_prunes_and_ranks_units(data, mlp):
    at = open_tab(open_page("probe", mlp), TAB, "Break it")
    images, labels = data.validation_images, data.validation_labels
    intact = probe.accuracy(mlp.network, images, labels)
    assert metric(at, "Accuracy now").value == f"{intact:.1%}"
    at.button(key="inside_break_all").click()
    rerun(at)
    all_off = probe.accuracy(mlp.network, images, labels, {1: range(64)})
    assert metric(at, "Accuracy now").value == f"{all_off:.1%}"
    assert 0.05 <= all_off <= 0.15 and metric(at, "Units off").value == "64"
    at.button(key="inside_break_none").click()
    rerun(at)
    at.multiselect(key="inside_off_1_1").set_value([2, 9, 30])
    rerun(at)
    three_off = probe.accuracy(mlp.network, images, labels, {1: [2, 9, 30]})
    assert metric(at, "Accuracy now").value == f"{three_off:.1%}"
    switchboard = next(spec for key, spec in charts(at).items() if key.startswith("inside_switchboard_1"))
    assert switchboard["layout"]["meta"]["probe"]["off"] == [2, 9, 30]
    importance = probe.unit_importance(mlp.network, images, labels, 1)
    ranked = charts(at)["inside_break_importance"]["layout"]["meta"]["probe"]["units"]
    np.testing.assert_array_equal(ranked, importance.ranking[:12])
    at.multiselect(key="inside_off_1_1").set_value([])
    at.slider(key="inside_break_prune").set_value(60)
    rerun(at)
    pruned = probe.accuracy(probe.pruned(mlp.network, 0.6), images, labels)
    assert metric(at, "Accuracy now").value == f"{pruned:.1%}"
    assert metric(at, "Weights at 0").value == "60%"
    curve = charts(at)["inside_break_prune_curve"]["layout"]["meta"]["probe"]["accuracies"]
    assert curve[0] == pytest.approx(intact) and curve[6] == pytest.approx(pruned)


def test_every_tab_works_for_a_convolutional_network(cnn):
    at = open_page("probe", cnn)
    assert probe.dream(cnn.network).images.shape == (10, 784)
    for tab in ("Fool it", "How robust", "Break it"):
        at = open_tab(at, TAB, tab)
    keys = charts(at)
    assert any(key.startswith("inside_switchboard_1") for key in keys)
    assert metric(at, "Units off").value == "0"


def test_the_train_pages_augment_toggle_trains_with_moved_images():
    at = open_app("train.py")
    at.toggle(key="train_augment").set_value(True)
    set_settings(at, epochs=1, width=16)
    assert at.session_state["settings"]["augment"] is True
    assert any("Augment" in t.label for t in at.toggle)
    at.button(key="start").click()
    run_until_done(rerun(at))
    model = at.session_state["model"]
    assert model.config.augment is True and model.status == "completed"
