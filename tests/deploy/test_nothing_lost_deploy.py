"""Nothing lost on real servers (bench/durability.py; loopback only): 20 raw sessions train,
one app process gets SIGKILL mid-run (the only one of a plain ``streamlit run``, or one of two
behind nginx), on SQLite and on PostgreSQL: every session reconnects and finds its finished
run, its current model, and its interrupted run marked (or, on the surviving process, still
training live). And a WebSocket closed for 30 s mid-run: the job trains on, the page that
reconnects shows it live, it finishes.

Skips without the WebSocket client or psutil; the nginx test without nginx; the PostgreSQL
ones without PostgreSQL (tests/pg_support.py).
"""

from __future__ import annotations

import shutil

import pytest
from pg_support import fresh_pg_database

from lab import storage

pytestmark = [pytest.mark.server, pytest.mark.slow]
SESSIONS = 20


@pytest.fixture(params=["sqlite", "postgresql"])
def app_database(request, tmp_path):
    """A fresh database for the app processes: a SQLite file, or a PostgreSQL database."""
    from bench.streamlit_client import clients_available

    missing = clients_available()
    if missing:
        pytest.skip(f"kill test skipped: {missing}")
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'labs.sqlite3'}"
        return
    url, drop = fresh_pg_database(request.getfixturevalue("pg_admin_url"))
    yield url
    storage.forget(url)
    drop()


def _check(report: dict) -> None:
    from bench.durability import format_kill_report

    print(format_kill_report(report))
    assert report["errors"] == []
    assert report["finished_lost"] == 0 and report["models_lost"] == 0
    assert report["interrupted_marked"] == report["victims"]
    assert report["survivors_live"] == report["survivors"]
    assert all(epoch >= 1 for epoch in report["interrupted_epochs"])  # each had saved a checkpoint
    assert 0 < report["bytes_per_lab"] < 2_000_000


def test_killing_the_only_process_mid_run_loses_nothing(app_database):
    from bench.durability import run_kill_test

    report = run_kill_test(processes=1, sessions=SESSIONS, database_url=app_database, seconds_limit=180)
    _check(report)
    assert report["victims"] == SESSIONS and report["restart_seconds"] is not None


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_killing_one_of_two_processes_behind_nginx_loses_nothing(app_database):
    from bench.durability import run_kill_test

    report = run_kill_test(processes=2, sessions=SESSIONS, database_url=app_database, seconds_limit=180)
    _check(report)
    assert report["victims"] >= 1 and report["survivors"] >= 1


def test_a_websocket_closed_for_30_seconds_mid_run_finds_its_job_live_and_finished():
    from bench.durability import format_blip_report, run_blip_test
    from bench.streamlit_client import clients_available

    missing = clients_available()
    if missing:
        pytest.skip(f"blip test skipped: {missing}")
    report = run_blip_test(blip_seconds=30, seconds_limit=240)
    print(format_blip_report(report))
    assert report["same_lab"]
    if report["finished_at_reconnect"] is None:  # as planned: still training after the blip
        before, (first, second) = report["epoch_before"], report["epochs_seen"]
        assert before < first < second  # it trained during the blip, and the page shows it live
    # (a machine that sped up since the timing run: it finished during the blip, not stopped)
    assert report["final"].startswith("Done") and f"{report['epochs']}/{report['epochs']}" in report["final"]
    latest, calibration = report["history"]  # newest first: the long run, then the 2-epoch one
    assert (latest["run"], calibration["run"]) == (2, 1)
    assert latest["status"] == "completed" and latest["epochs"] == f"{report['epochs']}/{report['epochs']}"
