"""Fixtures the tests of ``datasets`` share."""

import numpy as np
import pytest


@pytest.fixture
def small_images():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)


@pytest.fixture
def small_labels():
    return np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1], dtype=np.uint8)


@pytest.fixture
def no_proxies(monkeypatch):
    """Make sure urllib goes straight to 127.0.0.1, never through a proxy."""
    for variable in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(variable.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
