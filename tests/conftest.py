"""Shared test setup: make the repo importable and find the real MNIST test set."""

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
    """The real 10,000-image MNIST test set; skips the test where ../shared is absent."""
    from nn.data import SHARED_MNIST_DIR, load_mnist_test_set

    dataset = load_mnist_test_set()
    if dataset is None:
        pytest.skip(f"real MNIST test set not found in {SHARED_MNIST_DIR}")
    return dataset


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
