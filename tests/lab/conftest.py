"""Databases for the storage tests: a fresh SQLite file or PostgreSQL database per test
(PostgreSQL: see tests/pg_support.py; without it those tests skip)."""

import pytest
from pg_support import fresh_pg_database

from lab import storage


def _fresh_database(request, tmp_path, name: str):
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / name}"
        yield url
        storage.forget(url)
        return
    url, drop = fresh_pg_database(request.getfixturevalue("pg_admin_url"))
    yield url
    drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def board_url(request, tmp_path):
    """A URL for a fresh, empty leaderboard database on each backend."""
    yield from _fresh_database(request, tmp_path, "board.sqlite3")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A URL for a fresh, empty app database (labs) on each backend."""
    yield from _fresh_database(request, tmp_path, "labs.sqlite3")


@pytest.fixture
def pg_url(pg_admin_url):
    """A fresh, empty PostgreSQL database."""
    url, drop = fresh_pg_database(pg_admin_url)
    yield url
    drop()
