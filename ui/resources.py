"""Process-wide resources (``st.cache_resource``, shared by *every* user, so read-only or
user-free): the BLAS thread limit, the job scheduler, the split bundled dataset, the real
MNIST test set, the data sessions share (uploads and downloads by content, read-only), the
server's challenges, the leaderboard handle. Also the per-session job registry
(``scope="session"``), which Streamlit releases when the session ends (its WebSocket
closed: a reload, a closed tab, or a network blip).
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np
import streamlit as st

from datasets import SharedDatasets, load_bundled, load_mnist_test_set
from lab import challenges
from lab import settings as settings_module
from lab.data import DATASETS, SharedSplits, SplitData, make_split, read_only
from lab.jobs import JobScheduler, limit_blas_threads
from lab.leaderboard import URL_ENV, Leaderboard, default_path, open_leaderboard
from lab.session_jobs import SessionJobs

logger = logging.getLogger(__name__)

PRELOAD_DELAY_SECONDS = 1.5


@st.cache_resource(show_spinner=False)
def configure_process():
    """Once per server process: 1 BLAS thread (jobs run in parallel threads instead)."""
    return limit_blas_threads(1)


@st.cache_resource(show_spinner=False)
def scheduler() -> JobScheduler:
    """The server's one scheduler (``$DIGIT_LAB_MAX_JOBS`` jobs at once, default: cores)."""
    return JobScheduler()


@st.cache_resource(show_spinner=False)
def split_data(key: str) -> SplitData:
    """The dataset ``key`` split class by class into 90% training, 10% validation (seed 0)."""
    if key != "bundled":
        raise ValueError(f"unknown dataset {key!r}; available: {', '.join(DATASETS)}")
    return make_split(load_bundled(), settings_module.VALIDATION_FRACTION, key)


# What the shared data may hold (the least recently used leaves first; a session using it
# keeps it alive): parsed uploads, and their splits (one per content, share and seed).
SHARED_DATASETS_BYTES, SHARED_SPLITS_BYTES = 250_000_000, 250_000_000


@st.cache_resource(show_spinner=False)
def shared_datasets() -> SharedDatasets:
    """Parsed uploads, by the SHA-256 of their bytes: ten people uploading one train.csv cost
    one parse and one copy of its pixels (read-only arrays)."""
    return SharedDatasets(max_entries=8, max_bytes=SHARED_DATASETS_BYTES)


@st.cache_resource(show_spinner=False)
def shared_splits() -> SharedSplits:
    """Training / validation splits of uploads and downloads, by (content, validation share,
    seed), shared read-only by the sessions that use the same data."""
    return SharedSplits(max_entries=16, max_bytes=SHARED_SPLITS_BYTES)


@st.cache_resource(show_spinner=False)
def preload_data() -> threading.Timer:
    """Once per process, after the first page is drawn: read the images in the background.

    Parsing the bundled CSV (and importing pandas for it) takes about a second; doing
    it while the user reads the first page keeps the cold start short and makes the
    first Start instant. ``load_bundled`` caches its result for the whole process.
    """
    def load() -> None:
        try:
            load_bundled()
            load_mnist_test_set()
        except Exception:  # reported again, with a message, when the data is used
            logger.exception("preloading the data failed")

    # Wait a moment first: the first page is still on its way to the browser.
    thread = threading.Timer(PRELOAD_DELAY_SECONDS, load)
    thread.name, thread.daemon = "preload-data", True
    thread.start()
    return thread


@st.cache_resource(show_spinner=False)
def test_data() -> tuple[np.ndarray, np.ndarray, str]:
    """The real MNIST test set that ships with the app (images, labels, name)."""
    dataset = load_mnist_test_set()
    return read_only(dataset.images), read_only(dataset.labels), dataset.name


def test_set(data: SplitData) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The labelled test set that fits ``data``: its own (EMNIST's test part) when it came
    with one; else, for digits, the real MNIST test set that ships with the app; else None
    (then the pages show the validation images only). May raise DataError (damaged files)."""
    if data.test is not None:
        return data.test
    if not data.digits:
        return None  # MNIST's test digits say nothing about letters
    images, labels, _ = test_data()
    return images, labels, f"{len(labels):,} real MNIST test images"


def _release_session_jobs(jobs: SessionJobs) -> None:
    jobs.release()


@st.cache_resource(scope="session", on_release=_release_session_jobs, show_spinner=False)
def session_jobs() -> SessionJobs:
    """The jobs this session holds. When the session ends Streamlit releases them: a job it
    started keeps training for the grace period, for a page that comes back (see
    lab/session_jobs.py); a job it only showed goes on as before."""
    return SessionJobs()


@st.cache_resource(show_spinner=False)
def _load_challenges(path: str, mtime: float) -> tuple[tuple[challenges.Challenge, ...], str | None]:
    """The server's challenge file (read-only, the same for everyone; re-read when it changes)."""
    try:
        return tuple(challenges.load_file(path)), None
    except (OSError, challenges.ChallengeError) as error:
        logger.warning("challenge file %s: %s", path, error)
        return (), f"The challenge file could not be used: {error}"


def server_challenges() -> tuple[tuple[challenges.Challenge, ...], str | None]:
    """The server's challenges (``$DIGIT_LAB_CHALLENGES`` or the default file) and a
    message when its file could not be used."""
    path = challenges.server_file()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        if path == challenges.DEFAULT_FILE:
            return (), None
        return (), f"The challenge file {path.name} was not found."
    return _load_challenges(str(path), mtime)


@st.cache_resource(show_spinner=False)
def _leaderboard(url: str, path: str) -> Leaderboard:
    """One handle per configured database (it keeps no entries in memory: they are in the
    database). ``path`` is part of the cache key only: $DIGIT_LAB_LEADERBOARD_DB."""
    return open_leaderboard(url)


def leaderboard() -> Leaderboard:
    """The leaderboard of the configured database (``$DIGIT_LAB_LEADERBOARD_URL``, else SQLite)."""
    return _leaderboard(os.environ.get(URL_ENV, "").strip(), str(default_path()))

