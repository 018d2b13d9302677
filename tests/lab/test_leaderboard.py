"""The room leaderboard's storage: concurrency, restarts, bounds, names, the clear token.

Every test runs on SQLite and on PostgreSQL. PostgreSQL: ``$DIGIT_LAB_TEST_PG_URL`` (a
user allowed to create databases), else a throwaway cluster started here with the
server's ``initdb``/``pg_ctl`` on a loopback port (as the ``postgres`` user when run as
root); without PostgreSQL binaries or psycopg those tests skip.
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from lab.leaderboard import (
    SCHEMA_VERSION,
    Leaderboard,
    LeaderboardError,
    PostgresLeaderboard,
    open_leaderboard,
)

ROOT = Path(__file__).resolve().parents[2]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pg_admin_url():
    """A PostgreSQL URL whose user may CREATE DATABASE; skips when there is none."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed")
    url = os.environ.get("DIGIT_LAB_TEST_PG_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    prefix: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="digit-lab-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir, ignore_errors=True)
            pytest.skip("running as root and there is no postgres user")
        os.chown(workdir, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else None
        if prefix is None:
            pytest.skip("running as root without runuser")
    data, port = workdir / "data", _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-N",
                        "-E", "UTF8"], check=True, capture_output=True, timeout=60, env=env)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(workdir / "log"), "-w", "-t", "30",
                        "-o", f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
                        "start"], check=True, capture_output=True, timeout=60, env=env)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        log = (workdir / "log").read_text()[-500:] if (workdir / "log").exists() else ""
        detail = getattr(error, "stderr", b"") or b""
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL cluster: {error} {detail[-300:]!r} {log}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def board_url(request, tmp_path):
    """A URL for a fresh, empty leaderboard database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'board.sqlite3'}"
        return
    import psycopg

    admin = request.getfixturevalue("pg_admin_url")
    name = f"digitlab_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    yield admin.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as db, contextlib.suppress(psycopg.Error):
        db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_concurrent_submissions_from_many_sessions_all_land(board_url):
    errors = []

    def session(index):
        board = open_leaderboard(board_url)  # each session opens its own handle
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
    board = open_leaderboard(board_url)
    assert board.count() == 60
    best = board.entries(limit=3)
    assert [e.name for e in best] == ["learner 11"] * 3
    assert [e.rank for e in best] == [1, 2, 3]
    assert best[0].accuracy == pytest.approx(0.5 + 11 / 100 + 4 / 1000)
    assert best[0].accuracy == 0.5 + 11 / 100 + 4 / 1000  # stored as a double on both
    assert best[0].settings == {"width": 80}
    assert all(e.challenge == "c1" for e in board.entries("c1"))
    assert len(board.entries("c1")) == 24
    assert board.challenges() == ["", "c1"]


def test_submissions_from_other_processes_and_a_restart_keep_entries(board_url):
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); "
            "from lab.leaderboard import open_leaderboard; "
            "b = open_leaderboard(sys.argv[2]); time.sleep(max(0, float(sys.argv[4]) - time.time())); "
            "[b.submit(f'{sys.argv[3]}-{i}', 'p' + sys.argv[3], 0.9, {}) for i in range(10)]")
    start_at = time.time() + 2  # all processes submit at once, after their imports
    workers = [subprocess.Popen([sys.executable, "-c", code, str(ROOT), board_url, str(k), str(start_at)])
               for k in range(4)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0, 0]
    # A "restart": a brand-new handle (as a new server process would make) sees them all.
    assert open_leaderboard(board_url).count() == 40


def test_one_submission_per_run(board_url):
    board = open_leaderboard(board_url)
    board.submit("run-1", "Ada", 0.91, {})
    with pytest.raises(LeaderboardError, match="already"):
        board.submit("run-1", "Ada again", 0.95, {})
    assert board.count() == 1
    board.submit("run-2", "Ada", 0.92, {})  # the connection is usable after the refusal
    assert board.count() == 2


def test_names_are_stored_as_plain_text_and_checked(board_url):
    board = open_leaderboard(board_url)
    hostile = "<b>x</b> **b** '); DROP TABLE entries;--"
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
    assert board.count() == 2


def test_size_is_bounded(board_url):
    board = open_leaderboard(board_url, max_entries=5)
    for i in range(8):
        board.submit(f"r{i}", f"n{i}", i / 10, {})
    entries = board.entries()
    assert len(entries) == 5
    assert [e.name for e in entries] == ["n7", "n6", "n5", "n4", "n3"]


def test_clearing_needs_the_token(board_url):
    board = open_leaderboard(board_url)
    board.submit("r1", "a", 0.5, {})
    with pytest.raises(LeaderboardError, match="disabled"):
        board.clear("anything", expected_token="")
    with pytest.raises(LeaderboardError, match="wrong"):
        board.clear("guess", expected_token="s3cret")
    assert board.count() == 1
    assert board.clear("s3cret", expected_token="s3cret") == 1
    assert board.count() == 0


def test_schema_version_is_recorded_once_even_with_many_openers(board_url):
    handles = []
    threads = [threading.Thread(target=lambda: handles.append(open_leaderboard(board_url)))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(handles) == 6
    board = open_leaderboard(board_url)
    assert board.schema_version() == SCHEMA_VERSION
    with board._connect() as db:
        assert db.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_a_database_from_before_schema_version_is_adopted(tmp_path):
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:  # the original schema, no versions
        db.executescript("""
            CREATE TABLE entries (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL, challenge TEXT NOT NULL DEFAULT '', accuracy REAL NOT NULL,
                settings TEXT NOT NULL, created REAL NOT NULL);
            INSERT INTO entries (run_id, name, accuracy, settings, created) VALUES ('r', 'old', 0.5, '{}', 1);
        """)
    board = Leaderboard(path)
    assert board.schema_version() == SCHEMA_VERSION
    assert [e.name for e in board.entries()] == ["old"]


def test_the_backend_comes_from_the_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_DB", str(tmp_path / "default.sqlite3"))
    monkeypatch.delenv("DIGIT_LAB_LEADERBOARD_URL", raising=False)
    board = open_leaderboard()
    assert type(board) is Leaderboard and board.path == tmp_path / "default.sqlite3"
    assert Leaderboard().path == tmp_path / "default.sqlite3"  # the old constructor still works
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_URL", f"sqlite://{tmp_path / 'other.sqlite3'}")
    assert open_leaderboard().path == tmp_path / "other.sqlite3"
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_URL", "mysql://x@y/z")
    with pytest.raises(LeaderboardError, match="unsupported"):
        open_leaderboard()


def test_postgres_url_picks_postgres(pg_admin_url, monkeypatch):
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_URL", pg_admin_url)
    board = open_leaderboard()
    assert isinstance(board, PostgresLeaderboard)
    assert "postgres@" not in repr(board)  # user and password are never shown
    assert board.schema_version() == SCHEMA_VERSION
