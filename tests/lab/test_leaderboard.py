"""The room leaderboard's storage: concurrency, restarts, bounds, names, the clear token,
the connection pool, and databases made by earlier versions of the app.

Every test runs on SQLite and on PostgreSQL (``board_url``, see conftest.py).
"""

import contextlib
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, select

from lab import schema, storage
from lab.leaderboard import SCHEMA_VERSION, Leaderboard, LeaderboardError, default_path, open_leaderboard

ROOT = Path(__file__).resolve().parents[2]

# The leaderboard's schema as the app made it before lab.storage (lab/leaderboard.py's
# MIGRATIONS, version 1), verbatim: databases made with it must keep working.
LEGACY_SCHEMA = {
    "sqlite": ["""
CREATE TABLE IF NOT EXISTS entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    challenge   TEXT    NOT NULL DEFAULT '',
    accuracy    REAL    NOT NULL,
    settings    TEXT    NOT NULL,
    created     REAL    NOT NULL
)""", "CREATE INDEX IF NOT EXISTS entries_by_challenge ON entries (challenge, accuracy DESC)"],
    "postgresql": ["""
CREATE TABLE IF NOT EXISTS entries (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT             NOT NULL UNIQUE,
    name        TEXT             NOT NULL,
    challenge   TEXT             NOT NULL DEFAULT '',
    accuracy    DOUBLE PRECISION NOT NULL,
    settings    TEXT             NOT NULL,
    created     DOUBLE PRECISION NOT NULL
)""", "CREATE INDEX IF NOT EXISTS entries_by_challenge ON entries (challenge, accuracy DESC)"],
}
LEGACY_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"


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


def test_processes_opening_a_new_database_at_once_and_a_restart_keep_entries(board_url):
    # Each process opens the (brand-new) database at the same moment: creating the file,
    # switching it to WAL and the first migration must not trip over each other.
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); "
            "from lab.leaderboard import open_leaderboard; "
            "time.sleep(max(0, float(sys.argv[4]) - time.time())); b = open_leaderboard(sys.argv[2]); "
            "[b.submit(f'{sys.argv[3]}-{i}', 'p' + sys.argv[3], 0.9, {}) for i in range(10)]")
    start_at = time.time() + 4  # after every process's imports
    workers = [subprocess.Popen([sys.executable, "-c", code, str(ROOT), board_url, str(k), str(start_at)])
               for k in range(6)]
    assert [w.wait(timeout=90) for w in workers] == [0] * 6
    # A "restart": a brand-new handle (as a new server process would make) sees them all.
    assert open_leaderboard(board_url).count() == 60
    assert storage.Database(board_url).schema_version() == SCHEMA_VERSION


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


def test_a_run_carries_its_accuracy_on_the_rooms_handwriting(board_url):
    board = open_leaderboard(board_url)
    before = board.version()
    board.submit("r1", "a", 0.9, {}, room_accuracy=0.75, room_images=40)
    board.submit("r2", "b", 0.8, {}, room_images=12)  # no accuracy measured: no count either
    with pytest.raises(LeaderboardError, match="the accuracy on the room's handwriting must be between 0 and 1"):
        board.submit("r3", "c", 0.8, {}, room_accuracy=1.5)
    assert [(e.room_accuracy, e.room_images) for e in board.entries()] == [(0.75, 40), (None, 0)]
    assert board.version() == (2, before[1] + 2) and len(board.entries(limit=None)) == 2


def test_schema_version_is_recorded_once_even_with_many_openers(board_url):
    # Separate Database objects (own engines and pools, as separate processes have) migrate at once.
    results, errors = [], []

    def open_and_migrate():
        try:
            database = storage.Database(board_url)
            results.append(database.migrate())
            database.dispose()
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=open_and_migrate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [SCHEMA_VERSION] * 6
    board = open_leaderboard(board_url)
    assert board.schema_version() == SCHEMA_VERSION
    with board.database.read() as connection:
        versions = connection.scalars(select(schema.schema_version.c.version)).all()
    assert sorted(versions) == list(range(1, SCHEMA_VERSION + 1))


def _make_legacy_database(url: str, backend: str, with_versions: bool) -> None:
    """A leaderboard database as earlier versions of the app made it, with two entries."""
    statements = list(LEGACY_SCHEMA[backend])
    if with_versions:
        statements += [LEGACY_VERSION_TABLE, "INSERT INTO schema_version (version) VALUES (1)"]
    statements += ["INSERT INTO entries (run_id, name, accuracy, settings, created) "
                   "VALUES ('old-1', 'old', 0.5, '{\"width\": 16}', 1)",
                   "INSERT INTO entries (run_id, name, challenge, accuracy, settings, created) "
                   "VALUES ('old-2', 'older', 'c1', 0.75, '{}', 2)"]
    if backend == "sqlite":
        path = storage.database_url(url).database
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            for statement in statements:
                db.execute(statement)
        return
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as db:
        for statement in statements:
            db.execute(statement)


@pytest.mark.parametrize("with_versions", [True, False], ids=["versioned", "before-versions"])
def test_a_database_made_by_earlier_versions_opens_and_migrates(board_url, with_versions):
    backend = "sqlite" if board_url.startswith("sqlite") else "postgresql"
    _make_legacy_database(board_url, backend, with_versions)
    board = open_leaderboard(board_url)
    assert board.schema_version() == SCHEMA_VERSION
    assert [(e.name, e.challenge, e.accuracy, e.settings) for e in board.entries()] == \
        [("older", "c1", 0.75, {}), ("old", "", 0.5, {"width": 16})]
    # the room step added the accuracy on the room's handwriting: unmeasured for older entries
    assert [(e.room_accuracy, e.room_images) for e in board.entries()] == [(None, 0), (None, 0)]
    board.submit("new-1", "new", 0.6, {})
    with pytest.raises(LeaderboardError, match="already"):
        board.submit("old-1", "again", 0.9, {})  # the old UNIQUE constraint still holds
    assert [e.name for e in board.entries()] == ["older", "new", "old"]
    assert board.challenges() == ["", "c1"]

    # A later step (say, a labs table) is added at the end: it runs once, on this old database.
    runs = []
    labs = Table("labs_test", MetaData(), Column("id", Integer, primary_key=True))

    def add_labs(connection):
        runs.append(1)
        labs.create(connection)

    migrations = [*schema.MIGRATIONS, (SCHEMA_VERSION + 1, add_labs)]
    database = storage.Database(board_url)
    assert database.migrate(migrations) == SCHEMA_VERSION + 1
    assert database.migrate(migrations) == SCHEMA_VERSION + 1
    assert runs == [1] and database.schema_version() == SCHEMA_VERSION + 1
    with database.read() as connection:
        assert connection.scalar(select(func.count()).select_from(labs)) == 0
    database.dispose()
    assert open_leaderboard(board_url).count() == 3  # the new code opens the newer database as well


def test_the_database_comes_from_the_configuration(tmp_path, monkeypatch):
    for name in ("DIGIT_LAB_DATABASE_URL", "DIGIT_LAB_LEADERBOARD_URL", "DIGIT_LAB_LEADERBOARD_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIGIT_LAB_CACHE", str(tmp_path / "cache"))
    assert open_leaderboard().path == tmp_path / "cache" / "digit-lab.sqlite3"  # nothing set
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_DB", str(tmp_path / "default.sqlite3"))
    board = open_leaderboard()
    assert board.backend == "sqlite" and board.path == tmp_path / "default.sqlite3"
    assert Leaderboard().path == default_path() == tmp_path / "default.sqlite3"  # the old constructor
    assert Leaderboard(tmp_path / "given.sqlite3").path == tmp_path / "given.sqlite3"
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_URL", f"sqlite://{tmp_path / 'other.sqlite3'}")
    assert open_leaderboard().path == tmp_path / "other.sqlite3"  # the URL wins over the file
    monkeypatch.setenv("DIGIT_LAB_DATABASE_URL", f"sqlite:///{tmp_path / 'new.sqlite3'}")  # 4 slashes
    assert open_leaderboard().path == tmp_path / "new.sqlite3"  # the new name wins over both
    assert open_leaderboard(str(tmp_path / "plain.sqlite3")).path == tmp_path / "plain.sqlite3"
    for url in ("mysql://x@y/z", "postgresql+asyncpg://x@y/z"):
        monkeypatch.setenv("DIGIT_LAB_DATABASE_URL", url)
        with pytest.raises(LeaderboardError, match="DIGIT_LAB_DATABASE_URL: unsupported database"):
            open_leaderboard()
    for path in tmp_path.glob("*.sqlite3"):
        storage.forget(str(path))
    storage.forget(str(tmp_path / "cache" / "digit-lab.sqlite3"))


def test_an_earlier_default_file_is_kept_until_the_new_one_exists(tmp_path, monkeypatch):
    for name in ("DIGIT_LAB_DATABASE_URL", "DIGIT_LAB_LEADERBOARD_URL", "DIGIT_LAB_LEADERBOARD_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIGIT_LAB_CACHE", str(tmp_path))
    old = tmp_path / "leaderboard.sqlite3"
    _make_legacy_database(str(old), "sqlite", with_versions=True)
    board = open_leaderboard()
    assert board.path == old and board.count() == 2
    storage.forget(str(old))


def test_postgres_url_picks_postgres(pg_url, monkeypatch):
    monkeypatch.delenv("DIGIT_LAB_DATABASE_URL", raising=False)
    monkeypatch.setenv("DIGIT_LAB_LEADERBOARD_URL", pg_url)
    board = open_leaderboard()
    assert board.backend == "postgresql" and board.path is None
    assert "postgres@" not in repr(board)  # user and password are never shown
    assert board.schema_version() == SCHEMA_VERSION


def test_fifty_threads_use_at_most_the_pool_on_postgresql(pg_url, monkeypatch):
    """50 sessions submitting at once share the process's pool: the server never sees more
    connections from the app than the pool's size (counted in pg_stat_activity meanwhile)."""
    import psycopg

    pool_size, n_threads, per_thread = 4, 50, 4
    monkeypatch.setenv("DIGIT_LAB_DATABASE_POOL_SIZE", str(pool_size))
    database_name = pg_url.rsplit("/", 1)[1]
    observer = psycopg.connect(pg_url, autocommit=True)
    count_query = ("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s")
    seen_pids, peak, samples = set(), 0, 0
    running = threading.Event()
    errors = []

    def observe():
        nonlocal peak, samples
        while running.is_set():
            pids = [row[0] for row in observer.execute(count_query, (database_name, storage.APPLICATION_NAME))]
            seen_pids.update(pids)
            peak, samples = max(peak, len(pids)), samples + 1

    barrier = threading.Barrier(n_threads)

    def session(index):
        try:
            barrier.wait(timeout=60)
            board = open_leaderboard(pg_url)
            for run in range(per_thread):
                board.submit(f"t{index}-r{run}", f"learner {index}", (index * per_thread + run) / 1000, {})
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    assert open_leaderboard(pg_url).database.pool_size == pool_size
    running.set()
    watcher = threading.Thread(target=observe)
    watcher.start()
    threads = [threading.Thread(target=session, args=(i,)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    running.clear()
    watcher.join()
    observer.close()
    print(f"pool {pool_size}: {samples} samples of pg_stat_activity, at most {peak} app connections at once, "
          f"{len(seen_pids)} distinct server processes")
    assert errors == []
    assert open_leaderboard(pg_url).count() == n_threads * per_thread
    assert samples > 0 and 1 <= peak <= pool_size
    assert len(seen_pids) <= pool_size  # the same connections all along, not one per submission
