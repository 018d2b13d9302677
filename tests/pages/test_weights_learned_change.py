"""The Weights page's "learned change since the start" view under AppTest, on the Home page's
default model (784-128-10 Adam, 15 epochs): the page opens on it, and its tiles show strokes
(mean lag-1 neighbour correlation of what the browser receives >= 0.6, against about 0.3 for
the raw weights); never-inked pixels are grey (NaN) in both views; the replay, the unit and the
deeper layers show the change too."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import plotly.graph_objects as go
import pytest
from app_support import (  # noqa: F401 (restore_blas_threads is a fixture)
    chart_key,
    decode,
    open_page,
    open_tab,
    restore_blas_threads,
    trained_run,
)

from lab import settings
from lab.runs import Run
from nn.training import build_network, train
from nn.weight_change import inked_pixels, neighbour_correlation
from ui.figures import tiles
from ui.figures import weights as weight_figures


@pytest.fixture(scope="module")
def home_default(data) -> Run:
    """The Home page's one-click model, trained as its job trains it."""
    config = settings.to_config(settings.GOOD_DEFAULT)
    result = train(build_network(config), data.train_images, data.train_labels, config,
                   validation=(data.validation_images, data.validation_labels))
    return Run(1, config, result.status, result.message, result.network, result.history, data.name, 1.0)


def charts(at) -> dict[str, dict]:
    out = {}
    for element in at.get("plotly_chart"):
        key = chart_key(element)
        out["inside_grid_chart" if key.startswith("inside_grid_chart_") else key] = json.loads(element.proto.spec)
    return out


def shown_tiles(spec: dict) -> np.ndarray:
    """(784, n_units) the values the browser receives, one column per tile (NaN: grey)."""
    fig = go.Figure(spec)
    return tiles.untile_grid(weight_figures.grid_values_of(fig), weight_figures.grid_layout_of(fig))


def test_the_default_view_is_the_learned_change_and_shows_strokes(home_default, data):
    at = open_page("weights", home_default)
    assert at.radio(key="inside_weights_view").value == "change"
    change = neighbour_correlation(shown_tiles(charts(at)["inside_grid_chart"]))
    assert change >= 0.6, change
    at.radio(key="inside_weights_view").set_value("raw").run()
    raw = neighbour_correlation(shown_tiles(charts(at)["inside_grid_chart"]))
    assert raw < 0.4 < change, (raw, change)
    caption = " ".join(c.value for c in at.caption)
    assert f"change {change:.2f}"[:11] in caption and "weights as they are" in caption


def test_the_change_view_draws_w_minus_w0_and_greys_the_never_inked_pixels(home_default, data):
    at = open_page("weights", home_default)
    network, start = home_default.network, home_default.history.snapshots[0]
    inked = inked_pixels(data.train_images)
    spec = charts(at)["inside_grid_chart"]
    values, expected = shown_tiles(spec), (network.weights[0] - start.weights[0])[:, spec["layout"]["meta"]["grid"][
        "order"]]
    assert np.isnan(values[~inked]).all() and not np.isnan(values[inked]).any()
    zmax = spec["layout"]["meta"]["grid"]["zmax"]
    step = 2 * zmax / (spec["layout"]["meta"]["grid"].get("levels", 2 ** 24) - 1)
    assert np.abs(values[inked] - np.clip(expected[inked], -zmax, zmax)).max() <= step / 2 + 1e-6
    at.number_input(key="inside_unit").set_value(9).run()
    unit = decode(charts(at)["inside_unit_map"]["data"][0]["z"]).reshape(-1)
    np.testing.assert_allclose(unit[inked], (network.weights[0] - start.weights[0])[inked, 9], rtol=1e-6)
    outgoing = decode(charts(at)["inside_unit_outgoing"]["data"][0]["y"])
    np.testing.assert_allclose(outgoing, network.weights[1][9] - start.weights[1][9], rtol=1e-6)


def test_the_replay_of_the_change_starts_blank_and_keeps_one_scale(home_default):
    at = open_tab(open_page("weights", home_default), "inside_weights_tab", "Epoch replay")
    at.select_slider(key="inside_epoch").set_value(0).run()
    first = charts(at)["inside_replay_chart"]
    assert np.nanmax(np.abs(shown_tiles(first))) == 0  # nothing learned yet
    at.select_slider(key="inside_epoch").set_value(15).run()
    last = charts(at)["inside_replay_chart"]
    assert first["layout"]["meta"]["grid"]["zmax"] == last["layout"]["meta"]["grid"]["zmax"]
    assert "change since epoch 0" in last["layout"]["title"]["text"]


def test_the_deeper_layers_show_their_change(data):
    run = trained_run(data, (32, 16), epochs=2, snapshot_every=1)
    at = open_tab(open_page("weights", run), "inside_weights_tab", "Deeper layers")
    at.radio(key="inside_weights_view").set_value("change").run()
    spec = charts(at)["inside_matrix_2"]
    start = run.history.snapshots[0]
    np.testing.assert_allclose(decode(spec["data"][0]["z"]), run.network.weights[1] - start.weights[1], rtol=1e-6)
    assert spec["layout"]["title"]["text"].startswith("change of W2")


def test_a_model_without_its_start_weights_shows_the_raw_weights_and_says_why(home_default, data):
    restored = dataclasses.replace(home_default, history=dataclasses.replace(home_default.history, snapshots=[]))
    at = open_page("weights", restored)
    assert not at.get("radio") or all(r.key != "inside_weights_view" for r in at.radio)
    assert any("kept no weights from before its first step" in c.value for c in at.caption)
    values = shown_tiles(charts(at)["inside_grid_chart"])
    assert np.isfinite(values).sum() == 128 * int(np.count_nonzero(inked_pixels(data.train_images)))
