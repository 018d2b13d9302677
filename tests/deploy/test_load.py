"""Workshop limits: the load test's quick mode, the per-run cap, the poll interval.

The quick load test starts `streamlit run app.py` on 127.0.0.1 with DIGIT_LAB_MAX_JOBS=1
and drives 3 sessions over raw WebSockets (bench/load.py); it skips where the
WebSocket client or psutil is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import jobs, run_cost, settings


def test_quick_load_test_runs_isolated_sessions_through_the_queue():
    from bench import load, streamlit_client

    missing = streamlit_client.clients_available()
    if missing:
        pytest.skip(f"load test skipped: {missing}")
    report = load.run_load(3, seconds_limit=50, epochs=3, max_jobs=1)
    print(load.format_report(report))
    assert report["errors"] == []
    assert report["finished"] == 3
    assert report["distinct_results"] == 3  # seeds 1000, 1001, 1002: each its own model
    assert report["own_history"] == 3  # each session's history holds only its own run 1
    assert report["queue_positions"], "no waiting session was shown its place in the queue"
    assert report["sessions_that_queued"] >= 1
    assert report["polls"] >= 1 and report["poll_median"] is not None
    assert 0 < report["peak_rss_mb"] < 1024


def _settings(**changes):
    return {**settings.DEFAULT_SETTINGS, **changes}


def test_run_size_cap_refuses_too_much_work_with_a_message():
    assert settings.to_config(_settings(epochs=settings.MAX_EPOCHS), n_train=4500)  # bundled: always allowed
    with pytest.raises(ValueError, match=r"200 epochs x 54,000 .* Choose at most 92 epochs"):
        settings.to_config(_settings(epochs=200), n_train=54_000)
    assert settings.to_config(_settings(epochs=92), n_train=54_000)
    with pytest.raises(ValueError, match="DIGIT_LAB_MAX_SAMPLE_EPOCHS"):
        settings.to_config(_settings(epochs=10), n_train=4500, max_sample_epochs=40_000)
    assert run_cost.run_size_problem(10, 4000, limit=40_000) is None
    assert run_cost.run_size_problem(11, 4000, limit=40_000) is not None


@pytest.mark.parametrize("text, expected", [
    ("", run_cost.DEFAULT_MAX_SAMPLE_EPOCHS), ("1000", 1000), ("-5", run_cost.DEFAULT_MAX_SAMPLE_EPOCHS),
    ("lots", run_cost.DEFAULT_MAX_SAMPLE_EPOCHS),
])
def test_sample_epoch_cap_from_env(text, expected):
    assert run_cost.max_sample_epochs({run_cost.MAX_SAMPLE_EPOCHS_ENV: text}) == expected


@pytest.mark.parametrize("text, expected", [
    ("", jobs.DEFAULT_POLL_SECONDS), ("1", 1.0), ("0.25", 0.25), ("0", jobs.DEFAULT_POLL_SECONDS),
    ("0.01", jobs.DEFAULT_POLL_SECONDS), ("60", jobs.DEFAULT_POLL_SECONDS), ("fast", jobs.DEFAULT_POLL_SECONDS),
])
def test_poll_seconds_from_env(text, expected):
    assert jobs.poll_seconds({jobs.POLL_SECONDS_ENV: text}) == expected


def test_train_page_refuses_a_run_over_the_cap(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(run_cost.MAX_SAMPLE_EPOCHS_ENV, str(4500 * 3))  # 3 epochs of the 4,500 training images
    app = str(Path(__file__).resolve().parents[2] / "app.py")
    at = AppTest.from_file(app, default_timeout=60).run()
    at.switch_page("pages/train.py").run()
    at.slider(key="train_epochs").set_value(4).run()
    start = at.button(key="start")
    assert start.disabled
    assert any("Run too large" in w.value and "at most 3 epochs" in w.value for w in at.warning)
    at.slider(key="train_epochs").set_value(3).run()
    assert not at.button(key="start").disabled
    assert not any("Run too large" in w.value for w in at.warning)
    # The cap is checked again when Start is clicked, not only by the disabled button.
    monkeypatch.setenv(run_cost.MAX_SAMPLE_EPOCHS_ENV, str(4500 * 2))
    at.button(key="start").click().run()
    assert at.session_state["job"] is None
    assert any("Cannot start" in e.value or "Run too large" in e.value
               for e in [*at.error, *at.warning])
