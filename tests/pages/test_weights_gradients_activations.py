"""The Weights, Gradients and Activations pages under AppTest (no browser).

A small trained model is injected as the session's current model (``session_state
["model"]``) so most tests need no training; one test trains the default model with the
page's own button. ``run_every`` fragments never fire under AppTest: the replay's slider
is moved by hand, and the training test calls ``at.run()`` until the job is collected.
"""

from __future__ import annotations

import json
import time

import numpy as np
import plotly.graph_objects as go
import pytest
from app_support import (  # noqa: F401 (restore_blas_threads is a fixture)
    APP,
    chart_key,
    decode,
    rerun,
    restore_blas_threads,
    trained_run,
    wait_for_model,
)
from app_support import open_page as _open_page
from app_support import open_tab as _open_tab
from streamlit.testing.v1 import AppTest

from lab import inspection
from lab.runs import Run
from nn import analysis
from nn.weight_change import inked_pixels, masked_pixels
from ui.figures import gradients as gradient_figures
from ui.figures import tiles
from ui.figures import weights as weight_figures

PAGES = ("weights", "gradients", "activations")


@pytest.fixture(scope="module")
def one_hidden(data) -> Run:
    return trained_run(data, (32,), snapshot_every=1)


@pytest.fixture(scope="module")
def two_hidden(data) -> Run:
    return trained_run(data, (48, 24), snapshot_every=1)


def open_page(page: str, run: Run | None = None, **state) -> AppTest:
    return _open_page(page, run, **state)


def open_tab(at: AppTest, page: str, tab: str) -> AppTest:
    return _open_tab(at, f"inside_{page}_tab", tab)


def charts(at: AppTest) -> dict[str, dict]:
    """{key: figure JSON} of the page's plotly charts (keys as given in pages/*.py)."""
    out = {}
    for chart in at.get("plotly_chart"):
        key = chart_key(chart)
        if key.startswith("inside_grid_chart_"):  # one key per picked unit (see pages/weights.py)
            key = "inside_grid_chart"
        out[key] = json.loads(chart.proto.spec)
    return out


def grid_values(spec: dict) -> np.ndarray:
    """The values a weight grid shows, read back from what the browser receives."""
    return weight_figures.grid_values_of(go.Figure(spec))


# ---------------------------------------------------------------------------------
# Before any model
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_before_training_each_page_says_so_and_offers_the_default_training(page):
    at = open_page(page)
    assert [t.value for t in at.title] == [page.capitalize()]
    assert at.info and "No model yet" in at.info[0].value
    button = at.button(key=f"inside_{page}_train_default")
    assert button.label == "Train a good default model" and not button.disabled
    assert not at.get("plotly_chart")


def test_the_default_training_button_trains_and_the_page_fills_in(mnist_test_set):
    at = open_page("weights")
    at.button(key="inside_weights_train_default").click().run()
    assert [t.value for t in at.title] == ["Weights"]  # stays on the page...
    assert "go_to_train" not in at.session_state  # ...and Home will not jump to Train later
    assert at.button(key="inside_weights_train_default").disabled  # while it trains
    wait_for_model(at)
    model = at.session_state["model"]
    assert model.network.layer_sizes == (784, 128, 10)
    shown = charts(at)
    assert {"inside_grid_chart", "inside_unit_map", "inside_unit_outgoing",
            "inside_exciting_images"} <= set(shown)
    assert shown["inside_grid_chart"]["layout"]["meta"]["grid"]["order"] == list(range(128))
    # The grid sends no more than its payload budget for 128 units, click targets included.
    assert len(at.get("plotly_chart")[0].proto.spec) <= weight_figures.payload_budget(128)


# ---------------------------------------------------------------------------------
# Weights page
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tab, keys", [
    ("All units", {"inside_grid_chart", "inside_unit_map", "inside_unit_outgoing", "inside_exciting_images"}),
    ("Epoch replay", {"inside_replay_chart"}),
    ("Deeper layers", {"inside_matrix_2", "inside_matrix_3"}),
    ("Digit templates", {"inside_templates_chart"}),
])
def test_weights_tabs_render_their_charts(two_hidden, tab, keys):
    at = open_tab(open_page("weights", two_hidden), "weights", tab)
    assert set(charts(at)) == keys


def inked_only(weights, data) -> np.ndarray:
    """The first layer's weights as the page draws them: never-inked pixels left out (NaN)."""
    return masked_pixels(weights, inked_pixels(data.train_images))


def test_weight_grid_shows_the_first_layer_in_the_chosen_order(one_hidden, data):
    at = open_page("weights", one_hidden)
    at.radio(key="inside_weights_view").set_value("raw").run()
    w1 = inked_only(one_hidden.network.weights[0], data)
    at.selectbox(key="inside_order").set_value("norm").run()
    spec = charts(at)["inside_grid_chart"]
    order = spec["layout"]["meta"]["grid"]["order"]
    np.testing.assert_array_equal(order, analysis.unit_order(one_hidden.network, "norm"))
    expected, _ = tiles.tile_grid(w1, order)
    zmax = spec["layout"]["meta"]["grid"]["zmax"]
    shown = grid_values(spec)
    inside = ~np.isnan(expected)
    step = 2 * zmax / (spec["layout"]["meta"]["grid"].get("levels", 2 ** 24) - 1)
    assert np.max(np.abs(shown[inside] - np.clip(expected[inside], -zmax, zmax))) <= step / 2 + 1e-6

    at.selectbox(key="inside_order").set_value("digit").run()
    at.selectbox(key="inside_order_digit").set_value(7).run()
    order = charts(at)["inside_grid_chart"]["layout"]["meta"]["grid"]["order"]
    np.testing.assert_array_equal(order, analysis.unit_order(one_hidden.network, "digit:7"))


def test_picked_unit_is_shown_large_with_bias_outgoing_weights_and_top_images(one_hidden, data):
    at = open_page("weights", one_hidden)
    at.radio(key="inside_weights_view").set_value("raw").run()
    network = one_hidden.network
    at.number_input(key="inside_unit").set_value(5).run()
    shown = charts(at)
    picture = shown["inside_unit_map"]
    np.testing.assert_allclose(decode(picture["data"][0]["z"]).reshape(-1),
                               inked_only(network.weights[0], data)[:, 5], rtol=1e-6)
    assert picture["data"][0]["type"] == "heatmap"  # exact values on hover
    np.testing.assert_allclose(decode(shown["inside_unit_outgoing"]["data"][0]["y"]),
                               network.weights[1][5], rtol=1e-6)
    assert f"bias ({float(network.biases[0][5]):+.3g})" in " ".join(c.value for c in at.caption)
    top = analysis.top_exciting_images(network, data.train_images, 5, inspection.TOP_IMAGES)
    tiles = decode(shown["inside_exciting_images"]["data"][0]["z"])
    np.testing.assert_allclose(tiles[:28, :28], data.train_images[top.indices[0]].reshape(28, 28) / 255,
                               atol=1e-6)
    # The picked unit is outlined in the grid, and the choice survives a tab switch.
    assert shown["inside_grid_chart"]["layout"]["shapes"]
    open_tab(at, "weights", "Digit templates")
    open_tab(at, "weights", "All units")
    assert at.number_input(key="inside_unit").value == 5


def test_a_click_on_a_tile_picks_its_unit(one_hidden):
    fig = weight_figures.weight_grid_figure(one_hidden.network.weights[0], [3, 1, 2, 0])
    fig = weight_figures.add_click_targets(fig)
    layout = weight_figures.grid_layout_of(fig)
    # What st.plotly_chart reports for a click: the clicked marker's x, y (tile centres).
    targets = next(t for t in fig.data if t.name == weight_figures.CLICK_TRACE_NAME)
    for slot, unit in enumerate([3, 1, 2, 0]):
        event = {"selection": {"points": [{"x": float(targets.x[slot]), "y": float(targets.y[slot]),
                                           "curve_number": len(fig.data) - 1}]}}
        assert weight_figures.unit_from_selection(event, fig) == unit
        assert layout.unit_at(targets.x[slot], targets.y[slot]) == unit
    assert weight_figures.unit_from_selection({"selection": {"points": []}}, fig) is None
    assert weight_figures.unit_from_selection({"selection": {"points": [{"x": 28, "y": 0}]}}, fig) is None  # gap


def test_epoch_slider_replays_the_stored_snapshots(one_hidden, data):
    at = open_page("weights", one_hidden)
    at.radio(key="inside_weights_view").set_value("raw").run()
    at = open_tab(at, "weights", "Epoch replay")
    snapshots = one_hidden.history.snapshots
    assert len(snapshots) == 4  # epoch 0 (initial weights) and after each of 3 epochs
    slider = at.select_slider(key="inside_epoch")
    assert slider.value == 3  # starts at the trained network (values: snapshot numbers)
    last = charts(at)["inside_replay_chart"]
    at.select_slider(key="inside_epoch").set_value(0).run()
    first = charts(at)["inside_replay_chart"]
    assert first["data"][0]["source"] != last["data"][0]["source"]
    # Both frames share one colour range and one unit order, and each shows its snapshot.
    meta_first, meta_last = first["layout"]["meta"]["grid"], last["layout"]["meta"]["grid"]
    assert meta_first["zmax"] == meta_last["zmax"] == pytest.approx(tiles.replay_zmax(snapshots))
    assert meta_first["order"] == meta_last["order"]
    for spec, snapshot in ((first, snapshots[0]), (last, snapshots[-1])):
        expected, _ = tiles.tile_grid(inked_only(snapshot.weights[0], data), meta_first["order"])
        zmax = spec["layout"]["meta"]["grid"]["zmax"]
        step = 2 * zmax / (spec["layout"]["meta"]["grid"].get("levels", 2 ** 24) - 1)
        inside = ~np.isnan(expected)
        error = np.abs(grid_values(spec)[inside] - np.clip(expected[inside], -zmax, zmax))
        assert error.max() <= step / 2 + 1e-6
    assert "epoch 0" in first["layout"]["title"]["text"]


def test_play_advances_one_epoch_per_tick_and_stops_at_the_end(one_hidden):
    at = open_tab(open_page("weights", one_hidden), "weights", "Epoch replay")
    at.button(key="inside_play").click().run()  # at the last epoch: Play starts again at 0
    seen = [at.select_slider(key="inside_epoch").value]
    for _ in range(4):  # each run stands for one run_every tick of the fragment
        rerun(at)
        seen.append(at.select_slider(key="inside_epoch").value)
    assert seen[:4] == [0, 1, 2, 3]
    assert at.button(key="inside_play").label == "Play"  # stopped at the end


def test_templates_are_labelled_approximation_with_hidden_layers(two_hidden):
    at = open_tab(open_page("weights", two_hidden), "weights", "Digit templates")
    spec = charts(at)["inside_templates_chart"]
    assert "linear approximation" in spec["layout"]["title"]["text"]
    assert "linear" in spec["layout"]["title"]["subtitle"]["text"]
    assert any("Only an approximation" in c.value and "exact only for a linear network" in c.value
               for c in at.caption)
    product = two_hidden.network.weights[0].astype(np.float64)
    for w in two_hidden.network.weights[1:]:
        product = product @ w
    expected, _ = tiles.tile_grid(product, None, 5)
    np.testing.assert_allclose(decode(spec["data"][0]["z"]), expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------
# Gradients page
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tab, keys", [
    ("Over training", {"inside_norms_chart_0", "inside_norms_chart_1", "inside_norms_chart_2",
                       "inside_dead_chart"}),
    ("Latest step", {"inside_grad_hist_chart", "inside_grad_grid_chart"}),
    ("Saliency", {"inside_saliency_chart"}),
    ("Gradient check", set()),
])
def test_gradients_tabs_render_their_charts(two_hidden, tab, keys):
    at = open_tab(open_page("gradients", two_hidden), "gradients", tab)
    assert set(charts(at)) == keys


def test_norms_and_health_lines_match_the_history(one_hidden):
    at = open_page("gradients", one_hidden)
    shown = charts(at)
    stats = analysis.stats_arrays(one_hidden.history)
    for panel, values in enumerate((stats.grad_norm, stats.weight_norm, stats.update_ratio)):
        spec = shown[f"inside_norms_chart_{panel}"]
        for layer, name in enumerate(["W1 784→32", "W2 32→10"]):
            trace = next(t for t in spec["data"] if t.get("name") == name)
            np.testing.assert_allclose(decode(trace["customdata"]), values[:, layer])
            np.testing.assert_array_equal(decode(trace["x"]), stats.steps)
        assert spec["layout"]["yaxis"]["type"] == "log"
    assert "vanishing" in json.dumps(shown["inside_norms_chart_0"]["layout"]["annotations"])
    text = " ".join(m.value for m in at.markdown)
    assert "W1 784→32" in text and "Healthy" in text


def test_first_layer_gradient_map_is_the_latest_gradient(one_hidden):
    at = open_tab(open_page("gradients", one_hidden), "gradients", "Latest step")
    spec = charts(at)["inside_grad_grid_chart"]
    g1 = one_hidden.history.last_grad_weights[0]
    expected, _ = tiles.tile_grid(g1, spec["layout"]["meta"]["grid"]["order"])
    zmax = spec["layout"]["meta"]["grid"]["zmax"]
    step = 2 * zmax / (spec["layout"]["meta"]["grid"].get("levels", 2 ** 24) - 1)
    inside = ~np.isnan(expected)
    assert np.abs(grid_values(spec)[inside] - np.clip(expected[inside], -zmax, zmax)).max() <= step / 2 + 1e-9


def test_saliency_is_the_input_gradient_of_the_chosen_digit(one_hidden, data):
    at = open_tab(open_page("gradients", one_hidden), "gradients", "Saliency")
    at.number_input(key="inside_saliency_index").set_value(7).run()
    at.selectbox(key="inside_saliency_class").set_value(3).run()
    spec = charts(at)["inside_saliency_chart"]
    expected = analysis.saliency(one_hidden.network, data.validation_images[7], 3)
    np.testing.assert_allclose(decode(spec["data"][1]["z"]).reshape(-1), expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("fixture", ["one_hidden", "two_hidden"])
def test_gradient_check_button_shows_tiny_errors_per_layer(fixture, request):
    run = request.getfixturevalue(fixture)
    at = open_tab(open_page("gradients", run), "gradients", "Gradient check")
    start = time.perf_counter()
    at.button(key="inside_gradcheck_button").click().run()
    seconds = time.perf_counter() - start
    assert not at.exception, at.exception
    n_layers = len(run.network.weights)
    table = at.dataframe[0].value
    expected = [f"{k}{i}" for i in range(1, n_layers + 1) for k in "Wb"] + ["X"]
    assert sorted(table["array"]) == sorted(expected)
    errors = [float(e) for e in table["relative error"]]
    assert max(errors) < 1e-6, dict(zip(table["array"], errors))
    assert (table["entries checked"] >= 4).all()
    assert "inside_gradcheck_chart" in charts(at)
    assert at.success and "agrees" in at.success[0].value
    assert seconds < 2.0, seconds


# ---------------------------------------------------------------------------------
# Activations page
# ---------------------------------------------------------------------------------


def test_activations_show_every_layer_the_probabilities_and_contributions(two_hidden, data):
    at = open_page("activations", two_hidden)
    at.number_input(key="inside_activations_index").set_value(11).run()
    image = data.validation_images[11]
    trace = analysis.trace_image(two_hidden.network, image)
    shown = charts(at)
    assert {"inside_input_chart", "inside_probabilities_chart", "inside_layer_1_chart",
            "inside_layer_2_chart", "inside_contributions_chart", "inside_contributors_chart"} <= set(shown)
    np.testing.assert_allclose(decode(shown["inside_input_chart"]["data"][0]["z"]).reshape(-1),
                               image / 255, atol=1e-6)
    np.testing.assert_allclose(decode(shown["inside_probabilities_chart"]["data"][0]["y"]),
                               trace.probabilities, rtol=1e-5)
    np.testing.assert_allclose(decode(shown["inside_layer_2_chart"]["data"][0]["y"]),
                               trace.activations[1], rtol=1e-5)
    # Hover carries the pre-activation z of each unit (customdata column 2 of the bars).
    np.testing.assert_allclose(decode(shown["inside_layer_2_chart"]["data"][0]["customdata"])[:, 2],
                               trace.pre_activations[1], rtol=1e-5, atol=1e-6)
    contributions = analysis.unit_contributions(two_hidden.network, image)
    waterfall = shown["inside_contributions_chart"]["data"][0]
    assert decode(waterfall["y"])[-1] == pytest.approx(contributions.logit, rel=1e-6)
    table = at.dataframe[0].value
    assert len(table) == inspection.TOP_UNITS
    assert set(table["unit"]) <= set(int(u) for u in contributions.units)


def test_digit_sources_by_class_misclassified_random_and_drawn(one_hidden, data):
    at = open_page("activations", one_hidden)
    labels = data.validation_labels
    at.radio(key="inside_activations_source").set_value("class").run()
    at.selectbox(key="inside_activations_class").set_value(4).run()
    at.number_input(key="inside_activations_which").set_value(2).run()
    index = np.flatnonzero(labels == 4)[2]
    assert f"image {index}, labelled 4" in " ".join(c.value for c in at.caption)

    at.radio(key="inside_activations_source").set_value("misclassified").run()
    box = at.selectbox(key="inside_activations_wrong")
    first = box.options[0]
    assert "read as" in first
    index = int(first.split(":")[0].split()[-1])
    predicted = one_hidden.network.predict_proba(data.validation_images[index][None] / 255).argmax()
    assert predicted != labels[index]
    assert f"✗ (true: {labels[index]}" in charts(at)["inside_probabilities_chart"]["layout"]["title"]["text"]

    at.radio(key="inside_activations_source").set_value("random").run()
    first = at.session_state["inside_choices"]["activations_random"]
    seen = {first}
    for _ in range(5):
        at.button(key="inside_activations_reroll").click().run()
        seen.add(at.session_state["inside_choices"]["activations_random"])
    assert len(seen) > 1

    assert "drawn" not in at.radio(key="inside_activations_source").options
    drawn = np.zeros(784, dtype=np.float32)
    drawn[28 * 14 + 10 : 28 * 14 + 18] = 1.0  # a horizontal stroke
    at.session_state["drawn_digit"] = drawn
    rerun(at)
    at.radio(key="inside_activations_source").set_value("drawn").run()
    np.testing.assert_allclose(decode(charts(at)["inside_input_chart"]["data"][0]["z"]).reshape(-1), drawn)


def test_projector_flag_enlarges_the_figures(one_hidden):
    plain = charts(open_page("activations", one_hidden))["inside_probabilities_chart"]
    big = charts(open_page("activations", one_hidden, projector=True))["inside_probabilities_chart"]
    assert big["layout"]["font"]["size"] > plain["layout"]["font"]["size"]


# ---------------------------------------------------------------------------------
# Speed and size with 512 units
# ---------------------------------------------------------------------------------


def test_512_units_weights_page_is_fast_and_within_the_payload_budget(data):
    run = trained_run(data, (512,), epochs=1, snapshot_every=1)
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["model"] = run
    rerun(at)
    at.switch_page("pages/weights.py")
    start = time.perf_counter()
    rerun(at)
    seconds = time.perf_counter() - start
    grid = at.get("plotly_chart")[0]
    assert "inside_grid_chart_" in grid.proto.id
    size = len(grid.proto.spec)
    print(f"weights page, 512 units: {seconds:.2f} s, grid {size / 1024:.0f} KiB")
    assert size <= weight_figures.payload_budget(512)
    assert seconds < 3.0, seconds


# ---------------------------------------------------------------------------------
# The small helpers these pages added to nn/analysis.py and ui/figures/
# ---------------------------------------------------------------------------------


def test_composed_input_weights_are_w1_then_the_linear_product(two_hidden):
    weights = two_hidden.network.weights
    np.testing.assert_array_equal(analysis.composed_input_weights(two_hidden.network, 1), weights[0])
    np.testing.assert_allclose(analysis.composed_input_weights(two_hidden.network, 2),
                               weights[0].astype(np.float64) @ weights[1], rtol=1e-6)
    with pytest.raises(ValueError):
        analysis.composed_input_weights(two_hidden.network, 4)


@pytest.mark.parametrize("n_units", [128, 512])
def test_click_targets_keep_the_grid_within_the_payload_budget(n_units):
    from nn.network import Network

    w1 = Network((784, n_units, 10), "relu", seed=0).weights[0]  # noise: the hardest to compress
    fig = weight_figures.weight_grid_figure(w1, max_bytes=weight_figures.grid_budget(n_units))
    weight_figures.add_click_targets(fig, norms=np.linalg.norm(w1, axis=0))
    assert len(fig.to_json()) <= weight_figures.payload_budget(n_units)
    assert fig.layout.xaxis.fixedrange and fig.layout.yaxis.fixedrange  # no panning away


def test_outgoing_weights_figure_and_single_norm_panels():
    fig = weight_figures.outgoing_weights_figure(np.array([0.5, -1.0, 0.25]), ["a", "b", "c"], unit=4)
    np.testing.assert_array_equal(fig.data[0].y, [0.5, -1.0, 0.25])
    assert fig.data[0].marker.cmin == -fig.data[0].marker.cmax == -1.0
    steps, grad = np.arange(1, 4), np.array([[1.0, 2.0], [0.5, 1.0], [0.1, 0.2]])
    one = gradient_figures.norms_over_steps_figure(steps, grad, grad * 10, grad / 100, panels=(2,))
    assert [a.text for a in one.layout.annotations][0].startswith("update / weight")
    np.testing.assert_allclose(one.data[0].customdata, grad[:, 0] / 100)
    with pytest.raises(ValueError):
        gradient_figures.norms_over_steps_figure(steps, grad, grad, grad, panels=(3,))


def test_matrix_with_digit_names_labels_every_digit():
    fig = weight_figures.matrix_heatmap_figure(np.ones((4, 10)), output_names=[str(d) for d in range(10)])
    assert fig.layout.xaxis.type == "category"


def test_gradcheck_guide_labels_sit_on_their_lines():
    fig = gradient_figures.gradcheck_figure({"W1": 1e-8, "X": 1e-9})
    labels = {a.text: a.y for a in fig.layout.annotations}
    # Log axis: annotation positions are log10 of the value, like the axis range.
    assert labels == {"1e-6: below is right": -6, "1e-4: above is a bug": -4}
    assert fig.layout.yaxis.range[0] < -6 < -4 < fig.layout.yaxis.range[1]
