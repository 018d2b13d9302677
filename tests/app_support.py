"""Shared pieces of the AppTest tests: open the app (or one of its pages), wait for a
training job, set the Train page's controls, train a small model quickly, read charts.

The test modules import from here (tests/ is on sys.path under pytest, see conftest.py),
e.g. ``from app_support import open_app, restore_blas_threads``; ``restore_blas_threads``
is an autouse fixture (module scope) that takes effect where it is imported; the ``data``
fixture is in conftest.py.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lab.runs import Run
from nn.training import TrainConfig, build_network, train

# An absolute path: AppTest resolves relative ones from the caller.
APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60


@pytest.fixture(scope="module", autouse=True)
def restore_blas_threads():
    """The app limits BLAS to 1 thread for the whole process; undo that after these tests."""
    yield
    from ui import resources

    resources.configure_process().restore_original_limits()
    resources.configure_process.clear()


def trained_run(data, hidden=(32,), epochs=3, number=1, validation=False, **config) -> Run:
    """A small Adam model trained on ``data`` in a few seconds, as the app keeps it."""
    config = TrainConfig(hidden_sizes=hidden, optimizer="adam", learning_rate=1e-3, epochs=epochs,
                         batch_size=128, seed=0, **config)
    extra = {"validation": (data.validation_images, data.validation_labels)} if validation else {}
    result = train(build_network(config), data.train_images, data.train_labels, config, **extra)
    return Run(number, config, result.status, result.message, result.network, result.history,
               data.name, 1.0)


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def open_app(page: str | None = None, lab: str | None = None, **params) -> AppTest:
    """The app after its first run (with query parameters ``lab`` and ``params``), then on
    ``page`` (a file name in pages/) if given."""
    at = AppTest.from_file(APP, default_timeout=30)
    if lab is not None:
        at.query_params["lab"] = lab
    at.query_params.update(params)
    rerun(at)
    if page:
        at.switch_page(f"pages/{page}")
        rerun(at)
    return at


def open_page(page: str, run: Run | None = None, in_history: bool = False, **state) -> AppTest:
    """The app on pages/``page``.py with ``run`` as the current model (also listed in the
    run history if ``in_history``) and ``state`` put into the session state first."""
    at = AppTest.from_file(APP, default_timeout=30)
    if run is not None:
        at.session_state["model"] = run
        if in_history:
            at.session_state["runs"] = [run.for_history()]
            at.session_state["next_run"] = run.number + 1
    for key, value in state.items():
        at.session_state[key] = value
    rerun(at)
    at.switch_page(f"pages/{page}.py")
    return rerun(at)


def open_tab(at: AppTest, key: str, tab: str) -> AppTest:
    at.session_state[key] = tab
    return rerun(at)


def pending(at: AppTest) -> bool:
    return at.session_state["job"] is not None and not at.session_state["job_collected"]


def run_until_done(at: AppTest, timeout: float = TIMEOUT, poll: float = 0.1) -> AppTest:
    deadline = time.monotonic() + timeout
    while pending(at):
        assert time.monotonic() < deadline, "training did not finish in time"
        time.sleep(poll)
        rerun(at)
    return at


def set_settings(at: AppTest, **values) -> AppTest:
    """Set the Train page's controls (keys train_<name>) and rerun."""
    for name, value in values.items():
        key = f"train_{name}"
        if name in ("learning_rate", "l2", "conv_kernel"):
            at.select_slider(key=key).set_value(value)
        elif name in ("epochs", "width", "conv_filters", "conv_filters_2"):
            at.slider(key=key).set_value(value)
        elif name in ("layers", "batch_size", "seed", "conv_layers"):
            at.number_input(key=key).set_value(value)
        elif name in ("activation", "optimizer"):
            at.selectbox(key=key).set_value(value)
        elif name == "conv_pool":
            at.checkbox(key=key).set_value(value)
        else:
            at.radio(key=key).set_value(value)
    return at.run()


def chart_key(element) -> str:
    """The key a plotly chart element was given in the page's code."""
    return element.proto.id.split("-", 2)[-1]


def decode(array) -> np.ndarray:
    """Plotly 7 sends numpy arrays as {"dtype", "bdata"[, "shape"]}; plain lists stay lists."""
    if isinstance(array, dict) and "bdata" in array:
        flat = np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
        return flat.reshape([int(n) for n in str(array["shape"]).split(",")]) if "shape" in array else flat
    return np.asarray(array, dtype=float)



def wait_for_model(at: AppTest, timeout: float = TIMEOUT, poll: float = 0.2) -> AppTest:
    """Rerun until a (one-click) training has put a model into the session, then once more."""
    deadline = time.monotonic() + timeout
    while at.session_state["model"] is None:
        assert time.monotonic() < deadline, "training did not finish in time"
        time.sleep(poll)
        rerun(at)
    return rerun(at)
