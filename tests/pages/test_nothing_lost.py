"""Nothing lost and bad settings: a reload (or another server process) restores the lab
from the database, a run survives page switches, a reload and a closed page, two tabs of a
lab number their runs apart, a run interrupted by a dead process can be continued,
out-of-range settings are handled, one session's crash stays its own.

A reload is a new Streamlit session: here, a new AppTest given the first one's ``lab``
query parameter; another server process is a lab store with an empty memory and another
process identity (tests/browser/test_browser_nothing_lost.py does the real things in
Chromium: a reload, a server killed, a network blip).
"""

import os
import threading
import time

import numpy as np
import pytest
from app_support import TIMEOUT, open_app, pending, restore_blas_threads, set_settings  # noqa: F401 (fixture)
from app_support import run_until_done as _run_until_done
from sqlalchemy import func, select, update
from streamlit.testing.v1 import AppTest

from lab import lab_records, lab_store, processes, settings
from lab.lab_store import LabStore
from lab.schema import lab_runs, labs
from lab.session_jobs import default_holders

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


@pytest.fixture
def another_process(monkeypatch):
    """Call it to make the app's lab store that of another server process of this machine
    (nothing of the lab in its memory): what a restart or nginx's failover gives a reload."""
    def switch():
        monkeypatch.setattr(lab_store, "_default", LabStore(process=processes.identity(os.getppid())))
    return switch


def database():
    return lab_store.default_store().database


def count_labs() -> int:
    with database().read() as connection:
        return connection.scalar(select(func.count()).select_from(labs))


def start_a_long_run(at):
    """Start a run of several seconds on the Train page; (its lab, its job) once it trains."""
    set_settings(at, epochs=400, width=64, batch_mode=settings.BATCH_MINI, batch_size=16)
    at.button(key="start").click().run()
    job = at.session_state["job"]
    wait_for_steps(job)
    return at.query_params["lab"], job


def wait_for_steps(job, steps=5):
    deadline = time.monotonic() + TIMEOUT
    while job.snapshot().step < steps:
        assert time.monotonic() < deadline, "the job did not train"
        time.sleep(0.02)


# -- reload ----------------------------------------------------------------------------


def test_a_reload_restores_run_history_and_current_model(another_process):
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

    another_process()  # a restart, or nginx sending the reload to another process
    elsewhere = open_app("train.py", lab=lab)
    progress = elsewhere.get("progress")[0].proto.text  # the latest run's curves are drawn again
    assert progress.startswith("Done · Epoch 3/3") and len(elsewhere.get("plotly_chart")) == 2
    runs = elsewhere.session_state["runs"]
    assert [r.number for r in runs] == [1, 2, 3] and elsewhere.session_state["model"].number == 3
    np.testing.assert_array_equal(runs[1].network.weights[0], model.network.weights[0])
    assert runs[1].history.validation_accuracy == pytest.approx(model.history.validation_accuracy)
    assert "784-16-10 ReLU, run 3" in sidebar_text(elsewhere)
    assert list(elsewhere.dataframe[0].value["run"]) == [3, 2, 1]


def test_a_page_load_stores_no_lab_and_a_change_does():
    before = count_labs()
    for page in (None, "train.py", "weights.py"):
        open_app(page)
    assert count_labs() == before  # 200 page loads no longer push anyone's lab out
    at = open_app("train.py")
    set_settings(at, width=40)
    assert count_labs() == before + 1
    lab = at.query_params["lab"]
    assert open_app("train.py", lab=lab).slider(key="train_width").value == 40


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


def test_a_run_in_progress_at_a_reload_trains_on_and_the_reloaded_page_takes_it():
    lab, job = start_a_long_run(open_app("train.py"))
    holders = default_holders()
    first_tab = holders.owner(job)
    reloaded = open_app("train.py", lab=lab)  # the reload: a new session finds the job
    assert reloaded.session_state["job"] is job and pending(reloaded)
    assert reloaded.button(key="start").disabled and "Run 1" not in sidebar_text(reloaded)
    # Streamlit ends the old session (AppTest never does: do what its on_release does). AppTest's
    # sessions share one session-scoped resource, so the job is orphaned until the reloaded
    # page's next run (or poll) holds it again, as a page that reconnects does.
    holders.release(first_tab)
    assert holders.orphaned(job)
    steps = job.snapshot().step
    time.sleep(0.2)
    reloaded.run()
    assert holders.owner(job) is not None and not holders.orphaned(job)
    assert not job.done and not job.stop_requested  # it trained on
    assert job.snapshot().step > steps and "Epoch" in reloaded.get("progress")[0].proto.text  # live
    reloaded.button(key="stop").click().run()
    run_until_done(reloaded)
    runs = reloaded.session_state["runs"]
    assert [r.number for r in runs] == [1] and runs[0].status == "stopped"
    assert [r.number for r in open_app(lab=lab).session_state["runs"]] == [1]


def test_a_run_whose_page_never_comes_back_stops_after_the_grace_period(monkeypatch):
    holders = default_holders()
    monkeypatch.setattr(holders, "grace", 0.3)
    lab, job = start_a_long_run(open_app("train.py"))
    holders.release(holders.owner(job))  # the tab closed, and nobody came back
    assert job.join(TIMEOUT)
    assert job.snapshot().message.startswith("Stopped: the page was closed, and no page of this lab "
                                             "came back within 0.3 s.")
    reloaded = open_app("train.py", lab=lab)
    (run,) = reloaded.session_state["runs"]
    assert run.status == "stopped" and run.epochs_done < 400 and "the page was closed" in run.message
    assert "user" not in run.message and reloaded.session_state["model"].number == 1
    assert list(reloaded.dataframe[0].value["status"]) == ["stopped"]


def test_two_tabs_of_one_lab_number_their_runs_apart_and_a_reload_shows_both():
    first = open_app("train.py")
    lab = first.query_params["lab"]
    set_settings(first, **SMALL)  # something done: the lab is stored
    second = open_app("train.py", lab=lab)
    assert second.query_params["lab"] == lab
    for tab in (first, second):  # both start before either finishes
        set_settings(tab, **SMALL)
        tab.button(key="start").click().run()
    run_until_done(first)
    run_until_done(second)
    numbers = {r.number for tab in (first, second) for r in tab.session_state["runs"]}
    assert numbers == {1, 2}  # not "run 2" twice
    reloaded = open_app("train.py", lab=lab)
    assert [r.number for r in reloaded.session_state["runs"]] == [1, 2]  # the union, not the last writer
    assert list(reloaded.dataframe[0].value["run"]) == [2, 1]


def test_an_interrupted_run_is_marked_and_continues_from_its_saved_weights(monkeypatch, another_process):
    from lab import jobs

    monkeypatch.setattr(lab_store.default_store(), "checkpoint_seconds", 0.0)
    at = open_app("train.py")
    lab = at.query_params["lab"]
    train(at, epochs=2)
    set_settings(at, epochs=60, width=16, batch_mode=settings.BATCH_MINI, batch_size=8)
    at.button(key="start").click().run()
    job = at.session_state["job"]
    key = lab_records.lab_key(lab)

    def saved_epochs():
        with database().read() as connection:
            return connection.scalar(select(lab_runs.c.epochs_done).where(
                lab_runs.c.lab_key == key, lab_runs.c.number == 2))

    deadline = time.monotonic() + TIMEOUT
    while not saved_epochs():
        assert time.monotonic() < deadline, "no checkpoint"
        time.sleep(0.05)
    # kill -9: the job ends without its final write, its row names a process that is gone
    job._finish_hooks.clear()
    job.stop()
    assert job.join(TIMEOUT)
    with database().write() as connection:
        row = connection.execute(select(lab_runs.c.epochs_done, lab_runs.c.weights).where(
            lab_runs.c.lab_key == key, lab_runs.c.number == 2)).one()
        connection.execute(update(lab_runs).where(lab_runs.c.lab_key == key, lab_runs.c.number == 2).values(
            process=f"{processes.MACHINE}|{2**22 + 9}|1"))
    epoch, weights = row.epochs_done, lab_records.network_from_bytes(row.weights).weights[0]

    another_process()
    reloaded = open_app("train.py", lab=lab)
    runs = reloaded.session_state["runs"]
    assert [(r.number, r.status) for r in runs] == [(1, "completed"), (2, "interrupted")]
    assert reloaded.session_state["model"].number == 1  # the finished run stays the current model
    warning = " ".join(w.value for w in reloaded.warning)
    assert f"Run 2 was interrupted at epoch {epoch} of 60" in warning and "Continue" in warning
    assert list(reloaded.dataframe[0].value["status"]) == ["interrupted", "completed"]
    assert list(reloaded.dataframe[0].value["epochs"])[0] == f"{epoch}/60"

    started_from = []
    real_train = jobs.train

    def recording_train(network, *args, **kwargs):
        started_from.append(network.weights[0].copy())
        return real_train(network, *args, **kwargs)

    monkeypatch.setattr(jobs, "train", recording_train)
    reloaded.button(key="continue").click().run()
    job = reloaded.session_state["job"]
    assert job.number == 3 and job.config.epochs == 60 - epoch
    wait_for_steps(job, 1)
    np.testing.assert_array_equal(started_from[0], weights)  # from the saved weights, not afresh
    reloaded.button(key="stop").click().run()
    run_until_done(reloaded)
    assert "It continued run 2 from its epoch" in reloaded.session_state["runs"][-1].message
    assert "continue" not in [button.key for button in reloaded.button]  # run 3 is the latest now


def test_a_lab_restored_elsewhere_asks_for_its_uploaded_data_again(another_process):
    from lab.data import SplitData

    rng = np.random.default_rng(0)
    upload = SplitData("csv:0123456789ab@0.1", "mine.csv (120 images, Kaggle CSV)",
                       rng.integers(0, 256, (100, 784), dtype=np.uint8), rng.integers(0, 10, 100),
                       rng.integers(0, 256, (20, 784), dtype=np.uint8), rng.integers(0, 10, 20), 10)
    at = open_app()
    at.session_state["session_dataset"] = upload  # as the Data page's Use button does
    at.switch_page("pages/train.py").run()
    train(at, epochs=2)
    lab = at.query_params["lab"]
    assert open_app(lab=lab).session_state["session_dataset"] is upload  # this process still has it
    another_process()
    reloaded = open_app("train.py", lab=lab)
    assert reloaded.session_state["session_dataset"] is None
    warning = " ".join(w.value for w in reloaded.sidebar.warning)
    assert "mine.csv (120 images, Kaggle CSV)" in warning and "load it again on the Data page" in warning
    (run,) = reloaded.session_state["runs"]
    assert run.dataset == "mine.csv (120 images, Kaggle CSV)" and reloaded.session_state["model"].number == 1


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
