"""lab/storage.py: which database a URL names, how connections are set up, transactions,
and one handle per database per process."""

import contextlib
import re
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text

from lab import storage


@pytest.mark.parametrize("given, backend, database", [
    ("sqlite:///srv/x.sqlite3", "sqlite", "/srv/x.sqlite3"),  # as earlier versions read it
    ("sqlite:////srv/x.sqlite3", "sqlite", "/srv/x.sqlite3"),  # SQLAlchemy's absolute spelling
    ("/srv/x.sqlite3", "sqlite", "/srv/x.sqlite3"),
    ("postgresql://u:pw@db:5433/lab", "postgresql", "lab"),
    ("postgres://u:pw@db/lab", "postgresql", "lab"),
    ("postgresql+psycopg://u@db/lab", "postgresql", "lab"),
])
def test_urls(given, backend, database):
    url = storage.database_url(given)
    assert url.get_backend_name() == backend and url.database == database
    if backend == "postgresql":
        assert url.drivername == "postgresql+psycopg"
        assert "pw" not in storage.describe(url) and "u@" not in storage.describe(url)


def test_a_relative_path_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage.database_url("rooms/x.sqlite3").database == str(tmp_path / "rooms" / "x.sqlite3")


@pytest.mark.parametrize("given, message", [
    ("mysql://u@db/lab", "unsupported database 'mysql'"),
    ("postgresql+psycopg2://u@db/lab", "unsupported database 'postgresql+psycopg2'"),
    ("postgresql://u@db:port/lab", "not a database URL"),
])
def test_urls_the_app_cannot_use_are_refused_with_the_variable_named(given, message):
    with pytest.raises(storage.StorageError, match=re.escape(message)):
        storage.database_url(given)
    with pytest.raises(storage.StorageError, match=re.escape(f"DIGIT_LAB_DATABASE_URL: {message}")):
        storage.database_url(None, {"DIGIT_LAB_DATABASE_URL": given})
    with pytest.raises(storage.StorageError, match=re.escape(f"DIGIT_LAB_LEADERBOARD_URL: {message}")):
        storage.database_url(None, {"DIGIT_LAB_LEADERBOARD_URL": given})


def _header_says_wal(path: Path) -> bool:
    return path.read_bytes()[18:20] == b"\x02\x02"  # file format: write-ahead log


def test_a_new_sqlite_file_is_made_in_wal_mode_before_anyone_connects(tmp_path):
    path = tmp_path / "deep" / "new.sqlite3"
    database = storage.Database(str(path), pool_size=2)
    assert _header_says_wal(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["new.sqlite3"]  # no temporary left
    with database.read() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == storage.BUSY_TIMEOUT_MS
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    database.dispose()


def test_an_existing_file_in_another_journal_mode_is_switched_to_wal(tmp_path):
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE t (x)")
    assert not _header_says_wal(path)
    database = storage.Database(str(path))
    with database.read() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    database.dispose()
    assert _header_says_wal(path)


def _other_writer_can_start(path: Path) -> bool:
    """Whether another connection gets SQLite's write lock right now (it does not wait)."""
    with contextlib.closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as other:
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            assert "locked" in str(error)
            return False
        other.execute("ROLLBACK")
        return True


def test_sqlite_write_transactions_take_the_write_lock_at_begin_and_reads_do_not(tmp_path):
    path = tmp_path / "locks.sqlite3"
    database = storage.Database(str(path))
    with database.read() as connection:
        connection.execute(select(1))
        assert _other_writer_can_start(path)  # readers never hold writers up
    with database.write() as connection:
        assert not _other_writer_can_start(path)  # BEGIN IMMEDIATE: held from the start
    assert _other_writer_can_start(path)
    database.dispose()


def test_a_failed_write_transaction_leaves_nothing_behind(board_url):
    database = storage.Database(board_url)
    table = Table("storage_test", MetaData(), Column("id", Integer, primary_key=True))
    with database.write() as connection:
        table.create(connection)
    with pytest.raises(RuntimeError, match="the page crashed"), database.write() as connection:
        connection.execute(insert(table).values(id=1))
        raise RuntimeError("the page crashed")
    with database.write() as connection:
        connection.execute(insert(table).values(id=2))
    with database.read() as connection:
        assert connection.scalars(select(table.c.id)).all() == [2]
    database.dispose()


def test_exclusive_writers_exclude_each_other_on_postgresql(pg_url):
    database = storage.Database(pg_url)
    other = storage.Database(pg_url)  # another process's engine
    try_lock = text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(key=storage.WRITE_LOCK_KEY)
    with database.write(exclusive=True):
        with other.write() as connection:
            assert connection.scalar(try_lock) is False
    with database.write(exclusive=False):
        with other.write() as connection:
            assert connection.scalar(try_lock) is True
    database.dispose()
    other.dispose()


def test_one_handle_per_database_per_process(tmp_path, monkeypatch):
    path = tmp_path / "shared.sqlite3"
    first = storage.database(str(path))
    assert storage.database(f"sqlite://{path}") is first
    assert storage.database(f"sqlite:///{path}") is first
    assert first.schema_version() == storage.schema.SCHEMA_VERSION
    assert first.connections_in_use() == 0  # every transaction gave its connection back
    monkeypatch.setenv("DIGIT_LAB_DATABASE_POOL_SIZE", "2")
    smaller = storage.database(str(path))
    assert smaller is not first and smaller.pool_size == 2
    storage.forget(str(path))
    assert storage.database(str(path)) is not first
    storage.forget(str(path))
