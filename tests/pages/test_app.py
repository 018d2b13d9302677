"""The Streamlit app without a browser: pages with AppTest, figures and settings directly.

``run_every`` fragments never fire under AppTest, so the tests call ``at.run()``
again and again while a job trains, as a browser's polling would.
"""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from app_support import (  # noqa: F401 (restore_blas_threads is a fixture)
    TIMEOUT,
    decode,
    open_app,
    pending,
    restore_blas_threads,
    run_until_done,
    set_settings,
)
from streamlit.testing.v1 import AppTest

from lab import settings
from lab.runs import Run, runs_table
from nn.training import History
from ui.figures.training import accuracy_figure, downsample, loss_figure

PAGES = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "pages").glob("*.py"))


def chart_traces(at: AppTest, index: int) -> dict[str, np.ndarray]:
    """{trace name: y values} of the page's plotly chart number ``index`` (0 = loss)."""
    charts = at.get("plotly_chart")
    if len(charts) <= index:
        return {}
    spec = json.loads(charts[index].proto.spec)
    return {trace["name"]: decode(trace["y"]) for trace in spec["data"]}


# ---------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------


def test_app_starts_on_home_with_sidebar():
    at = open_app()
    assert [t.value for t in at.title] == ["Digit Lab"]
    assert at.button(key="train_default").label == "Train a good default model"
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "MNIST 5k subset" in sidebar and "4,500 training and 500 validation" in sidebar
    assert "None yet" in sidebar


def test_dataset_description_matches_the_data():
    from datasets import load_bundled
    from lab.data import DATASETS
    from ui.state import split_data

    assert DATASETS["bundled"].n_images == load_bundled().n_samples
    data = split_data("bundled")
    assert data.n_validation == round(DATASETS["bundled"].n_images * settings.VALIDATION_FRACTION)
    assert data.n_train + data.n_validation == DATASETS["bundled"].n_images
    assert not data.train_images.flags.writeable  # shared by every user: read-only


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(page):
    at = open_app(page)
    assert at.title, f"{page} shows no title"
    assert len(at.sidebar.caption) >= 2  # the sidebar is drawn on every page


def test_train_page_controls():
    at = open_app("train.py")
    assert at.slider(key="train_epochs").max == settings.MAX_EPOCHS
    assert at.slider(key="train_width").min == 1 and at.slider(key="train_width").max == 512
    rates = at.select_slider(key="train_learning_rate").options
    assert rates[0] == "0.0001" and rates[-1] == "10"
    assert not at.button(key="start").disabled and at.button(key="stop").disabled
    assert any("apply to the next run" in c.value for c in at.caption)


def test_start_trains_a_model_and_the_curves_grow():
    at = open_app("train.py")
    set_settings(at, epochs=40, width=32, learning_rate=0.002, batch_mode=settings.BATCH_MINI, batch_size=32)
    at.button(key="start").click().run()
    job = at.session_state["job"]
    assert job.config.epochs == 40 and job.config.hidden_sizes == (32,)
    assert job.config.learning_rate == 0.002 and job.config.batch_size == 32
    assert at.button(key="start").disabled and not at.button(key="stop").disabled

    lengths = []  # number of epoch points on the loss chart, run after run
    deadline = time.monotonic() + TIMEOUT
    while pending(at):
        assert time.monotonic() < deadline
        time.sleep(0.15)
        at.run()
        assert not at.exception, at.exception
        lengths.append(len(chart_traces(at, 0).get("train", [])))
    assert len(set(lengths)) >= 3, f"the loss curve did not grow step by step: {lengths}"
    assert lengths == sorted(lengths)

    model = at.session_state["model"]
    assert model.status == "completed" and model.epochs_done == 40
    assert model.validation_accuracy > 0.8
    # The charts show exactly the run's history.
    loss, accuracy = chart_traces(at, 0), chart_traces(at, 1)
    np.testing.assert_allclose(loss["train"], model.history.train_loss)
    np.testing.assert_allclose(loss["validation"], model.history.validation_loss)
    np.testing.assert_allclose(accuracy["validation"], 100 * np.asarray(model.history.validation_accuracy))
    assert "Done" in at.get("progress")[0].proto.text
    assert "40/40" in at.get("progress")[0].proto.text
    assert at.success and "Trained 40 epochs" in at.success[0].value
    assert not at.button(key="start").disabled
    # The sidebar and the run history show the new model.
    assert "784-32-10 ReLU" in " ".join(c.value for c in at.sidebar.caption)
    table = at.dataframe[0].value
    assert list(table["status"]) == ["completed"] and list(table["epochs"]) == ["40/40"]


def test_stop_stops_and_keeps_the_model():
    at = open_app("train.py")
    set_settings(at, epochs=500, width=256, batch_mode=settings.BATCH_MINI, batch_size=8)
    at.button(key="start").click().run()
    job = at.session_state["job"]
    deadline = time.monotonic() + TIMEOUT
    while job.snapshot().step < 20:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    at.run()
    assert "left" in at.get("progress")[0].proto.text  # epoch, loss, time left while running
    at.button(key="stop").click().run()
    run_until_done(at)
    assert job.snapshot().status == "stopped"
    assert job.snapshot().epoch < 500
    assert at.info and "Stopped by the user" in at.info[0].value
    assert at.session_state["model"].status == "stopped"
    assert list(at.dataframe[0].value["status"]) == ["stopped"]


def test_divergent_learning_rate_shows_a_warning():
    at = open_app("train.py")
    set_settings(at, epochs=5, learning_rate=10.0, optimizer="sgd")
    at.button(key="start").click().run()
    run_until_done(at)
    assert not at.exception
    assert len(at.warning) == 1
    assert "diverged" in at.warning[0].value and "learning rate" in at.warning[0].value
    assert at.session_state["model"] is None  # a diverged run does not become the model...
    runs = at.session_state["runs"]
    assert [r.status for r in runs] == ["diverged"]  # ...but it is in the run history
    assert not at.button(key="start").disabled


def test_training_continues_across_pages_and_setting_changes():
    at = open_app("train.py")
    set_settings(at, epochs=500, width=128, batch_mode=settings.BATCH_MINI, batch_size=16)
    at.button(key="start").click().run()
    job = at.session_state["job"]
    at.slider(key="train_width").set_value(64).run()  # applies to the next run only
    assert at.session_state["job"] is job and job.config.hidden_sizes == (128,)
    at.switch_page("pages/home.py").run()
    step = job.snapshot().step
    time.sleep(0.3)
    at.run()
    assert job.snapshot().status == "running" and job.snapshot().step > step
    assert at.sidebar.get("progress"), "the sidebar shows the running job on other pages"
    at.switch_page("pages/train.py").run()
    assert at.slider(key="train_width").value == 64  # settings kept while away
    assert at.session_state["job"] is job and at.get("progress")
    at.button(key="stop").click().run()
    run_until_done(at)


def test_reset_clears_the_model_but_not_the_history():
    at = open_app("train.py")
    set_settings(at, epochs=2, width=16)
    at.button(key="start").click().run()
    run_until_done(at)
    assert at.session_state["model"] is not None
    at.button(key="reset").click().run()
    assert at.session_state["model"] is None and at.session_state["job"] is None
    assert len(at.session_state["runs"]) == 1 and len(at.dataframe) == 1
    assert "None yet" in " ".join(c.value for c in at.sidebar.caption)


def test_two_sessions_do_not_share_a_model():
    first = open_app("train.py")
    second = open_app("train.py")
    set_settings(first, epochs=2, width=16)
    first.button(key="start").click().run()
    run_until_done(first)
    second.run()
    assert first.session_state["model"] is not None
    assert second.session_state["model"] is None and second.session_state["job"] is None
    assert second.session_state["runs"] == []
    assert "None yet" in " ".join(c.value for c in second.sidebar.caption)
    assert not second.dataframe


def test_home_button_trains_a_good_default_model():
    at = open_app()
    at.button(key="train_default").click().run()
    assert [t.value for t in at.title] == ["Train"]  # it switched to the Train page
    assert at.slider(key="train_width").value == 128
    run_until_done(at)
    model = at.session_state["model"]
    assert model.status == "completed" and model.epochs_done == settings.GOOD_DEFAULT["epochs"]
    assert model.validation_accuracy >= 0.88
    assert model.test_accuracy >= 0.92, model.test_accuracy  # on the shipped real test set


# ---------------------------------------------------------------------------------
# Figures, settings, run table: plain functions
# ---------------------------------------------------------------------------------


def test_loss_figure_data_equals_the_history():
    epochs, train, validation = [1, 2, 3], [2.0, 1.0, 0.5], [2.1, 1.2, 0.7]
    steps = [2.3, 2.0, 1.5, 1.2, 1.0, 0.8]
    figure = loss_figure(epochs, train, validation, steps, steps_per_epoch=2)
    traces = {trace.name: trace for trace in figure.data}
    assert set(traces) == {"train, per step", "train", "validation"}
    np.testing.assert_array_equal(traces["train"].x, epochs)
    np.testing.assert_array_equal(traces["train"].y, train)
    np.testing.assert_array_equal(traces["validation"].y, validation)
    np.testing.assert_array_equal(traces["train, per step"].y, steps)
    np.testing.assert_array_equal(traces["train, per step"].x, [0.5, 1, 1.5, 2, 2.5, 3])


def test_accuracy_figure_data_equals_the_history_in_percent():
    figure = accuracy_figure([1, 2], [0.5, 0.75], [0.25, 0.5])
    traces = {trace.name: trace for trace in figure.data}
    np.testing.assert_array_equal(traces["train"].y, [50, 75])
    np.testing.assert_array_equal(traces["validation"].y, [25, 50])


def test_figures_skip_missing_validation():
    nan = float("nan")
    figure = loss_figure([1, 2], [1.0, 0.5], [nan, nan])
    assert [trace.name for trace in figure.data] == ["train"]
    assert [trace.name for trace in accuracy_figure([], [], []).data] == ["train"]


def test_long_step_curves_are_downsampled_by_bin_means():
    values = np.arange(10_000, dtype=float)
    positions, means = downsample(values, max_points=100)
    assert len(means) == 100
    np.testing.assert_allclose(means, positions - 1)  # mean of a bin of 0..n-1 sits at its centre
    figure = loss_figure([1], [1.0], step_loss=values, steps_per_epoch=10_000, max_step_points=100)
    assert len(figure.data[0].y) == 100


def test_settings_make_a_config():
    config = settings.to_config(settings.GOOD_DEFAULT)
    assert config.hidden_sizes == (128,) and config.optimizer == "adam" and config.batch_size == 128
    full = settings.to_config({**settings.GOOD_DEFAULT, "batch_mode": settings.BATCH_FULL, "layers": 2, "width": 7})
    assert full.batch_size is None and full.hidden_sizes == (7, 7)
    assert settings.LEARNING_RATES[0] == 1e-4 and settings.LEARNING_RATES[-1] == 10
    assert all(b / a < 3 for a, b in zip(settings.LEARNING_RATES, settings.LEARNING_RATES[1:]))  # log-spaced
    for bad, message in [({"epochs": 0}, "epochs"), ({"width": 600}, "width"),
                         ({"learning_rate": -1}, "learning rate"), ({"optimizer": "magic"}, "optimizer")]:
        with pytest.raises(ValueError, match=message):
            settings.to_config({**settings.GOOD_DEFAULT, **bad})


def test_weight_snapshots_stay_within_budget():
    for epochs in (1, 15, 100, 500):
        for hidden in ((10,), (128,), (512,) * 4):
            interval = settings.snapshot_interval(epochs, hidden)
            kept = epochs // interval + 1  # plus the one before training
            assert kept <= settings.MAX_SNAPSHOTS + 1
            assert kept <= 3 or (kept - 1) * 4 * settings.n_parameters(hidden) <= settings.SNAPSHOT_BUDGET_BYTES
    assert settings.snapshot_interval(15, (128,)) == 1  # the default run keeps every epoch
    assert settings.to_config({**settings.GOOD_DEFAULT, "epochs": 500, "width": 512, "layers": 4}).snapshot_every > 10


def test_runs_table_lists_runs_newest_first():
    config = settings.to_config(settings.GOOD_DEFAULT)
    history = History(epoch=[1, 2], train_accuracy=[0.5, 0.9], validation_accuracy=[0.4, 0.8])
    runs = [Run(1, config, "completed", "", None, history, "bundled", 1.0, test_accuracy=0.85),
            Run(2, config, "diverged", "", None, History(), "bundled", 0.1)]
    table = runs_table(runs)
    assert list(table["run"]) == [2, 1]
    assert list(table["status"]) == ["diverged", "completed"]
    assert list(table["validation acc."]) == ["", "80.0%"]
    assert list(table["test acc."]) == ["", "85.0%"]
    assert list(table["epochs"]) == ["0/15", "2/15"]
