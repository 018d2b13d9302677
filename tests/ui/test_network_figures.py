"""ui/figures/ weights, gradients, activations, images, png: what the figures that look
inside the network show is exactly the model's arrays.

Figures are decoded the way the browser receives them (``fig.to_json()``: base64 typed
arrays, a palette PNG for big weight grids), independently of the module's own helpers.
"""

import base64
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nn import analysis
from nn.network import Network
from ui.figures import activations as activation_figures
from ui.figures import gradients as gradient_figures
from ui.figures import images as image_figures
from ui.figures import png, style, tiles
from ui.figures import weights as weight_figures

REPO = Path(__file__).resolve().parents[2]
DTYPES = {"f4": np.float32, "f8": np.float64, "u1": np.uint8, "i1": np.int8, "u2": np.uint16,
          "i2": np.int16, "u4": np.uint32, "i4": np.int32}


def decode(spec):
    """A value of the figure's JSON: a Plotly typed-array spec back to a NumPy array."""
    if isinstance(spec, dict) and "bdata" in spec:
        array = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=DTYPES[spec["dtype"]])
        if "shape" in spec:
            array = array.reshape([int(n) for n in str(spec["shape"]).split(",")])
        return array
    return np.asarray(spec, dtype=float)


def browser_json(fig) -> dict:
    return json.loads(fig.to_json())


def decode_png(uri: str):
    """(palette indices (H, W), palette (k, 3), alpha or None) of a palette PNG, read with
    Pillow (which checks every chunk's CRC)."""
    assert uri.startswith("data:image/png;base64,")
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG" and image.mode == "P"
        indices = np.asarray(image, dtype=np.uint8)
        palette = np.frombuffer(bytes(image.getpalette()), dtype=np.uint8).reshape(-1, 3)
        transparency = image.info.get("transparency")
    alpha = None
    if transparency is not None:  # Pillow gives the tRNS chunk as one alpha per palette entry
        alpha = np.full(len(palette), 255, dtype=np.uint8)
        if isinstance(transparency, int):
            alpha[transparency] = 0
        else:
            alpha[: len(transparency)] = np.frombuffer(transparency, dtype=np.uint8)
    return indices, palette, alpha


def tile(grid, layout_meta, slot):
    pitch = layout_meta["tile"] + layout_meta["gap"]
    r, c = divmod(slot, layout_meta["columns"])
    return grid[r * pitch : r * pitch + 28, c * pitch : c * pitch + 28]


@pytest.fixture(scope="module")
def net():
    network = Network((784, 10, 10), "relu", seed=2)
    rng = np.random.default_rng(2)
    network.biases = [rng.normal(0, 0.1, b.shape).astype(np.float32) for b in network.biases]
    return network


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (16, 784), dtype=np.uint8), rng.integers(0, 10, 16)


# -- the weight grid, heatmap encoding ---------------------------------------------------


def test_weight_grid_heatmap_shows_the_weights_with_nan_gaps_and_symmetric_range(net):
    w = net.weights[0]  # (784, 10)
    fig = weight_figures.weight_grid_figure(w, columns=5, title="W1")
    meta = fig.layout.meta["grid"]
    assert meta["mode"] == "heatmap" and meta["columns"] == 5
    sent = browser_json(fig)["data"][0]
    assert sent["type"] == "heatmap"
    z = decode(sent["z"])
    assert z.shape == (2 * 29 - 1, 5 * 29 - 1)
    assert np.isnan(z[28]).all() and np.isnan(z[:, 28]).all() and np.isnan(z[:, 115]).all()
    assert np.isnan(z).sum() == z.size - 10 * 784
    for unit in range(10):
        np.testing.assert_array_equal(tile(z, meta, unit), w[:, unit].reshape(28, 28))
    assert sent["zmin"] == -sent["zmax"] and sent["zmax"] > 0
    assert sent["zmax"] == pytest.approx(analysis.symmetric_zmax(w, 99.5), rel=1e-6)
    # Hover data: (unit, pixel row, pixel col) for every cell.
    custom = decode(sent["customdata"])
    assert custom.shape == z.shape + (3,)
    assert tuple(custom[29 + 5, 2 * 29 + 7]) == (7, 5, 7)
    assert "%{customdata[0]}" in sent["hovertemplate"] and "%{z" in sent["hovertemplate"]
    assert sent["hoverongaps"] is False
    # Equal aspect, no ticks.
    layout = sent and browser_json(fig)["layout"]
    assert layout["yaxis"]["scaleanchor"] == "x" and layout["xaxis"]["showticklabels"] is False


def test_weight_grid_colour_scale_is_diverging_and_centred_on_zero(net):
    fig = weight_figures.weight_grid_figure(net.weights[0])
    scale = [tuple(stop) for stop in fig.data[0].colorscale]
    assert scale[0][0] == 0 and scale[-1][0] == 1
    middle = dict(scale)[0.5]
    assert middle.lower() in ("#f7f7f7", "#ffffff")  # 0 is (near) white, the sides are not
    assert scale[0][1] != scale[-1][1]


def test_weight_grid_follows_the_order_and_maps_clicks_back(net):
    order = analysis.unit_order(net, "norm")
    fig = weight_figures.weight_grid_figure(net.weights[0], order, columns=4, selected=int(order[5]))
    meta = fig.layout.meta["grid"]
    z = decode(browser_json(fig)["data"][0]["z"])
    norms = [np.linalg.norm(np.nan_to_num(tile(z, meta, slot))) for slot in range(10)]
    assert np.all(np.diff(norms) <= 1e-6)  # ordering by norm is descending
    for slot, unit in enumerate(order):
        np.testing.assert_array_equal(tile(z, meta, slot), net.weights[0][:, unit].reshape(28, 28))
    layout = weight_figures.grid_layout_of(fig)
    assert layout.unit_at(29 * 2 + 3, 29 * 1 + 3) == order[6]
    assert layout.locate(29 + 4, 2) == (int(order[1]), 2, 4)
    # The selected unit's tile is outlined: slot 5 = tile row 1, column 1.
    (shape,) = fig.layout.shapes
    assert (shape.x0, shape.y0, shape.x1, shape.y1) == (28.5, 28.5, 56.5, 56.5)


def test_weight_grid_for_a_subset_labels_tiles_with_real_unit_ids(net):
    units = np.array([7, 2, 9])
    fig = weight_figures.weight_grid_figure(net.weights[0][:, units], unit_ids=units, columns=3)
    custom = decode(browser_json(fig)["data"][0]["customdata"])
    assert [int(custom[0, 29 * k, 0]) for k in range(3)] == [7, 2, 9]
    assert weight_figures.grid_layout_of(fig).unit_at(29 * 2, 0) == 9


def test_fixed_zmax_keeps_colours_comparable_across_epochs(net):
    early, late = net.weights[0] * 0.1, net.weights[0]
    zmax = analysis.symmetric_zmax([early, late])
    for w in (early, late):
        trace = browser_json(weight_figures.weight_grid_figure(w, zmax=zmax))["data"][0]
        assert trace["zmin"] == -zmax and trace["zmax"] == zmax


# -- the weight grid, image encoding ---------------------------------------------------


@pytest.mark.parametrize("n_units, max_kib", [(128, 150), (512, 400)])
def test_big_weight_grids_fit_the_payload_budget_and_decode_to_the_weights(n_units, max_kib):
    rng = np.random.default_rng(n_units)
    w = rng.normal(0, 0.05, (784, n_units)).astype(np.float32)  # noise: the hardest to compress
    fig = weight_figures.weight_grid_figure(w)
    payload = fig.to_json()
    assert len(payload) <= max_kib * 1024
    meta = fig.layout.meta["grid"]
    assert meta["mode"] == "image"
    sent = json.loads(payload)["data"]
    indices, palette, alpha = decode_png(sent[0]["source"])
    levels, zmax = meta["levels"], meta["zmax"]
    assert indices.shape == (meta_rows(meta) * 29 - 1, meta["columns"] * 29 - 1)
    # Gaps use the one transparent palette entry.
    assert (indices[28] == levels).all() and (indices[:, 28] == levels).all()
    assert alpha[levels] == 0 and (alpha[:levels] == 255).all()
    # Each tile decodes to its unit's weights within half a colour step (inside the range).
    step = 2 * zmax / (levels - 1)
    for slot in (0, 1, n_units // 2, n_units - 1):
        unit = meta["order"][slot]
        shown = tile(indices, meta, slot).astype(np.float64) * step - zmax
        expected = np.clip(w[:, unit].reshape(28, 28), -zmax, zmax)
        assert np.abs(shown - expected).max() <= step / 2 + 1e-6
    # The palette is the colour scale: index 0 = -zmax colour, middle = 0 colour, last = +zmax.
    scale = style.DIVERGING
    assert tuple(palette[0]) == png.hex_to_rgb(scale[0][1])
    assert tuple(palette[levels // 2]) == png.hex_to_rgb("#f7f7f7")
    assert tuple(palette[levels - 1]) == png.hex_to_rgb(scale[-1][1])
    # The colour bar carries the same symmetric range.
    marker = sent[2]["marker"]
    assert marker["cmin"] == -marker["cmax"] == -zmax
    # Hover: one transparent cell per unit naming it.
    hover = sent[1]
    ids = decode(hover["customdata"])
    assert ids.shape == (meta_rows(meta), meta["columns"]) and ids.reshape(-1)[0] == meta["order"][0]
    assert hover["opacity"] == 0
    assert weight_figures.grid_values_of(fig).shape == indices.shape


def meta_rows(meta):
    return math.ceil(len(meta["order"]) / meta["columns"])


def test_grid_values_of_matches_the_weights_in_both_modes(net):
    w = net.weights[0]
    exact = weight_figures.weight_grid_figure(w, mode="heatmap", percentile=100)
    image = weight_figures.weight_grid_figure(w, mode="image", percentile=100)
    layout = weight_figures.grid_layout_of(exact)
    np.testing.assert_array_equal(tiles.untile_grid(weight_figures.grid_values_of(exact), layout), w)
    meta = image.layout.meta["grid"]
    step = 2 * meta["zmax"] / (meta["levels"] - 1)
    got = tiles.untile_grid(weight_figures.grid_values_of(image), layout)
    assert np.abs(got - w).max() <= step / 2 + 1e-6
    assert meta["levels"] == 255  # 10 units fit easily: no colours dropped


def test_payload_budget_drops_colour_levels_rather_than_overflowing():
    w = np.random.default_rng(0).uniform(-1, 1, (784, 256)).astype(np.float32)
    roomy = weight_figures.weight_grid_figure(w, max_bytes=2_000_000)
    tight = weight_figures.weight_grid_figure(w, max_bytes=200 * 1024)
    assert roomy.layout.meta["grid"]["levels"] == 255
    assert tight.layout.meta["grid"]["levels"] < 255
    assert len(tight.to_json()) <= 200 * 1024 < len(roomy.to_json())


# -- gradient maps, saliency -------------------------------------------------------------


def test_first_layer_gradient_map_equals_the_backward_pass(net, batch):
    images, labels = batch
    x = images.astype(np.float32) / 255
    grads = net.backward(net.forward(x, labels), labels)
    fig = weight_figures.weight_grid_figure(grads.weights[0], value_name="dJ/dw", mode="heatmap")
    shown = decode(browser_json(fig)["data"][0]["z"])
    layout = weight_figures.grid_layout_of(fig)
    np.testing.assert_array_equal(tiles.untile_grid(shown, layout), grads.weights[0])
    assert "dJ/dw" in fig.data[0].hovertemplate


def test_saliency_figure_shows_the_input_gradient(net, batch):
    images, _ = batch
    image = images[4]
    forward = net.forward(image[None].astype(np.float32) / 255)
    grads = net.backward(forward, np.array([3]), input_gradient=True)
    fig = gradient_figures.saliency_figure(image, analysis.saliency(net, image, 3), label=3)
    sent = browser_json(fig)["data"]
    np.testing.assert_array_equal(decode(sent[1]["z"]), grads.inputs[0].reshape(28, 28))
    np.testing.assert_allclose(decode(sent[0]["z"]), image.reshape(28, 28) / 255, rtol=1e-6)
    assert sent[1]["zmin"] == -sent[1]["zmax"]


# -- other weight figures ---------------------------------------------------------------


def test_unit_detail_shows_incoming_and_outgoing_weights(net):
    u = 4
    fig = weight_figures.unit_detail_figure(net.weights[0][:, u], net.biases[0][u], net.weights[1][u], unit=u)
    sent = browser_json(fig)["data"]
    np.testing.assert_array_equal(decode(sent[0]["z"]), net.weights[0][:, u].reshape(28, 28))
    assert sent[0]["zmin"] == -sent[0]["zmax"] == -np.abs(net.weights[0][:, u]).max()
    np.testing.assert_allclose(decode(sent[1]["y"]), net.weights[1][u], rtol=1e-6)
    assert list(sent[1]["x"]) == [str(d) for d in range(10)]
    assert f"{net.biases[0][u]:+.3g}" in fig.layout.annotations[0].text


def test_matrix_heatmap_rows_are_inputs_and_range_is_symmetric():
    w = np.random.default_rng(1).normal(size=(12, 5)).astype(np.float32)
    fig = weight_figures.matrix_heatmap_figure(w, output_names=list("abcde"))
    sent = browser_json(fig)["data"][0]
    np.testing.assert_array_equal(decode(sent["z"]), w)
    assert sent["zmin"] == -sent["zmax"]
    big = np.random.default_rng(1).normal(size=(512, 512)).astype(np.float32)
    fig = weight_figures.matrix_heatmap_figure(big)
    assert fig.data[0].type == "image" and len(fig.to_json()) <= 300 * 1024
    indices, _, _ = decode_png(fig.data[0].source)
    assert indices.shape == (512, 512)


def test_templates_figure_shows_the_weight_product_and_says_approximation(net):
    t = analysis.linear_templates(net)
    fig = weight_figures.templates_figure(t.templates, approximate=t.approximate)
    z = decode(browser_json(fig)["data"][0]["z"])
    layout = weight_figures.grid_layout_of(fig)
    product = net.weights[0].astype(np.float64) @ net.weights[1]
    np.testing.assert_allclose(tiles.untile_grid(z, layout), product, rtol=1e-5, atol=1e-7)
    assert "approximation" in fig.layout.title.text
    assert "exact only for a linear network" in fig.layout.title.subtitle.text
    assert [a.text for a in fig.layout.annotations] == [str(d) for d in range(10)]
    exact = weight_figures.templates_figure(t.templates, approximate=False)
    assert "approximation" not in exact.layout.title.text
    assert fig.layout.meta["grid"]["approximate"] and not exact.layout.meta["grid"]["approximate"]


def test_image_grid_shows_the_images(batch):
    images, _ = batch
    fig = image_figures.image_grid_figure(images[:4], ["a", "b", "c", "d"])
    z = decode(browser_json(fig)["data"][0]["z"])
    layout = tiles.GridLayout(np.arange(4), 4)
    np.testing.assert_allclose(tiles.untile_grid(z, layout), images[:4].T / 255, rtol=1e-6)
    assert [a.text for a in fig.layout.annotations] == ["a", "b", "c", "d"]


# -- gradients page ------------------------------------------------------------------


def test_norms_figure_is_log_scale_with_vanishing_and_exploding_markers():
    steps = np.arange(1, 6)
    grad = np.array([[1.0, 0.1], [0.5, 0.0], [0.2, 1e-8], [0.3, 1e3], [0.1, 0.05]])
    fig = gradient_figures.norms_over_steps_figure(steps, grad, grad * 10 + 1, grad * 1e-3 + 1e-5, ["W1", "W2"])
    assert len(fig.data) == 6
    assert all(fig.layout[f"yaxis{s}"].type == "log" for s in ("", "2", "3"))
    lines = {s.y0 for s in fig.layout.shapes if s.type == "line"}
    assert {1e-6, 1e2, 1e-3} <= lines
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "vanishing < 1e-6" in texts and "exploding > 100" in texts
    low = 10 ** fig.layout.yaxis.range[0]
    assert low < 1e-8 and 10 ** fig.layout.yaxis.range[1] > 1e3  # every point and both zones visible
    w2 = fig.data[1]
    np.testing.assert_allclose(w2.customdata, grad[:, 1])  # hover: the real values
    assert w2.y[1] == pytest.approx(low)  # a zero norm drawn at the floor


def test_gradient_histograms_bin_every_value_and_send_only_counts():
    rng = np.random.default_rng(0)
    grads = [rng.normal(0, 1e-3, (784, 128)), rng.normal(0, 1e-2, (128, 10))]
    fig = gradient_figures.gradient_histograms_figure(grads, ["W1", "W2"], bins=41)
    assert [int(np.sum(t.y)) for t in fig.data] == [784 * 128, 1280]
    assert len(fig.data[0].x) == 41
    assert len(fig.to_json()) < 30 * 1024


def test_dead_relu_figure_in_percent():
    fig = gradient_figures.dead_relu_figure([10, 20], [[0.0, 0.5], [0.25, 1.0]])
    np.testing.assert_allclose(fig.data[0].y, [0, 25])
    np.testing.assert_allclose(fig.data[1].y, [50, 100])
    assert tuple(fig.layout.yaxis.range) == (0, 100)


def test_gradcheck_figure_log_bars_with_guide_lines():
    errors = {"W1": 3e-8, "b1": 5e-5, "W2": 2e-3, "X": 0.0}
    fig = gradient_figures.gradcheck_figure(errors)
    bar = fig.data[0]
    assert list(bar.x) == list(errors)
    assert fig.layout.yaxis.type == "log"
    assert {s.y0 for s in fig.layout.shapes} == {1e-6, 1e-4}
    colors = list(bar.marker.color)
    assert colors[0] != colors[1] != colors[2] and colors[2] == style.HIGHLIGHT
    assert list(bar.customdata[:, 1]) == ["right", "suspicious", "a bug", "right"]
    assert bar.y[3] > 0  # 0 drawn at the floor of the log axis


# -- activations page --------------------------------------------------------------


def test_image_figure_is_grey_28x28(batch):
    images, _ = batch
    fig = image_figures.digit_figure(images[0])
    np.testing.assert_allclose(decode(browser_json(fig)["data"][0]["z"]),
                               images[0].reshape(28, 28) / 255, rtol=1e-6)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0, 1)


def test_layer_activations_hover_carries_the_maths_of_each_unit(net, batch):
    images, _ = batch
    trace = analysis.trace_image(net, images[0])
    z, a, b = trace.pre_activations[0], trace.activations[0], net.biases[0]
    fig = activation_figures.layer_activations_figure(a, z, biases=b)
    bar = fig.data[0]
    assert bar.type == "bar"
    np.testing.assert_allclose(bar.y, a)
    custom = np.asarray(bar.customdata)
    np.testing.assert_allclose(custom[:, 0] + custom[:, 1], z, rtol=1e-6, atol=1e-6)  # s + b = z
    np.testing.assert_allclose(custom[:, 2], z)
    np.testing.assert_allclose(custom[:, 3], np.maximum(z, 0))
    for word in ("inputs · weights", "bias", "relu(z)"):
        assert word in bar.hovertemplate


def test_wide_layers_become_a_heatmap_grid():
    rng = np.random.default_rng(0)
    z = rng.normal(size=100)
    fig = activation_figures.layer_activations_figure(np.maximum(z, 0), z)
    heat = fig.data[0]
    assert heat.type == "heatmap"
    values = np.asarray(heat.z, dtype=float).reshape(-1)
    np.testing.assert_allclose(values[:100], np.maximum(z, 0), rtol=1e-6, atol=1e-7)
    assert np.isnan(values[100:]).all()
    custom = np.asarray(heat.customdata).reshape(-1, 5)
    np.testing.assert_allclose(custom[:100, 0], np.arange(100))
    np.testing.assert_allclose(custom[:100, 3], z, rtol=1e-6, atol=1e-6)


def test_probabilities_highlight_the_top_class():
    p = np.array([0.05, 0.1, 0.6, 0.05, 0.2, 0, 0, 0, 0, 0])
    fig = activation_figures.probabilities_figure(p, label=4)
    colors = list(fig.data[0].marker.color)
    assert colors[2] == style.HIGHLIGHT and colors.count(style.HIGHLIGHT) == 1
    assert list(fig.data[0].marker.line.width)[4] > 0
    assert "predicted 2" in fig.layout.title.text and "true: 4" in fig.layout.title.text


def test_contributions_waterfall_adds_up_to_the_logit(net, batch):
    images, _ = batch
    c = analysis.unit_contributions(net, images[5])
    fig = activation_figures.contributions_figure(c.units, c.contributions, c.bias, c.logit,
                                    class_name=str(c.target_class), top=4)
    wf = fig.data[0]
    measures = list(wf.measure)
    assert measures.count("relative") == 6 and measures[-1] == "total"  # 4 + others + bias
    relative = np.array(wf.y[:-1], dtype=float)
    assert relative.sum() == pytest.approx(c.logit, rel=1e-5)
    assert wf.y[-1] == pytest.approx(c.logit)
    top4 = np.argsort(-np.abs(c.contributions))[:4]
    assert {f"unit {u}" for u in c.units[top4]} == set(wf.x[:4])


# -- general -------------------------------------------------------------------


def test_projector_mode_enlarges_fonts(net):
    normal = weight_figures.weight_grid_figure(net.weights[0])
    big = weight_figures.weight_grid_figure(net.weights[0], projector=True)
    assert big.layout.font.size > normal.layout.font.size
    assert big.data[0].colorscale != normal.data[0].colorscale


FIGURE_MODULES = ("activations", "conv", "data", "evaluation", "gradients", "images", "models", "png",
                  "style", "tiles", "training", "weights")


def test_figures_modules_do_not_import_streamlit():
    modules = ", ".join(f"ui.figures.{name}" for name in FIGURE_MODULES)
    code = f"import sys, {modules}; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(REPO))
    assert out.stdout.strip() == "False"
