"""Nothing lost and bad settings: a reload restores the lab, a run survives page
switches and a reload, out-of-range settings are handled, one session's crash stays its own.

A reload is a new Streamlit session: here, a new AppTest given the first one's ``lab``
query parameter (the browser test in test_browser_lab.py does the real thing).
"""

import time

import numpy as np
import pytest
from app_support import TIMEOUT, open_app, pending, restore_blas_threads, set_settings  # noqa: F401 (fixture)
from app_support import run_until_done as _run_until_done
from streamlit.testing.v1 import AppTest

from lab import lab_store, settings

SMALL = dict(epochs=3, width=16, batch_mode=settings.BATCH_MINI, batch_size=128)


def run_until_done(at, timeout=TIMEOUT) -> AppTest:
    return _run_until_done(at, timeout, poll=0.05)


def train(at, **values) -> AppTest:
    set_settings(at, **{**SMALL, **values})
    at.button(key="start").click().run()
    assert not at.exception, at.exception
    return run_until_done(at)


def sidebar_text(at) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def errors(at) -> str:
    return " ".join(e.value for e in at.error)


# -- reload ----------------------------------------------------------------------------


def test_a_reload_restores_run_history_and_current_model():
    at = open_app("train.py")
    lab = at.query_params["lab"]
    assert lab_store.is_lab_id(lab) and at.session_state["lab_id"] == lab
    train(at, width=24)
    train(at, width=16)
    model = at.session_state["model"]
    assert [r.number for r in at.session_state["runs"]] == [1, 2]

    reloaded = open_app(lab=lab)  # a new session with the same address
    assert reloaded.session_state["lab_id"] == lab and reloaded.query_params["lab"] == lab
    assert [r.number for r in reloaded.session_state["runs"]] == [1, 2]
    assert reloaded.session_state["model"].number == 2
    np.testing.assert_array_equal(reloaded.session_state["model"].network.weights[0],
                                  model.network.weights[0])
    assert "784-16-10 ReLU, run 2" in sidebar_text(reloaded)
    assert reloaded.session_state["settings"]["width"] == 16  # the settings came back too
    reloaded.switch_page("pages/train.py").run()
    table = reloaded.dataframe[0].value
    assert list(table["run"]) == [2, 1] and list(table["network"])[1].startswith("784-24-10")
    assert reloaded.slider(key="train_width").value == 16
    # the restored lab goes on numbering runs
    train(reloaded)
    assert [r.number for r in reloaded.session_state["runs"]] == [1, 2, 3]


def test_an_unknown_or_forged_lab_starts_fresh_with_a_note_and_keeps_other_params():
    for forged in ("A" * 22, "../../etc/passwd"):
        at = open_app(lab=forged, other="kept")
        new = at.query_params["lab"]
        assert new != forged and lab_store.is_lab_id(new)  # an id someone chose is never adopted
        assert at.query_params["other"] == "kept"
        assert at.session_state["runs"] == [] and at.session_state["model"] is None
        assert any("unknown or has expired" in i.value for i in at.sidebar.info)
    plain = open_app()
    assert not plain.sidebar.info  # no note without a lab link


def test_two_sessions_get_different_labs():
    assert open_app().query_params["lab"] != open_app().query_params["lab"]


def test_a_run_in_progress_survives_page_switches():
    at = open_app("train.py")
    set_settings(at, epochs=300, width=64, batch_mode=settings.BATCH_MINI, batch_size=16)
    at.button(key="start").click().run()
    job = at.session_state["job"]
    for page in ("home.py", "weights.py", "train.py", "home.py"):
        at.switch_page(f"pages/{page}").run()
        assert not at.exception, at.exception
        assert at.session_state["job"] is job and pending(at) and not job.done
    at.switch_page("pages/train.py").run()
    at.button(key="stop").click().run()
    run_until_done(at)
    assert at.session_state["runs"][-1].status == "stopped"


def test_a_run_stopped_by_a_reload_reaches_the_run_history():
    at = open_app("train.py")
    lab = at.query_params["lab"]
    set_settings(at, epochs=400, width=64, batch_mode=settings.BATCH_MINI, batch_size=16)
    at.button(key="start").click().run()
    job = at.session_state["job"]
    deadline = time.monotonic() + TIMEOUT
    while job.snapshot().step < 5:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    # The tab is reloaded: Streamlit ends the old session, whose on_release stops its jobs
    # (AppTest never ends a session, so do what on_release does). Nobody reruns it again.
    job.stop()
    assert job.join(10)
    for _ in range(100):  # the completion callback runs right after `done` is set
        if lab_store.default_store().load(lab)["job_collected"]:
            break
        time.sleep(0.01)
    saved = lab_store.default_store().load(lab)
    assert saved["job_collected"] and saved["runs"][-1].status == "stopped"
    reloaded = open_app(lab=lab)
    runs = reloaded.session_state["runs"]
    assert [r.number for r in runs] == [1] and runs[0].status == "stopped"
    assert runs[0].epochs_done < 400 and reloaded.session_state["model"].number == 1
    assert "run 1 (stopped)" in sidebar_text(reloaded)


# -- bad settings ----------------------------------------------------------------------


def test_learning_rate_10_diverges_with_a_warning_and_loses_nothing():
    at = open_app("train.py")
    train(at)
    model = at.session_state["model"]
    train(at, learning_rate=10.0, epochs=5, optimizer="sgd")
    runs = at.session_state["runs"]
    assert [r.status for r in runs] == ["completed", "diverged"]
    assert any("Lower the learning rate" in w.value for w in at.warning)
    assert at.session_state["model"] is model  # the good model stays current
    assert not at.button(key="start").disabled
    assert not at.exception


def test_learning_rate_options_end_at_10():
    assert settings.LEARNING_RATES[0] == 1e-4 and settings.LEARNING_RATES[-1] == 10.0
    assert max(settings.LEARNING_RATES) == 10.0 and len(set(settings.LEARNING_RATES)) == len(settings.LEARNING_RATES)


@pytest.mark.parametrize("name,value,shown,message", [
    ("learning_rate", 1e-6, 0.0001, "Learning rate 1e-06"),
    ("learning_rate", 1e3, 10.0, "Learning rate 1000"),
    ("epochs", 0, 1, "Epochs 0 is outside 1 … 500"),
    ("width", 0, 1, "Hidden width 0"),
    ("width", 10_000, 512, "Hidden width 10000"),
    ("width", "wide", 128, "Hidden width 'wide'"),
])
def test_a_setting_that_did_not_come_from_the_controls_is_clamped_with_a_message(
        name, value, shown, message):
    at = open_app()  # on Home: the Train page's controls do not exist yet
    at.session_state["settings"] = {**settings.DEFAULT_SETTINGS, name: value}
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    control = at.select_slider(key=f"train_{name}") if name == "learning_rate" else \
        at.slider(key=f"train_{name}")
    assert control.value == shown
    assert message in errors(at) and "Setting changed" in errors(at)
    assert at.session_state["settings"][name] == shown


def test_start_refuses_a_learning_rate_outside_the_slider():
    at = open_app("train.py")
    train(at)
    at.session_state["settings"]["learning_rate"] = 1e-6  # arrives past the control
    from ui import state

    # the Train page would re-store its control's value; call the callback's logic directly
    at.switch_page("pages/home.py").run()
    at.session_state["settings"] = {**at.session_state["settings"], "learning_rate": 1e-6}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(state, "st", _FakeSt(at))
        state.start_training()
    assert "learning rate 1e-06 is outside 0.0001 … 10" in at.session_state["notice"]
    assert len(at.session_state["runs"]) == 1 and not pending(at)


class _FakeSt:
    """Just enough of `st` for state.start_training outside a script run."""

    def __init__(self, at):
        self.session_state = _Mapping(at.session_state)
        self.query_params = {"lab": at.session_state["lab_id"]}


class _Mapping(dict):
    def __init__(self, session_state):
        super().__init__()
        self._s = session_state

    def __getitem__(self, key):
        return self._s[key]

    def __setitem__(self, key, value):
        self._s[key] = value

    def __contains__(self, key):
        return key in self._s

    def get(self, key, default=None):
        return self._s[key] if key in self._s else default

    def setdefault(self, key, default=None):
        if key not in self._s:
            self._s[key] = default
        return self._s[key]


def test_width_1_trains_or_stops_with_a_message():
    at = open_app("train.py")
    train(at, width=1, epochs=2, activation="tanh")
    run = at.session_state["runs"][-1]
    assert run.status == "completed" and run.architecture.startswith("784-1-10")
    assert at.session_state["model"] is run or at.session_state["model"].number == run.number
    # one ReLU unit can die at once: the run then ends with a clear warning, no crash
    train(at, width=1, epochs=2, activation="relu")
    run = at.session_state["runs"][-1]
    assert run.status in ("completed", "diverged") and not at.exception
    if run.status == "diverged":
        assert any("died" in w.value for w in at.warning)
        assert at.session_state["model"].number == 1  # the tanh model stays current


def test_batch_larger_than_the_data_trains_full_batch_with_a_note():
    from lab.data import SplitData

    rng = np.random.default_rng(0)
    small = SplitData("tiny", "tiny upload", rng.random((100, 784), dtype=np.float32),
                      rng.integers(0, 10, 100), rng.random((20, 784), dtype=np.float32),
                      rng.integers(0, 10, 20), 10)
    at = open_app()
    at.session_state["session_dataset"] = small
    at.switch_page("pages/train.py").run()
    train(at, batch_size=500, epochs=2)
    run = at.session_state["runs"][-1]
    assert run.status == "completed" and run.config.batch_size is None
    assert run.history.step_loss and len(run.history.step_loss) == 2  # one step per epoch
    assert any("larger than the 100 training images" in i.value and "full batch" in i.value
               for i in at.info)


def test_a_second_start_while_running_is_ignored():
    import threading

    from ui import state

    at = open_app("train.py")
    set_settings(at, epochs=300, width=64, batch_mode=settings.BATCH_MINI, batch_size=16)
    at.button(key="start").click().run()
    job = at.session_state["job"]
    assert at.button(key="start").disabled
    # A click that arrives anyway (a stale page, two quick clicks) reaches the callbacks:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(state, "st", _FakeSt(at))
        state.start_training()
        state.train_default_model()
    at.run()
    assert at.session_state["job"] is job and at.session_state["next_run"] == 2
    assert [t.name for t in threading.enumerate()].count("train-run 2") == 0
    at.switch_page("pages/home.py").run()
    assert at.button(key="train_default").disabled
    job.stop()
    run_until_done(at)
    assert len(at.session_state["runs"]) == 1


# -- isolation -------------------------------------------------------------------------


def test_a_crash_in_one_sessions_job_does_not_affect_another(monkeypatch):
    import lab.jobs

    real_train = lab.jobs.train

    def train_or_crash(network, images, labels, config, **kwargs):
        if config.hidden_sizes == (3,):
            raise MemoryError("simulated crash in this job only")
        return real_train(network, images, labels, config, **kwargs)

    monkeypatch.setattr(lab.jobs, "train", train_or_crash)
    crashing, healthy = open_app("train.py"), open_app("train.py")
    set_settings(crashing, **{**SMALL, "width": 3})
    set_settings(healthy, **{**SMALL, "width": 20})
    crashing.button(key="start").click().run()
    healthy.button(key="start").click().run()
    run_until_done(crashing)
    run_until_done(healthy)
    assert crashing.session_state["runs"][-1].status == "failed"
    assert "simulated crash" in errors(crashing) and crashing.session_state["model"] is None
    assert healthy.session_state["runs"][-1].status == "completed"
    assert healthy.session_state["model"].architecture.startswith("784-20-10")
    assert not healthy.error and not healthy.exception
    # and the crashed session can train again
    monkeypatch.setattr(lab.jobs, "train", real_train)
    train(crashing, width=3)
    assert crashing.session_state["runs"][-1].status == "completed"


# -- a real browser reload ---------------------------------------------------------------


def test_browser_reload_keeps_the_model_and_the_run_history():
    """Train on Home with the one-click button, reload the page: the sidebar still shows
    the model, and the Train page's run history still lists the run."""
    from browser_support import SCREENSHOTS, launched_chromium, serve, wait_for_progress

    with launched_chromium() as browser, serve("server_reload.log") as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("button", name="Train a good default model").click()
        wait_for_progress(page, "Done", "15/15")
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("784-128-10 ReLU, run 1").wait_for(timeout=30_000)
        assert "lab=" in page.url and "/train" in page.url
        lab = page.url.split("lab=")[1].split("&")[0]

        page.reload()  # a new Streamlit session
        sidebar.get_by_text("784-128-10 ReLU, run 1").wait_for(timeout=30_000)
        assert "15 epochs" in sidebar.inner_text()
        assert f"lab={lab}" in page.url
        page.get_by_role("heading", name="Run history").wait_for(timeout=30_000)
        table = page.locator('[data-testid="stDataFrame"]')
        table.wait_for(timeout=30_000)
        assert page.get_by_text("Every run of this session is listed here").count() == 0
        page.wait_for_timeout(500)  # the grid paints its cells after it appears
        table.screenshot(path=SCREENSHOTS / "6_run_history_after_reload.png")
        # the grid's accessible table holds the cells' text
        cells = table.inner_text() + " ".join(
            table.locator("td, [role=gridcell]").all_inner_texts())
        assert "completed" in cells and "784-128-10" in cells

        # The address without the lab (a new visitor): a fresh lab.
        page.goto(url)
        sidebar.get_by_text("None yet").wait_for(timeout=30_000)
        assert "lab=" in page.url and lab not in page.url
