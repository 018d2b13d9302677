"""Small Streamlit helpers every page uses: the projector flag, charts, per-session caches
of computed figures, remembered choices for widgets, one-time messages.

Session-state keys (``st.session_state``, per user):

* ``"projector"`` -- the sidebar's projector toggle (larger fonts, higher-contrast
  colours: pages pass ``projector=True`` to every figure).
* ``"inside_cache"`` -- figures and results for the current model (:func:`cached_for_model`),
  at most :data:`MODEL_CACHE_SIZE`, forgotten when the model changes.
* ``"use_cache"`` -- one entry per name, kept with the key it was made for
  (:func:`cached_per_key`: evaluations, parsed uploads...).
* ``"inside_choices"`` -- the pages' remembered choices (ordering, unit, epoch, selected
  class...). Streamlit forgets a widget's value when it is not drawn (another page,
  another tab); each widget bound with :func:`bind` is pre-filled from here, under the
  key ``"inside_<name>"``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import streamlit as st

from lab.display_text import escape_markdown
from lab.runs import run_key

PROJECTOR = "projector"
MODEL_CACHE, MODEL_CACHE_SIZE = "inside_cache", 24
KEY_CACHE = "use_cache"
CHOICES, CHOICE_PREFIX = "inside_choices", "inside_"
MESSAGE = "use_message"  # a (kind, text) message shown once, after a rerun

CHART_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
STATIC_CHART = {"displayModeBar": False}  # small pictures: nothing to zoom
UPLOAD_LIMIT_MB = 200  # the data uploaders' limit (Kaggle's train.csv is 73 MB)


def projector() -> bool:
    """True when the sidebar's projector view is on."""
    return bool(st.session_state.get(PROJECTOR, False))


def chart(fig, key: str, config: dict | None = None, **kwargs):
    """``st.plotly_chart`` with the app's mode bar (no lasso or box select)."""
    return st.plotly_chart(fig, key=key, config=config or CHART_CONFIG, **kwargs)


def lazy_tabs(labels, key: str, draws) -> list:
    """Tabs of which only the open one is drawn: ``draws[i]()`` draws tab ``i`` (a rerun
    follows each change of tab, so the other tabs cost nothing). Returns the tabs (their
    ``open`` says which one is)."""
    tabs = st.tabs(list(labels), key=key, on_change="rerun")
    for tab, draw in zip(tabs, draws):
        with tab:
            if tab.open:
                draw()
    return tabs


# -- per-session caches ---------------------------------------------------------------------


def cached_for_model(run, name: str, build: Callable[[], object]):
    """``build()`` once per (model, ``name``) for this session; an LRU of MODEL_CACHE_SIZE
    entries, emptied when the model changes (a new run, an upload, a Reset)."""
    store = st.session_state.get(MODEL_CACHE)
    if store is None or store.get("run") != run_key(run):
        store = {"run": run_key(run), "items": OrderedDict()}
        st.session_state[MODEL_CACHE] = store
    items: OrderedDict = store["items"]
    if name in items:
        items.move_to_end(name)
        return items[name]
    value = build()
    items[name] = value
    while len(items) > MODEL_CACHE_SIZE:
        items.popitem(last=False)
    return value


def model_cache_entry(name: str):
    """An entry :func:`cached_for_model` holds for the current model, or None."""
    return st.session_state.get(MODEL_CACHE, {}).get("items", {}).get(name)


def cached_per_key(name: str, key, build: Callable[[], object]):
    """``build()`` once per ``key`` for this session (one entry per ``name``: a new key
    replaces it)."""
    store = st.session_state.setdefault(KEY_CACHE, {})
    entry = store.get(name)
    if entry is not None and entry[0] == key:
        return entry[1]
    value = build()
    store[name] = (key, value)
    return value


# -- remembered choices ---------------------------------------------------------------------


def choices() -> dict:
    """The session's remembered choices, by name."""
    return st.session_state.setdefault(CHOICES, {})


def bind(name: str, default, valid: Callable[[object], bool] = lambda _: True) -> str:
    """Widget key for choice ``name``, pre-filled from the remembered choice (or ``default``
    when the remembered one is no longer ``valid``, e.g. a unit beyond a narrower model)."""
    key = CHOICE_PREFIX + name
    remembered = choices().get(name, default)
    if not _safe(valid, remembered):
        remembered = default
    if key not in st.session_state or not _safe(valid, st.session_state[key]):
        st.session_state[key] = remembered
    return key


def _safe(valid, value) -> bool:
    try:
        return bool(valid(value))
    except Exception:  # a malformed remembered value is simply replaced
        return False


def remember(name: str) -> None:
    """Store widget ``name``'s current value as the remembered choice."""
    choices()[name] = st.session_state[CHOICE_PREFIX + name]


def choose(name: str, value) -> None:
    """Set choice ``name`` (and its widget, when not drawn yet in this run)."""
    choices()[name] = value
    st.session_state[CHOICE_PREFIX + name] = value


def index_in(n: int) -> Callable[[object], bool]:
    """A ``valid`` test for :func:`bind`: an integer in ``range(n)``."""
    return lambda v: isinstance(v, int | np.integer) and 0 <= v < n


# -- one-time messages ----------------------------------------------------------------------


def set_message(kind: str, text: str, key: str = MESSAGE) -> None:
    """A message for the next run: ``kind`` "success" or "error"."""
    st.session_state[key] = (kind, text)


def show_message(key: str = MESSAGE) -> None:
    """Show (once) the message :func:`set_message` left, as literal text."""
    message = st.session_state.pop(key, None)
    if message:
        kind, text = message
        (st.success if kind == "success" else st.error)(escape_markdown(text))
