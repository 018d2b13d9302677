"""The room leaderboard's storage: concurrency, restarts, bounds, names, the clear token."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ui.leaderboard import Leaderboard, LeaderboardError

ROOT = Path(__file__).resolve().parents[1]


def test_concurrent_submissions_from_many_sessions_all_land(tmp_path):
    path = tmp_path / "board.sqlite3"
    errors = []

    def session(index):
        board = Leaderboard(path)  # each session opens its own handle
        try:
            for run in range(5):
                board.submit(f"s{index}-r{run}", f"learner {index}", 0.5 + index / 100 + run / 1000,
                             {"width": 16 * (run + 1)}, challenge="c1" if run % 2 else "")
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    board = Leaderboard(path)
    assert board.count() == 60
    best = board.entries(limit=3)
    assert [e.name for e in best] == ["learner 11"] * 3
    assert [e.rank for e in best] == [1, 2, 3]
    assert best[0].accuracy == pytest.approx(0.5 + 11 / 100 + 4 / 1000)
    assert all(e.challenge == "c1" for e in board.entries("c1"))
    assert len(board.entries("c1")) == 24
    assert board.challenges() == ["", "c1"]


def test_submissions_from_other_processes_and_a_restart_keep_entries(tmp_path):
    path = tmp_path / "board.sqlite3"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from ui.leaderboard import Leaderboard; "
            "b = Leaderboard(sys.argv[2]); [b.submit(f'{sys.argv[3]}-{i}', 'p' + sys.argv[3], 0.9, {}) "
            "for i in range(10)]")
    workers = [subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(path), str(k)])
               for k in range(3)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0]
    # A "restart": a brand-new handle (as a new server process would make) sees them all.
    assert Leaderboard(path).count() == 30


def test_one_submission_per_run(tmp_path):
    board = Leaderboard(tmp_path / "b.sqlite3")
    board.submit("run-1", "Ada", 0.91, {})
    with pytest.raises(LeaderboardError, match="already"):
        board.submit("run-1", "Ada again", 0.95, {})
    assert board.count() == 1


def test_names_are_stored_as_plain_text_and_checked(tmp_path):
    board = Leaderboard(tmp_path / "b.sqlite3")
    hostile = "<script>alert(1)</script> **b** [x](e)"
    board.submit("r1", hostile, 0.8, {})
    assert board.entries()[0].name == hostile  # unchanged text; the page renders it as text
    board.submit("r2", "  Grace\x00\n ", 0.7, {})
    assert board.entries()[1].name == "Grace"
    for bad in ("", "   ", "x" * 41):
        with pytest.raises(LeaderboardError):
            board.submit("r3", bad, 0.5, {})
    for accuracy in (float("nan"), 1.5, -0.1):
        with pytest.raises(LeaderboardError):
            board.submit("r4", "ok", accuracy, {})


def test_size_is_bounded(tmp_path):
    board = Leaderboard(tmp_path / "b.sqlite3", max_entries=5)
    for i in range(8):
        board.submit(f"r{i}", f"n{i}", i / 10, {})
    entries = board.entries()
    assert len(entries) == 5
    assert [e.name for e in entries] == ["n7", "n6", "n5", "n4", "n3"]


def test_clearing_needs_the_token(tmp_path):
    board = Leaderboard(tmp_path / "b.sqlite3")
    board.submit("r1", "a", 0.5, {})
    with pytest.raises(LeaderboardError, match="disabled"):
        board.clear("anything", expected_token="")
    with pytest.raises(LeaderboardError, match="wrong"):
        board.clear("guess", expected_token="s3cret")
    assert board.count() == 1
    assert board.clear("s3cret", expected_token="s3cret") == 1
    assert board.count() == 0
