"""ui/figures/probe.py: the Probe page's figures draw exactly the arrays they are given,
with axis titles in words, and map a click on the switchboard back to its unit."""

import numpy as np
import pytest

from lab import robustness
from nn.probe import FoolingCurve
from ui.figures import probe as probe_figures
from ui.figures.style import DIVERGING


def test_attack_panels_show_the_image_the_change_and_the_result():
    rng = np.random.default_rng(0)
    original = rng.random(784).astype(np.float32)
    adversarial = np.clip(original + rng.choice([-0.05, 0.05], 784), 0, 1).astype(np.float32)
    fig = probe_figures.attack_panels_figure(original, adversarial, 0.05, before="7 (99%)", after="3 (80%)")
    image, change, result = (np.asarray(trace.z) for trace in fig.data)
    np.testing.assert_array_equal(image.reshape(-1), original)
    np.testing.assert_allclose(change.reshape(-1), adversarial - original)
    np.testing.assert_array_equal(result.reshape(-1), adversarial)
    assert fig.data[1].zmin == -fig.data[1].zmax == pytest.approx(-0.05)  # symmetric: white is no change
    assert [list(c) for c in fig.data[1].colorscale] == [list(c) for c in DIVERGING]
    assert "7 (99%)" in fig.layout.annotations[0].text and "3 (80%)" in fig.layout.annotations[2].text
    assert fig.layout.meta["probe"]["max_change"] == pytest.approx(0.05)


def test_probability_bars_before_and_after():
    before, after = np.eye(10)[7] * 0.9 + 0.01, np.eye(10)[3] * 0.8 + 0.02
    fig = probe_figures.probability_shift_figure(before, after, label=7, target=3)
    np.testing.assert_allclose(fig.data[0].y, before)
    np.testing.assert_allclose(fig.data[1].y, after)
    assert fig.layout.xaxis.title.text == "digit" and fig.layout.yaxis.title.text == "probability"
    assert "true: 7" in fig.layout.title.text and "target: 3" in fig.layout.title.text


def test_fooling_curves_plot_each_attack_against_epsilon():
    eps = np.array([0, 0.05, 0.1])
    curves = [FoolingCurve("fgsm", eps, np.array([0, 0.4, 0.9]), 500, 450),
              FoolingCurve("iterative", eps, np.array([0, 0.5, 0.95]), 500, 450)]
    fig = probe_figures.fooling_curves_figure(curves, epsilon=0.05)
    np.testing.assert_allclose(fig.data[1].y, [0, 0.5, 0.95])
    assert "ε" in fig.layout.xaxis.title.text and "450 images" in fig.layout.yaxis.title.text
    assert fig.layout.meta["probe"]["curves"]["fgsm"] == [0, 0.4, 0.9]


def test_robustness_figure_has_one_chart_per_change_and_one_line_per_model():
    keys = ("rotate", "noise")

    def curve(key, k):
        values = np.array(robustness.PERTURBATIONS[key].values, float)
        return robustness.RobustnessCurve(key, values, np.linspace(0.9, 0.3 + k, len(values)))

    curves = {name: {key: curve(key, k) for key in keys} for k, name in enumerate(("plain", "augmented"))}
    fig = probe_figures.robustness_figure(curves, robustness.PERTURBATIONS, marker=("rotate", 20))
    assert len(fig.data) == 4
    assert [a.text for a in fig.layout.annotations][:2] == ["Rotation", "Noise"]
    np.testing.assert_allclose(fig.data[3].y, curves["augmented"]["noise"].accuracies)
    assert fig.layout.xaxis.title.text.startswith("rotation (degrees")
    assert fig.layout.xaxis2.title.text.startswith("noise")
    assert fig.layout.yaxis.title.text == "accuracy"
    assert [t.showlegend for t in fig.data] == [True, False, True, False]


def test_switchboard_greys_out_units_that_are_off_and_maps_a_click_to_its_unit():
    drops = np.linspace(0, 0.05, 40)
    fig = probe_figures.switchboard_figure(drops, off=[3, 19], columns=16)
    cells = np.asarray(fig.data[0].z, dtype=float)
    assert cells.shape == (3, 16)
    assert np.isnan(cells[0, 3]) and np.isnan(cells[1, 3]) and cells[1, 4] == pytest.approx(drops[20] * 100)
    assert np.isnan(cells[2, 8:]).all()  # empty slots after unit 39
    assert fig.data[1].text[3] == "✕" and fig.data[1].text[4] == "4"
    assert probe_figures.unit_from_click({"selection": {"points": [{"x": 3, "y": 1}]}}, fig) == 19
    assert probe_figures.unit_from_click({"selection": {"points": [{"x": 10, "y": 2}]}}, fig) is None
    assert probe_figures.unit_from_click({"selection": {"points": []}}, fig) is None
    assert probe_figures.unit_from_click(None, fig) is None


def test_damage_and_importance_figures():
    fig = probe_figures.damage_figure([0, 50, 90], [0.9, 0.88, 0.3], current=50, chance=0.1, percent_x=True,
                                      x_title="weights set to 0", title="pruning")
    np.testing.assert_allclose(fig.data[0].y, [0.9, 0.88, 0.3])
    assert fig.layout.xaxis.title.text == "weights set to 0" and fig.layout.yaxis.title.text == "validation accuracy"
    assert fig.layout.shapes[0].y0 == 0.1  # the chance line
    bars = probe_figures.importance_figure([5, 2], [0.03, 0.01])
    assert list(bars.data[0].x) == ["unit 5", "unit 2"]
    np.testing.assert_allclose(bars.data[0].y, [3, 1])
