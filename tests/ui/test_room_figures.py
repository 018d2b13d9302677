"""The room map's data and figures (lab/room.py, ui/figures/room.py) and the projector view of
the Train page's curves: figure data equal to the runs' values."""

import json
import random

import numpy as np
import pytest

from lab.leaderboard import Entry
from lab.room import room_points, what_worked
from lab.settings import BATCH_FULL, BATCH_MINI, GOOD_DEFAULT, LEARNING_RATES
from ui.figures import room as room_figures
from ui.figures import training
from ui.figures.style import OKABE_ITO, PROJECTOR_FONT_SIZE


def entry(rank, accuracy, room=None, **settings):
    return Entry(rank, f"name {rank}", "", accuracy, {**GOOD_DEFAULT, **settings}, 0.0, room, 40 if room else 0)


def decoded(value) -> np.ndarray:
    """A trace array from the figure's JSON (Plotly 7 sends numpy arrays base64-encoded)."""
    import base64

    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(
            [int(n) for n in str(value.get("shape", "-1")).split(",")])
    return np.asarray(value, dtype=float)


@pytest.fixture
def entries():
    return [
        entry(1, 0.95, 0.8, optimizer="adam", learning_rate=0.001, width=128),
        entry(2, 0.91, None, optimizer="adam", learning_rate=0.01, width=16, activation="tanh"),
        entry(3, 0.85, 0.7, optimizer="sgd", learning_rate=0.5, width=512, batch_mode=BATCH_FULL),
        entry(4, 0.10, 0.1, optimizer="sgd", learning_rate=10.0, width=64, layers=2),
        Entry(5, "old", "", 0.5, {}, 0.0),  # an entry made before settings were stored
        entry(6, 0.6, None, optimizer="rmsprop", learning_rate="oops"),  # not a number
    ]


def test_room_points_are_the_entries_settings_as_columns(entries):
    points = room_points(entries)
    assert points.n == 6
    np.testing.assert_array_equal(points.accuracy, [0.95, 0.91, 0.85, 0.10, 0.5, 0.6])
    np.testing.assert_array_equal(points.room_accuracy[[0, 2, 3]], [0.8, 0.7, 0.1])
    assert np.isnan(points.room_accuracy[[1, 4, 5]]).all()
    np.testing.assert_array_equal(points.numbers["learning_rate"][:5], [0.001, 0.01, 0.5, 10.0, 0.001])
    assert np.isnan(points.numbers["learning_rate"][5])
    np.testing.assert_array_equal(points.numbers["width"][:5], [128, 16, 512, 64, 128])
    assert points.full_batch.tolist() == [False, False, True, False, False, False]
    assert np.isnan(points.numbers["batch_size"][2]) and points.numbers["batch_size"][0] == 128
    assert points.labels("optimizer") == ("Adam", "Adam", "SGD", "SGD", "Adam", "RMSprop")
    assert points.labels("activation")[1] == "tanh"


def test_what_worked_ranks_groups_by_median_accuracy(entries):
    summary = what_worked(room_points(entries))
    assert [(s.label, s.runs) for s in summary] == [("Adam", 3), ("RMSprop", 1), ("SGD", 2)]
    assert summary[0].median == pytest.approx(0.91) and summary[0].best == pytest.approx(0.95)
    assert summary[2].median == pytest.approx(0.475)


def test_the_room_map_draws_every_run_by_colour_and_size(entries):
    points = room_points(entries)
    figure = json.loads(room_figures.room_map_figure(points, "optimizer").to_json())
    traces = {t["name"]: t for t in figure["data"]}
    assert list(traces)[:2] == ["SGD (2)", "Adam (3)"]  # the Train page's order; RMSprop has no learning rate
    adam = traces["Adam (3)"]
    np.testing.assert_allclose(decoded(adam["y"]), [95, 91, 50], rtol=1e-6)
    rates = decoded(adam["x"])
    np.testing.assert_allclose(rates / np.array([0.001, 0.01, 0.001]), room_figures.spread(6)[[0, 1, 4]], rtol=1e-6)
    assert (np.abs(np.log10(rates / [0.001, 0.01, 0.001])) <= room_figures.JITTER_DECADES + 1e-9).all()
    np.testing.assert_allclose(decoded(adam["marker"]["size"]),
                               room_figures.marker_size(np.array([128, 16, 128])), rtol=1e-6)
    np.testing.assert_allclose(decoded(adam["customdata"])[:, 0], [0.001, 0.01, 0.001], rtol=1e-6)
    # colours follow the Train page's list (sgd, momentum, nesterov, rmsprop, adam), whoever is on the map
    assert traces["SGD (2)"]["marker"]["color"] == OKABE_ITO[0] and adam["marker"]["color"] == OKABE_ITO[4]
    assert [t["name"] for t in figure["data"][-3:]] == ["16 units", "128 units", "512 units"]  # the size legend
    assert figure["layout"]["xaxis"]["type"] == "log"
    assert figure["layout"]["xaxis"]["title"]["text"] == "learning rate (log scale)"
    assert figure["layout"]["yaxis"]["title"]["text"] == "test accuracy (MNIST test set)"
    assert "name 1" not in json.dumps(figure)  # names stay out of the figure
    by_activation = room_figures.room_map_figure(points, "activation")
    assert [t.name for t in by_activation.data][:2] == ["ReLU (4)", "tanh (1)"]


def test_the_same_runs_land_on_the_same_spot_at_every_refresh():
    np.testing.assert_array_equal(room_figures.spread(50)[:20], room_figures.spread(20))
    assert len(set(np.round(room_figures.spread(50), 9))) == 50


def test_the_parallel_view_has_an_axis_per_setting_and_accuracy_last(entries):
    points = room_points(entries)
    figure = json.loads(room_figures.settings_parallel_figure(points).to_json())
    dimensions = figure["data"][0]["dimensions"]
    assert [d["label"].replace("<br>", " ") for d in dimensions] == [
        "learning rate", "optimiser", "activation", "hidden width", "hidden layers", "conv layers", "epochs",
        "batch size", "L2", "test accuracy %"]
    kept = [0, 1, 2, 3, 4]  # the run whose learning rate is not a number is left out
    np.testing.assert_allclose(decoded(dimensions[-1]["values"]), 100 * points.accuracy[kept], rtol=1e-6)
    np.testing.assert_allclose(decoded(dimensions[0]["values"]), np.log10([0.001, 0.01, 0.5, 10.0, 0.001]),
                               rtol=1e-6)
    assert dimensions[1]["ticktext"] == ["SGD", "Adam"]
    np.testing.assert_array_equal(decoded(dimensions[1]["values"]), [1, 1, 0, 0, 1])
    np.testing.assert_allclose(decoded(dimensions[7]["values"])[2], 12.0)  # full batch at the top (2**12)
    np.testing.assert_allclose(decoded(figure["data"][0]["line"]["color"]), 100 * points.accuracy[kept], rtol=1e-6)


def test_two_thousand_runs_make_compact_figures():
    rng = random.Random(0)
    entries = [entry(i, rng.uniform(0.1, 0.98), rng.uniform(0.5, 0.9), learning_rate=rng.choice(LEARNING_RATES),
                     optimizer=rng.choice(["sgd", "adam", "momentum"]), width=rng.choice([16, 64, 256]),
                     batch_mode=rng.choice([BATCH_FULL, BATCH_MINI])) for i in range(2000)]
    points = room_points(entries)
    scatter = room_figures.room_map_figure(points).to_json()
    parallel = room_figures.settings_parallel_figure(points).to_json()
    assert sum(len(decoded(t["y"])) for t in json.loads(scatter)["data"][:3]) == 2000
    # float32 arrays: 2,000 runs stay small enough to send on every refresh
    assert len(scatter) < 150_000 and len(parallel) < 150_000


def test_projector_curves_are_larger_thicker_and_high_contrast():
    normal = training.loss_figure([1, 2], [1.0, 0.5], [1.1, 0.7], [1.2, 1.0, 0.8, 0.6], steps_per_epoch=2)
    big = training.loss_figure([1, 2], [1.0, 0.5], [1.1, 0.7], [1.2, 1.0, 0.8, 0.6], steps_per_epoch=2,
                               projector=True)
    assert [t.y.tolist() for t in big.data] == [t.y.tolist() for t in normal.data]  # the same curves
    assert big.layout.font.size == PROJECTOR_FONT_SIZE and normal.layout.font.size is None
    assert big.data[1].line.width == 4 and big.data[2].line.dash == "dash" and big.data[1].line.color == "#0072B2"
    assert big.layout.height >= training.PROJECTOR_HEIGHT and big.layout.xaxis.linecolor == "#000000"
    accuracy = training.accuracy_figure([1, 2], [0.5, 0.75], [0.25, 0.5], projector=True)
    assert accuracy.data[1].y.tolist() == [25.0, 50.0] and accuracy.data[1].line.color == "#D55E00"
    assert accuracy.layout.yaxis.title.text == "accuracy" and accuracy.layout.xaxis.title.text == "epoch"
    assert accuracy.data[0].mode == "lines+markers"
    long_run = training.accuracy_figure(range(1, 101), [0.5] * 100, [0.4] * 100, projector=True)
    assert [t.mode for t in long_run.data] == ["lines", "lines"]  # 100 markers would merge into a band
