"""What the Probe page's tabs share: results computed once per model with a progress bar,
the validation images as floats, and the "measure" buttons that start a longer computation.

A longer computation (a fooling-rate curve, robustness curves) starts from a button whose
on_click callback only raises a flag (:func:`request`); the script then computes it in
place with a progress bar and keeps the result for the current model
(``ui.widgets.cached_for_model``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from lab.runs import run_key
from ui import state
from ui.widgets import MODEL_CACHE, cached_for_model, choices

REQUESTS = "probe_requests"


def with_progress(run, name: str, text: str, build: Callable[[Callable[[float], None]], object]):
    """``build(progress)`` once per model and ``name``, a progress bar shown while it runs."""
    bar = None

    def make():
        nonlocal bar
        bar = st.progress(0.0, text=text)
        return build(lambda fraction: bar.progress(float(min(max(fraction, 0.0), 1.0)), text=text))

    value = cached_for_model(run, name, make)
    if bar is not None:
        bar.empty()
    return value


def request(run, name: str) -> None:
    """An on_click callback: ask for the computation ``name`` of ``run``'s model."""
    st.session_state.setdefault(REQUESTS, set()).add((run_key(run), name))


def wanted(run, name: str) -> bool:
    """True when ``name`` was asked for (:func:`request`) or is computed, for this model."""
    if (run_key(run), name) in st.session_state.get(REQUESTS, set()):
        return True
    cache = st.session_state.get(MODEL_CACHE) or {}
    return cache.get("run") == run_key(run) and name in cache.get("items", {})


def validation_set(limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The session's validation images (uint8) and labels, the first ``limit`` of them."""
    data = state.dataset()
    images, labels = data.validation_images, np.asarray(data.validation_labels)
    return (images, labels) if limit is None else (images[:limit], labels[:limit])


def remembered(name: str, default):
    """A remembered choice of the page (``ui.widgets.choices``), or ``default``."""
    return choices().get(name, default)
