"""Convolutional networks in the app.

Figures: the filter grid shows the kernels exactly, the feature-map figures show exactly
what forward computes, colour ranges are symmetric around 0 where values have a sign.
Settings: conv knobs -> TrainConfig, parameter counts, links, presets, the run-size cap.
AppTests: a conv run trained from the Train page's own controls, then every page with it
(Weights, Activations, Gradients incl. the gradient check, Models, Evaluate, Draw), a
reload, a model file round trip. ``run_every`` fragments never fire under AppTest: the
tests call ``at.run()`` until the job is collected.
"""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
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
)

from lab import challenges, model_files, settings, url_settings
from lab.display_text import network_text
from lab.inspection import run_gradient_check
from lab.presets import BY_ID
from lab.runs import Run
from nn import analysis
from nn.conv import ConvSpec
from nn.gradcheck import gradient_check
from nn.network import ConvNetwork
from nn.training import TrainConfig, build_network, train
from ui.figures import conv as conv_figures
from ui.figures import style, tiles

# A conv run small enough to train in a second in the app: conv 4@5x5 -> pool -> 10.
CONV_SETTINGS = dict(conv_layers=1, conv_filters=4, conv_kernel=5, layers=0, epochs=2,
                     batch_mode=settings.BATCH_MINI, batch_size=128, learning_rate=0.002)


def conv_run(data, conv=((4, 5),), hidden=(), epochs=2, number=1, **config) -> Run:
    """A small conv model trained on ``data`` as the app keeps it."""
    config = TrainConfig(conv_layers=conv, hidden_sizes=hidden, optimizer="adam", learning_rate=2e-3,
                         epochs=epochs, batch_size=128, seed=0, **config)
    result = train(build_network(config), data.train_images, data.train_labels, config)
    return Run(number, config, result.status, result.message, result.network, result.history, data.name, 1.0)


@pytest.fixture(scope="module")
def one_conv(data) -> Run:
    return conv_run(data)


@pytest.fixture(scope="module")
def two_conv(data) -> Run:
    return conv_run(data, ((6, 3), (4, 3)), hidden=(16,), conv_padding="same")


def set_conv_settings(at, **values):
    """The Train page's controls: the number of conv layers first (the other conv knobs are
    disabled, so not settable, while it is 0), then the rest."""
    if "conv_layers" in values:
        set_settings(at, conv_layers=values.pop("conv_layers"))
    return set_settings(at, **values)


def _decoded(spec):
    """A figure's JSON with Plotly's typed arrays ({"dtype", "bdata"}) turned back into arrays."""
    if isinstance(spec, dict):
        return decode(spec) if "bdata" in spec else {k: _decoded(v) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_decoded(v) for v in spec]
    return spec


def charts(at) -> dict[str, go.Figure]:
    """{key: figure} of the page's plotly charts, as the browser receives them."""
    return {chart_key(c): go.Figure(_decoded(json.loads(c.proto.spec))) for c in at.get("plotly_chart")}


# ---------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------


def test_filter_grid_shows_every_kernel_exactly_on_a_symmetric_range():
    kernel = np.random.default_rng(0).normal(0, 0.3, (5, 5, 1, 7)).astype(np.float32)
    biases = np.linspace(-0.5, 0.5, 7).astype(np.float32)
    fig = conv_figures.filter_grid_figure(kernel, biases, columns=4)
    np.testing.assert_array_equal(conv_figures.tiles_of(fig), kernel[:, :, 0, :].transpose(2, 0, 1))
    meta = fig.layout.meta["tiles"]
    assert meta["n"] == 7 and meta["columns"] == 4 and meta["filters"] == list(range(7))
    heatmap = fig.data[0]
    assert heatmap.zmin == -heatmap.zmax == -np.abs(kernel).max()
    assert heatmap.colorscale[0][1] == style.DIVERGING[0][1]  # blue ... white at 0 ... red
    # hover: filter, row, col and the filter's bias, for every cell of a tile
    custom = np.asarray(heatmap.customdata, dtype=np.float64)
    top = meta["band"]
    row, col = divmod(6, 4)  # filter 6's tile
    cell = custom[top + row * 6 + 2, col * 6 + 3]
    assert cell[0] == 6 and (cell[2], cell[3]) == (2, 3) and cell[4] == pytest.approx(biases[6])
    assert "bias" in heatmap.hovertemplate
    # one label per filter, above its tile
    assert [a.text for a in fig.layout.annotations] == [str(f) for f in range(7)]
    # a shared range (e.g. an epoch replay) is used as given
    assert conv_figures.filter_grid_figure(kernel, zmax=2.5).data[0].zmax == 2.5


def test_deeper_filters_per_input_map_or_their_mean():
    kernel = np.random.default_rng(1).normal(0, 1, (3, 3, 4, 5)).astype(np.float32)
    channels = conv_figures.filter_grid_figure(kernel, view="channels")
    tiles = conv_figures.tiles_of(channels)
    assert tiles.shape == (20, 3, 3) and channels.layout.meta["tiles"]["columns"] == 4
    for f in range(5):
        for c in range(4):
            np.testing.assert_array_equal(tiles[f * 4 + c], kernel[:, :, c, f])
    assert channels.layout.meta["tiles"]["channels"][:5] == [0, 1, 2, 3, 0]
    mean = conv_figures.filter_grid_figure(kernel, view="mean")
    np.testing.assert_allclose(conv_figures.tiles_of(mean), kernel.mean(axis=2).transpose(2, 0, 1), rtol=1e-6)
    assert "mean over 4 input maps" in mean.data[0].hovertemplate
    assert mean.data[0].zmin == -mean.data[0].zmax
    # rows and columns are named on the axes: a filter per row, an input map per column
    assert list(channels.layout.yaxis.ticktext) == [f"filter {f}" for f in range(5)]
    assert list(channels.layout.xaxis.ticktext) == [f"map {c}" for c in range(4)]
    one = conv_figures.filter_grid_figure(kernel[..., [3]], view="channels", filter_ids=[3], columns=2)
    assert [a.text for a in one.layout.annotations] == ["map 0", "map 1", "map 2", "map 3"]
    assert np.asarray(one.data[0].customdata)[1, 0, 0] == 3  # hover: filter 3


def test_feature_map_figures_show_exactly_what_forward_computes(data):
    net = ConvNetwork([ConvSpec(5, 5), ConvSpec(3, 3, "valid", False)], seed=3)
    image = data.validation_images[11]
    forward = net.forward((image / np.float32(255))[None, :], record=True)
    trace = analysis.trace_image(net, image)
    for layer in range(2):
        maps = forward.activations[layer + 1][0]  # (H, W, F) after the activation
        np.testing.assert_array_equal(trace.feature_maps[layer], maps)
        np.testing.assert_array_equal(trace.pooled_maps[layer], forward.pooled[layer][0])
        fig = conv_figures.feature_maps_figure(trace.feature_maps[layer], trace.map_pre_activations[layer])
        np.testing.assert_array_equal(conv_figures.tiles_of(fig), maps.transpose(2, 0, 1))
        assert fig.data[0].zmin == 0 and fig.data[0].zmax == pytest.approx(float(maps.max()))  # ReLU: from 0
        z = np.asarray(fig.data[0].customdata, dtype=np.float64)[..., 3]  # hover: z beside a
        np.testing.assert_allclose(z[: maps.shape[0], : maps.shape[1]],
                                   forward.pre_activations[layer][0][:, :, 0], rtol=1e-6)
    pooled = conv_figures.feature_maps_figure(trace.pooled_maps[0], zmax=3.0)
    np.testing.assert_array_equal(conv_figures.tiles_of(pooled), forward.pooled[0][0].transpose(2, 0, 1))
    assert pooled.data[0].zmax == 3.0
    # the dense layers after the flatten are traced as before; the conv maps separately
    assert [a.shape for a in trace.activations] == [] and [z.shape for z in trace.pre_activations] == [(10,)]
    assert [m.shape for m in trace.feature_maps] == [(24, 24, 5), (10, 10, 3)]


def test_maps_with_negative_values_get_a_symmetric_diverging_range():
    maps = np.random.default_rng(2).normal(0, 1, (6, 6, 3))
    fig = conv_figures.feature_maps_figure(maps)
    assert -fig.data[0].zmin == fig.data[0].zmax == pytest.approx(np.abs(maps).max())
    weights = conv_figures.position_weights_figure(maps, value_name="w")
    np.testing.assert_allclose(conv_figures.tiles_of(weights), maps.transpose(2, 0, 1), rtol=1e-6)
    assert weights.data[0].zmin == -weights.data[0].zmax


def test_filter_contributions_add_up_to_the_logit(one_conv, data):
    net = one_conv.network
    for index in (0, 5):
        result = analysis.filter_contributions(net, data.validation_images[index], 3)
        assert result.maps.shape == (12, 12, 4) and result.totals.shape == (4,)
        assert result.totals.sum() + result.bias == pytest.approx(result.logit, rel=1e-5, abs=1e-5)
        # by hand: pooled maps (flattened row-major) times the output weights of class 3
        trace = analysis.trace_image(net, data.validation_images[index])
        by_hand = trace.pooled_maps[0].reshape(-1) * net.weights[1][:, 3]
        np.testing.assert_allclose(result.maps.reshape(-1), by_hand, rtol=1e-6)
    with pytest.raises(ValueError):
        analysis.unit_contributions(net, data.validation_images[0])  # no dense hidden layer


def test_top_filter_images_are_the_strongest_responses(one_conv, data):
    net, images = one_conv.network, data.train_images[:300]
    top = analysis.top_filter_images(net, images, 0, 2, k=5)
    z = net.forward(images / np.float32(255), record=True).pre_activations[0][..., 2].max(axis=(1, 2))
    assert list(top.indices) == list(np.argsort(-z, kind="stable")[:5])
    np.testing.assert_allclose(top.pre_activations, z[top.indices], rtol=1e-5)


def test_layer_names_for_conv_and_dense_networks(two_conv):
    assert analysis.layer_names(two_conv.network) == ["conv1 (6@3×3)", "conv2 (4@3×3)", "W3 196→16", "W4 16→10"]
    dense = build_network(TrainConfig(hidden_sizes=(32,)))
    assert analysis.layer_names(dense) == ["W1 784→32", "W2 32→10"]
    assert analysis.n_conv_layers(dense) == 0 and analysis.n_conv_layers(two_conv.network) == 2


# ---------------------------------------------------------------------------------
# Settings, links, presets, challenges, the run-size cap
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("changes", [
    dict(conv_layers=1, conv_filters=8, conv_kernel=5, layers=0),
    dict(conv_layers=2, conv_filters=16, conv_filters_2=32, conv_kernel=3, layers=0),
    dict(conv_layers=2, conv_filters=4, conv_filters_2=6, conv_kernel=7, conv_padding="same", conv_pool=False,
         layers=1, width=20),
    dict(conv_layers=1, conv_filters=3, conv_kernel=3, conv_pool=False, layers=2, width=7),
    dict(),  # the default dense network: unchanged
])
def test_settings_make_the_network_the_page_describes(changes):
    chosen = {**settings.GOOD_DEFAULT, **changes}
    config = settings.to_config(chosen)
    network = build_network(config)
    assert settings.config_parameters(config) == network.n_parameters
    if changes:
        assert analysis.n_conv_layers(network) > 0 and len(config.conv_layers) == changes["conv_layers"]
        assert config.conv_layers[0] == (changes["conv_filters"], changes["conv_kernel"])
        assert settings.architecture_text(config).startswith("28×28 → conv ")
        assert settings.relative_cost(config) > 1
    else:
        assert analysis.n_conv_layers(network) == 0
        assert settings.describe_config(config).startswith("784-128-10 ReLU")
        assert settings.relative_cost(config) == 1.0


def test_architecture_text_names_each_block():
    config = settings.to_config({**settings.GOOD_DEFAULT, "conv_layers": 1, "conv_filters": 8, "conv_kernel": 5,
                                 "layers": 0})
    assert settings.architecture_text(config) == "28×28 → conv 8@5×5 → pool → 10"
    assert settings.architecture_text(config, shapes=True) == "28×28 → conv 8@5×5 → 24×24×8 → pool → 12×12×8 → 10"
    assert settings.config_parameters(config) == 5 * 5 * 8 + 8 + 1152 * 10 + 10
    assert settings.describe_config(config).startswith("28×28 → conv 8@5×5 → pool → 10 ReLU, Adam")


@pytest.mark.parametrize("changes, message", [
    (dict(conv_layers=1, batch_mode=settings.BATCH_FULL), "mini-batches of at most 1,024"),
    (dict(conv_layers=1, batch_size=2000), "mini-batches of at most 1,024"),
    (dict(conv_layers=3), "between 0 and 2"),
    (dict(conv_layers=1, conv_filters=40), "between 1 and 32"),
    (dict(conv_layers=1, conv_kernel=4), "one of 3, 5, 7"),
    (dict(layers=0), "0 needs a convolution layer"),
])
def test_impossible_conv_settings_are_refused_with_a_reason(changes, message):
    with pytest.raises(ValueError, match=message):
        settings.to_config({**settings.GOOD_DEFAULT, **changes})


def test_conv_runs_count_more_against_the_run_size_cap():
    small = settings.to_config(BY_ID["small_cnn"].settings())
    assert 5 < settings.relative_cost(small) < 100
    assert settings.to_config(BY_ID["small_cnn"].settings(), n_train=4500)  # the preset fits
    huge = {**settings.GOOD_DEFAULT, "conv_layers": 2, "conv_filters": 32, "conv_filters_2": 32, "conv_kernel": 7,
            "conv_padding": "same", "conv_pool": False, "layers": 0, "epochs": 20, "batch_size": 64}
    with pytest.raises(ValueError, match="about 1065 times"):
        settings.to_config(huge, n_train=4500)
    cost = settings.relative_cost(settings.to_config(huge))
    pooled = settings.to_config({**huge, "conv_pool": True})
    assert settings.relative_cost(pooled) < cost  # pooling makes layer 2 cheaper
    assert "Even one epoch is too much" in settings.run_size_problem(1, 54_000, cost=cost)
    assert "at most 2 epochs" in settings.run_size_problem(20, 4500, limit=10_000_000, cost=cost)
    assert settings.run_size_problem(500, 4500) is None  # dense runs: as before


def test_small_cnn_preset_is_the_engines_recommendation():
    from nn.conv import RECOMMENDED_CONV_CONFIG

    chosen = BY_ID["small_cnn"].settings()
    config = settings.to_config(chosen)
    assert config.conv_layers == tuple(tuple(layer) for layer in RECOMMENDED_CONV_CONFIG["conv_layers"])
    assert config.hidden_sizes == tuple(RECOMMENDED_CONV_CONFIG["hidden_sizes"])
    for name in ("conv_padding", "conv_pool", "optimizer", "learning_rate", "batch_size", "epochs", "activation"):
        assert getattr(config, name) == RECOMMENDED_CONV_CONFIG[name], name
    assert BY_ID["small_cnn"].title == "Small CNN (≈97%)"


def test_conv_settings_round_trip_through_a_link():
    chosen = {**settings.GOOD_DEFAULT, "conv_layers": 2, "conv_filters": 12, "conv_filters_2": 24, "conv_kernel": 7,
              "conv_padding": "same", "conv_pool": False, "layers": 0}
    params = url_settings.to_params(chosen)
    assert {k: params[k] for k in ("cl", "cf", "cf2", "ck", "cp", "pool")} == \
        {"cl": "2", "cf": "12", "cf2": "24", "ck": "7", "cp": "same", "pool": "0"}
    back, notes = url_settings.from_params(params)
    assert back == chosen and notes == []
    # a dense network's link is as before (no conv parameters) and switches conv off
    dense = url_settings.to_params(settings.GOOD_DEFAULT)
    assert not set(dense) & set(url_settings.CONV_SHORT.values())
    back, notes = url_settings.from_params(dense, base=chosen)
    assert back["conv_layers"] == 0 and back["layers"] == 1 and notes == []
    # bad values are clamped with a note each
    back, notes = url_settings.from_params({"cl": "5", "cf": "0", "ck": "4", "cp": "wide", "pool": "maybe"})
    assert (back["conv_layers"], back["conv_filters"], back["conv_kernel"]) == (2, 1, 3)
    assert (back["conv_padding"], back["conv_pool"]) == ("valid", True) and len(notes) == 5
    settings.to_config(back)
    back, notes = url_settings.from_params({"hl": "0"})
    assert back["layers"] == 1 and "needs at least one hidden layer" in notes[0]


def test_challenges_can_lock_and_limit_the_conv_knobs():
    challenge = challenges.from_dict({"id": "dense-only", "locked": {"conv_layers": 0},
                                      "limits": {"conv_filters": {"max": 8}}})
    applied, notes = challenge.apply({**settings.GOOD_DEFAULT, "conv_layers": 1, "conv_filters": 16, "layers": 1})
    assert applied["conv_layers"] == 0 and applied["conv_filters"] == 8 and len(notes) == 2
    assert challenge.apply(settings.GOOD_DEFAULT)[1] == []  # a dict without conv knobs is dense already
    cnn = settings.to_config(BY_ID["small_cnn"].settings())
    assert any("Convolution layers" in r for r in challenge.violations(challenges.settings_of(cnn)))
    assert challenges.settings_of(cnn)["conv_filters_2"] == cnn.conv_layers[1][0]
    with pytest.raises(challenges.ChallengeError):
        challenges.from_dict({"id": "x", "locked": {"conv_pool": 1}})
    assert network_text(challenges.settings_of(cnn)) == "28×28 → conv 16@3×3 → pool → conv 32@3×3 → pool → 10 relu"
    assert network_text(challenges.settings_of(settings.to_config(settings.GOOD_DEFAULT))) == "784-128-10 relu"


def test_clamp_setting_knows_the_conv_knobs():
    assert settings.clamp_setting("conv_kernel", 6) == (5, settings.clamp_setting("conv_kernel", 6)[1])
    assert settings.clamp_setting("conv_kernel", 9)[0] == 7 and settings.clamp_setting("conv_kernel", 3) == (3, None)
    assert settings.clamp_setting("conv_layers", 9)[0] == 2 and settings.clamp_setting("layers", 0) == (0, None)
    assert settings.clamp_setting("conv_padding", "full") == \
        ("valid", settings.clamp_setting("conv_padding", "full")[1])
    assert settings.clamp_setting("conv_pool", "yes")[0] is True
    assert settings.clamp_setting("conv_pool", False) == (False, None)


# ---------------------------------------------------------------------------------
# Gradient check on conv networks
# ---------------------------------------------------------------------------------


def test_gradient_check_of_a_conv_model_on_real_images(two_conv, data):
    result = run_gradient_check(two_conv.network, data.validation_images, data.validation_labels)
    assert set(result.relative_errors) == {f"{p}{i}" for p in "Wb" for i in range(1, 5)} | {"X"}
    assert max(result.relative_errors.values()) < 1e-6, result.relative_errors
    # entries at a kink are replaced by others: every array keeps checked entries
    assert all(result.checked_entries[name] >= 1 for name in result.relative_errors), result.checked_entries
    assert sum(result.checked_entries.values()) >= 4 * 8
    # Without leaving out the entries that straddle a kink, real digits (a blank background:
    # tied pools) make the finite differences disagree: the check can fail.
    x = data.validation_images[:8] / 255.0
    plain = gradient_check(two_conv.network, x, data.validation_labels[:8], max_entries=40)
    careful = gradient_check(two_conv.network, x, data.validation_labels[:8], max_entries=40, skip_kinks=True)
    assert max(plain.relative_errors.values()) > 1e-4
    assert max(careful.relative_errors.values()) < 1e-6 and sum(careful.skipped_entries.values()) > 0


# ---------------------------------------------------------------------------------
# The app, with a conv model
# ---------------------------------------------------------------------------------


def test_train_page_builds_and_trains_a_conv_network():
    at = open_app("train.py")
    assert at.number_input(key="train_conv_layers").value == 0  # default: the dense network
    assert at.slider(key="train_conv_filters").disabled
    caption = " ".join(c.value for c in at.caption)
    assert "Network: 784-128-10 (ReLU), 101,770 parameters." in caption
    set_conv_settings(at, **CONV_SETTINGS)
    assert not at.exception, at.exception
    caption = " ".join(c.value for c in at.caption)
    assert "Network: 28×28 → conv 4@5×5 → 24×24×4 → pool → 12×12×4 → 10 (ReLU), 5,874 parameters." in caption
    assert at.slider(key="train_width").disabled  # no dense hidden layer
    assert at.slider(key="train_conv_filters_2").disabled  # one conv layer only
    at.button(key="start").click().run()
    run_until_done(at)
    model = at.session_state["model"]
    assert model.status == "completed" and analysis.n_conv_layers(model.network) > 0
    assert [w.shape for w in model.network.weights] == [(5, 5, 1, 4), (576, 10)]
    assert "28×28 → conv 4@5×5 → pool → 10 ReLU, run 1" in " ".join(c.value for c in at.sidebar.caption)
    table = at.dataframe[0].value
    assert table["network"][0] == "28×28 → conv 4@5×5 → pool → 10 ReLU"
    # Turning convolution off again brings the dense hidden layer back (0 is not allowed then).
    set_settings(at, conv_layers=0)
    assert at.number_input(key="train_layers").value == 1 and not at.button(key="start").disabled


def test_train_page_refuses_a_conv_network_with_the_full_batch():
    at = open_app("train.py")
    set_conv_settings(at, conv_layers=1, batch_mode=settings.BATCH_FULL)
    assert at.button(key="start").disabled
    assert any("Cannot start" in w.value and "1,024" in w.value for w in at.warning)


def test_small_cnn_preset_loads_into_the_controls():
    at = open_app("train.py")
    at.selectbox(key="workshop_preset").set_value(("small_cnn", 0))
    at.button(key="load_preset").click()
    rerun(at)
    assert at.number_input(key="train_conv_layers").value == 2
    assert (at.slider(key="train_conv_filters").value, at.slider(key="train_conv_filters_2").value) == (16, 32)
    assert at.select_slider(key="train_conv_kernel").value == 3 and at.number_input(key="train_layers").value == 0
    assert "12,810 parameters" in " ".join(c.value for c in at.caption)
    assert not at.button(key="start").disabled
    assert at.query_params["cl"] == "2" and at.query_params["cf2"] == "32"
    # another preset switches convolution off again, and the address forgets it
    at.selectbox(key="workshop_preset").set_value(("classic", 0))
    at.button(key="load_preset").click()
    rerun(at)
    assert at.number_input(key="train_conv_layers").value == 0 and "cl" not in at.query_params


@pytest.mark.parametrize("tab, keys", [
    ("Filters", {"inside_filters_chart", "inside_filter_detail_chart", "inside_filter_images_chart"}),
    ("Epoch replay", {"inside_replay_chart"}),
    ("Dense layers", {"inside_position_weights_chart", "inside_matrix_4"}),
])
def test_weights_page_tabs_for_a_conv_network(two_conv, tab, keys):
    at = open_tab(open_page("weights", two_conv), "inside_conv_weights_tab", tab)
    assert set(charts(at)) == keys
    assert "convolutional layer" in at.markdown[0].value


def test_weights_page_shows_each_conv_layers_filters(two_conv):
    at = open_page("weights", two_conv)
    net = two_conv.network
    fig = charts(at)["inside_filters_chart"]
    np.testing.assert_array_equal(conv_figures.tiles_of(fig), net.weights[0][:, :, 0, :].transpose(2, 0, 1))
    assert fig.layout.meta["tiles"]["n"] == 6
    at.radio(key="inside_conv_layer").set_value(1)
    rerun(at)
    fig = charts(at)["inside_filters_chart"]
    assert fig.layout.meta["tiles"]["n"] == 4  # the mean over conv2's 6 input maps
    np.testing.assert_allclose(conv_figures.tiles_of(fig), net.weights[1].mean(axis=2).transpose(2, 0, 1), rtol=1e-6)
    at.radio(key="inside_filter_view").set_value("channels")
    rerun(at)
    fig = charts(at)["inside_filters_chart"]
    assert fig.layout.meta["tiles"]["n"] == 24 and fig.layout.meta["tiles"]["columns"] == 6
    at.number_input(key="inside_filter").set_value(3)
    rerun(at)
    detail = charts(at)["inside_filter_detail_chart"]
    np.testing.assert_array_equal(conv_figures.tiles_of(detail), net.weights[1][:, :, :, 3].transpose(2, 0, 1))


def test_replay_shows_the_filters_of_each_snapshot(data):
    run = conv_run(data, epochs=3, snapshot_every=1)
    at = open_tab(open_page("weights", run), "inside_conv_weights_tab", "Epoch replay")
    snapshots = run.history.snapshots
    assert len(snapshots) == 4  # epochs 0..3
    at.select_slider(key="inside_epoch").set_value(1)
    rerun(at)
    fig = charts(at)["inside_replay_chart"]
    np.testing.assert_array_equal(conv_figures.tiles_of(fig), snapshots[1].weights[0][:, :, 0, :].transpose(2, 0, 1))
    assert fig.data[0].zmax == pytest.approx(tiles.replay_zmax(snapshots))  # one range for every epoch


def test_activations_page_shows_every_filters_feature_map(two_conv, data):
    at = open_page("activations", two_conv)
    shown = charts(at)
    assert {"inside_maps_1_chart", "inside_pooled_1_chart", "inside_maps_2_chart", "inside_pooled_2_chart",
            "inside_layer_1_chart", "inside_contributions_chart"} <= set(shown)
    trace = analysis.trace_image(two_conv.network, data.validation_images[0])  # "By number", image 0
    np.testing.assert_array_equal(conv_figures.tiles_of(shown["inside_maps_1_chart"]),
                                  trace.feature_maps[0].transpose(2, 0, 1))
    np.testing.assert_array_equal(conv_figures.tiles_of(shown["inside_pooled_2_chart"]),
                                  trace.pooled_maps[1].transpose(2, 0, 1))
    assert shown["inside_maps_1_chart"].layout.meta["tiles"]["n"] == 6
    assert shown["inside_maps_2_chart"].layout.meta["tiles"]["n"] == 4
    np.testing.assert_allclose(shown["inside_layer_1_chart"].data[0].y, trace.activations[0], rtol=1e-6)


def test_activations_page_of_a_conv_net_without_dense_layers(one_conv, data):
    at = open_page("activations", one_conv)
    shown = charts(at)
    assert {"inside_maps_1_chart", "inside_pooled_1_chart", "inside_contributions_chart",
            "inside_contribution_maps_chart"} <= set(shown)
    assert not [k for k in shown if k.startswith("inside_layer_")]
    assert any("Which filters built the answer" in h.value for h in at.subheader)
    # a drawing from the Draw page goes through the conv layers too
    drawn = np.zeros(784, np.float32)
    drawn[300:310] = 1
    at = open_page("activations", one_conv, drawn_digit=drawn)
    at.radio(key="inside_activations_source").set_value("drawn")
    rerun(at)
    trace = analysis.trace_image(one_conv.network, drawn)
    np.testing.assert_array_equal(conv_figures.tiles_of(charts(at)["inside_maps_1_chart"]),
                                  trace.feature_maps[0].transpose(2, 0, 1))


@pytest.mark.parametrize("tab", ["Over training", "Latest step", "Saliency"])
def test_gradients_page_includes_the_conv_layers(two_conv, data, tab):
    at = open_tab(open_page("gradients", two_conv), "inside_gradients_tab", tab)
    shown = charts(at)
    names = ["conv1 (6@3×3)", "conv2 (4@3×3)", "W3 196→16", "W4 16→10"]
    if tab == "Over training":
        assert [t.name for t in shown["inside_norms_chart_0"].data if t.name in names] == names
        assert [t.name for t in shown["inside_dead_chart"].data] == ["conv1 (6@3×3)", "conv2 (4@3×3)", "dense layer 1"]
        text = " ".join(m.value for m in at.markdown)
        assert "**conv1 (6@3×3)**" in text
    elif tab == "Latest step":
        grads = two_conv.history.last_grad_weights
        assert list(shown["inside_grad_hist_chart"].layout.annotations[i].text for i in range(4)) == names
        np.testing.assert_array_equal(conv_figures.tiles_of(shown["inside_grad_filters_chart"]),
                                      grads[0][:, :, 0, :].transpose(2, 0, 1))
    else:  # dJ/dX of validation image 0 (the picker's default) for its predicted class
        image = data.validation_images[0]
        expected = analysis.saliency(two_conv.network, image, analysis.trace_image(two_conv.network, image).predicted)
        z = np.asarray(shown["inside_saliency_chart"].data[1].z, dtype=np.float64).reshape(-1)
        np.testing.assert_allclose(z, expected, rtol=1e-4, atol=1e-9)


def test_gradient_check_button_on_a_conv_model(two_conv):
    at = open_tab(open_page("gradients", two_conv), "inside_gradients_tab", "Gradient check")
    at.button(key="inside_gradcheck_button").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    errors = dict(zip(table["array"], (float(e) for e in table["relative error"])))
    assert set(errors) == {"W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4", "X"}
    assert max(errors.values()) < 1e-6, errors
    assert "left out (kink)" in table.columns
    assert at.success and "agrees" in at.success[0].value


def test_draw_evaluate_and_models_pages_with_a_conv_model(one_conv, data):
    from nn.training import predict_proba

    at = open_page("models", one_conv, in_history=True)
    raw = model_files.model_file_bytes(one_conv)
    at.file_uploader(key="use_model_upload").set_value(("cnn.npz", raw, "application/octet-stream"))
    rerun(at)
    assert not at.error
    assert any("28×28 → conv 4@5×5 → pool → 10 network" in m.value for m in at.markdown)
    upload_grid = charts(at)["use_upload_grid"]
    np.testing.assert_array_equal(conv_figures.tiles_of(upload_grid),
                                  one_conv.network.weights[0][:, :, 0, :].transpose(2, 0, 1))
    at.button(key="use_install").click()
    rerun(at)
    model = at.session_state["model"]
    assert model.number == 2 and analysis.n_conv_layers(model.network) > 0
    assert model.config.conv_layers == ((4, 5),)
    np.testing.assert_array_equal(predict_proba(model.network, data.validation_images),
                                  predict_proba(one_conv.network, data.validation_images))
    for page in ("draw", "evaluate", "weights", "gradients", "activations", "train", "home", "leaderboard"):
        at.switch_page(f"pages/{page}.py")
        rerun(at)
    # Compare a dense run and the conv runs: weight grids side by side, filters for conv runs.
    dense = Run(3, TrainConfig(hidden_sizes=(16,)), "completed", "", build_network(TrainConfig(hidden_sizes=(16,))),
                one_conv.history, data.name, 1.0)
    at.session_state["runs"] = [*at.session_state["runs"], dense.for_history()]
    at.switch_page("pages/models.py")
    rerun(at)
    open_tab(at, "use_models_tab", "Compare runs")
    at.multiselect(key="use_compare").set_value([1, 3])
    rerun(at)
    shown = charts(at)
    assert shown["use_compare_grid_1"].layout.meta["tiles"]["kind"] == "filters"
    assert "grid" in shown["use_compare_grid_3"].layout.meta  # the dense run: its 784-pixel grid
    table = at.dataframe[0].value
    assert list(table["network"]) == ["784-16-10 ReLU", "28×28 → conv 4@5×5 → pool → 10 ReLU"]


def test_evaluate_and_draw_read_with_a_conv_model(one_conv, data):
    from nn.training import predict_proba

    at = open_page("evaluate", one_conv)
    assert not at.exception
    accuracy = float((predict_proba(one_conv.network, data.validation_images).argmax(axis=1)
                      == data.validation_labels).mean())
    text = " ".join(m.value for m in at.markdown) + " ".join(str(m.value) for m in at.metric)
    assert f"{100 * accuracy:.1f}%" in text
    at = open_page("draw", one_conv)
    assert not at.exception
    assert "28×28 → conv 4@5×5 → pool → 10 ReLU" in " ".join(c.value for c in at.sidebar.caption)


def test_a_reload_restores_a_conv_model():
    at = open_app("train.py")
    lab = at.query_params["lab"]
    set_conv_settings(at, **{**CONV_SETTINGS, "epochs": 1})
    at.button(key="start").click().run()
    run_until_done(at)
    model = at.session_state["model"]
    reloaded = open_app(lab=lab)
    assert analysis.n_conv_layers(reloaded.session_state["model"].network) > 0
    np.testing.assert_array_equal(reloaded.session_state["model"].network.weights[0], model.network.weights[0])
    assert reloaded.session_state["settings"]["conv_layers"] == 1
    reloaded.switch_page("pages/weights.py")
    rerun(reloaded)
    assert "inside_filters_chart" in charts(reloaded)
