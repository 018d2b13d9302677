"""Fixtures of the lab tests: small learnable data to train jobs on quickly, and a fresh
SQLite file or PostgreSQL database per storage test (PostgreSQL: see tests/pg_support.py;
without it those tests skip)."""

import numpy as np
import pytest
from pg_support import fresh_pg_database

from lab import storage


@pytest.fixture(scope="session")
def data():
    """300 small random 'images' with learnable labels: fast to train on (here, instead of
    the bundled split the other test folders get)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(300, 784), dtype=np.uint8)
    labels = (images[:, :10].argmax(axis=1) % 10).astype(np.uint8)
    return images, labels


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
