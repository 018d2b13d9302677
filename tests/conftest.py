"""Shared test setup: make the repo importable, a database of the tests' own, and the real
MNIST test set."""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy  # noqa: F401  (loads OpenBLAS, so that the limit below applies to it)
import pytest
from threadpoolctl import threadpool_limits

# One BLAS thread for the whole suite: on 2 busy cores, OpenBLAS threads spin against
# each other (a 0.4 s training took 11 s with two threads while other tests ran).
# Benchmarks that compare thread counts run in their own processes. threadpoolctl only
# limits libraries already loaded: without the numpy import above this did nothing.
threadpool_limits(1)

# The app writes labs (and leaderboard entries) to its database: the tests' go to a file of
# their own, not to the user's cache, unless a database is named. The oldest and weakest of
# the three settings, so that a test naming one (or clearing them all) decides.
if not any(os.environ.get(name) for name in ("DIGIT_LAB_DATABASE_URL", "DIGIT_LAB_LEADERBOARD_URL",
                                            "DIGIT_LAB_LEADERBOARD_DB")):
    _database_dir = tempfile.mkdtemp(prefix="digit-lab-tests-")
    atexit.register(shutil.rmtree, _database_dir, ignore_errors=True)
    os.environ["DIGIT_LAB_LEADERBOARD_DB"] = str(Path(_database_dir) / "tests.sqlite3")

# Many tests start long runs only to stop them (or to outlast a check): over the server's
# default caps per run (cost and expected training time). The suite lifts them (its servers
# inherit this); the caps' own tests (tests/lab/test_run_cost.py,
# tests/pages/test_bounds_app.py) set the defaults back.
os.environ.setdefault("DIGIT_LAB_MAX_RUN_COST", "1000000")
os.environ.setdefault("DIGIT_LAB_MAX_RUN_SECONDS", "86400")

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # so plain `pytest` finds the `nn` package too
    sys.path.insert(0, str(REPO_ROOT))


from pg_support import pg_admin_url  # noqa: E402, F401 (a fixture: one PostgreSQL cluster for the session)


@pytest.fixture(autouse=True)
def _no_wrong_facilitator_tokens():
    """Each test starts with no wrong facilitator tokens counted (the limit is per process)."""
    from lab import facilitator

    facilitator.default_attempts().reset()


@pytest.fixture(scope="session")
def mnist_test_set():
    """The real 10,000-image MNIST test set that ships in assets/data/mnist."""
    from datasets import load_mnist_test_set

    return load_mnist_test_set()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, one a test module (see browser_support.py);
    skips the test where either is missing."""
    from browser_support import launched_chromium

    with launched_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def data():
    """The bundled dataset split as the app splits it, one a test module."""
    from ui.state import split_data

    return split_data("bundled")


# Markers (registered in pyproject.toml) for a fast loop, `pytest -m "not browser and not server"`:
# browser tests by their module, server tests by what they start.
SERVER_MODULES = ("test_deploy", "test_load")
SERVER_FIXTURES = ("pg_admin_url",)


def _uses_a_server(item, module: str) -> bool:
    if module in SERVER_MODULES or any(name in item.fixturenames for name in SERVER_FIXTURES):
        return True
    params = item.callspec.params.values() if hasattr(item, "callspec") else ()
    return any(isinstance(value, str) and value == "postgresql" for value in params)  # PostgreSQL halves


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module.startswith("test_browser") or "browser" in item.fixturenames:
            item.add_marker(pytest.mark.browser)
        if _uses_a_server(item, module):
            item.add_marker(pytest.mark.server)
