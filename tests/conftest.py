"""Shared test setup: make the repo importable and find the real MNIST test set."""

import os
import sys
from pathlib import Path

import numpy  # noqa: F401  (loads OpenBLAS, so that the limit below applies to it)
import pytest
from threadpoolctl import threadpool_limits

# One BLAS thread for the whole suite: on 2 busy cores, OpenBLAS threads spin against
# each other (a 0.4 s training took 11 s with two threads while other tests ran).
# Benchmarks that compare thread counts run in their own processes. threadpoolctl only
# limits libraries already loaded: without the numpy import above this did nothing.
threadpool_limits(1)

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # so plain `pytest` finds the `nn` package too
    sys.path.insert(0, str(REPO_ROOT))


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


@pytest.fixture(scope="session", autouse=True)
def own_database(tmp_path_factory):
    """The tests never use the developer's own database (the default SQLite file in the cache
    directory, which other checkouts of the app on the machine migrate too): unless a test
    configures one, the app's database is a file in a temporary folder. Tests that set their
    own (monkeypatch) get theirs; servers the tests start inherit this one."""
    names = ("DIGIT_LAB_DATABASE_URL", "DIGIT_LAB_LEADERBOARD_URL", "DIGIT_LAB_LEADERBOARD_DB")
    with pytest.MonkeyPatch.context() as patch:
        if not any(os.environ.get(name, "").strip() for name in names):
            patch.setenv("DIGIT_LAB_LEADERBOARD_DB", str(tmp_path_factory.mktemp("database") / "digit-lab.sqlite3"))
        yield
