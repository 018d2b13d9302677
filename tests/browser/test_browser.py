"""The app in a real browser: `streamlit run app.py` driven through Debian's Chromium.

Skips (with a message) where Chromium or Playwright is missing; `.ci/run` installs
Chromium with apt first. Screenshots and measured timings go to tests/screenshots/.
The server runs with DIGIT_LAB_MAX_JOBS=1 so the queue can be seen with two tabs.
"""

from __future__ import annotations

import os
import re
import statistics
import time

import pytest
from browser_support import (
    SCREENSHOTS,
    main_progress,
    recorder,
    serve,
    set_slider,
    wait_for_progress,
)

# The target is a first page in under 3 s, but a timing is not a test on a shared, busy machine:
# the measured time is printed and written to tests/screenshots/timings.json, and only a limit
# a developer sets (DIGIT_LAB_COLD_START_LIMIT, seconds) makes it an assertion.
COLD_START_LIMIT = float(os.environ.get("DIGIT_LAB_COLD_START_LIMIT", "inf"))
TIMEOUT_MS = 120_000

TIMINGS: dict[str, float] = {}
_record = recorder("timings.json", TIMINGS)


@pytest.fixture(scope="module")
def app(browser):
    """The app's server, started after the browser so that the cold start is the app's own.

    Yields (url, page) with the first page already rendered in a browser tab. The
    server trains one job at a time (DIGIT_LAB_MAX_JOBS=1) so the queue can be seen.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    SCREENSHOTS.mkdir(exist_ok=True)
    console = open(SCREENSHOTS / "browser_console.log", "w")  # noqa: SIM115 (closed below)
    page.on("console", lambda message: console.write(f"{message.type}: {message.text}\n"))
    page.on("pageerror", lambda error: console.write(f"pageerror: {error}\n"))
    try:
        # A 3 s grace period: closing a tab stops its job after it (the default is 120 s).
        with serve("server.log", DIGIT_LAB_MAX_JOBS="1", DIGIT_LAB_JOB_GRACE_SECONDS="3") as (url, started):
            _record("server_health_seconds", time.perf_counter() - started)
            page.goto(url)
            page.get_by_role("heading", name="Digit Lab").wait_for(timeout=TIMEOUT_MS)
            page.get_by_text("None yet").wait_for(timeout=TIMEOUT_MS)
            page.get_by_role("button", name="Train a good default model").wait_for(timeout=TIMEOUT_MS)
            _record("cold_start_seconds", time.perf_counter() - started)
            yield url, page
    finally:
        context.close()
        console.close()


def seconds_left(progress: str) -> float:
    """The "... 1 min 05 s left" / "... 26 s left" part of a progress line, in seconds."""
    match = re.search(r"(?:(\d+) min )?([\d.]+) s left", progress)
    assert match, f"no time left in {progress!r}"
    return 60 * int(match.group(1) or 0) + float(match.group(2))


def wait_for_count(page, selector: str, at_least: int) -> None:
    page.wait_for_function("([selector, n]) => document.querySelectorAll(selector).length >= n",
                           arg=[selector, at_least], timeout=TIMEOUT_MS)


def open_train(page) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Train").click()
    page.get_by_role("slider", name="Epochs").wait_for(timeout=TIMEOUT_MS)


def test_home_page_cold_start(app):
    url, page = app
    page.screenshot(path=SCREENSHOTS / "1_home.png", full_page=True)
    assert page.get_by_role("button", name="Train a good default model").is_visible()
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "MNIST 5k subset" in sidebar.inner_text()
    assert TIMINGS["cold_start_seconds"] < COLD_START_LIMIT, TIMINGS


def test_training_runs_on_while_switching_pages(app):
    url, page = app
    open_train(page)
    # 500 epochs of 16-image steps (about a minute here): long enough to visit another page meanwhile.
    set_slider(page, "Epochs", "500", jump="End")
    batch_size = page.get_by_label("Batch size N")
    batch_size.fill("16")
    batch_size.press("Enter")
    page.wait_for_timeout(700)  # let the rerun that stores the value finish
    page.get_by_role("button", name="Start").click()
    text = wait_for_progress(page, "Epoch", "loss", "s left")
    assert seconds_left(text) > 20, "too short a run to visit another page meanwhile"
    assert "/500" in text
    assert page.get_by_role("button", name="Start").is_disabled()
    # The loss chart is drawn as soon as the first epoch is done.
    wait_for_count(page, '[data-testid="stPlotlyChart"] .scatterlayer .trace', 4)

    # How often does the page update while training? Sample the progress text.
    changes, last, end = [], main_progress(page).inner_text(), time.perf_counter() + 3
    while time.perf_counter() < end:
        current = main_progress(page).inner_text()
        if current != last:
            changes.append(time.perf_counter())
            last = current
        page.wait_for_timeout(20)
    assert len(changes) >= 2, "the progress bar did not update while training"
    _record("progress_update_interval_seconds",
            statistics.median(b - a for a, b in zip(changes, changes[1:])))
    page.screenshot(path=SCREENSHOTS / "2_train_running.png", full_page=True)

    # Another page: training goes on, the sidebar shows it.
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Home").click()
    page.get_by_role("heading", name="Digit Lab").wait_for()
    sidebar_bar = page.locator('[data-testid="stSidebar"] [data-testid="stProgress"]')
    sidebar_bar.wait_for(timeout=TIMEOUT_MS)
    first = sidebar_bar.inner_text()
    assert "Run 1: epoch" in first
    page.wait_for_function(
        "before => document.querySelector('[data-testid=\"stSidebar\"] [data-testid=\"stProgress\"]')"
        ".innerText !== before", arg=first, timeout=TIMEOUT_MS)  # it moves on
    page.screenshot(path=SCREENSHOTS / "3_home_while_training.png", full_page=True)

    # Back on Train: still running, with the settings as they were left; moving a
    # slider now changes the next run only.
    open_train(page)
    wait_for_progress(page, "Epoch", "left")
    assert page.get_by_role("slider", name="Epochs").get_attribute("aria-valuetext") == "500"
    set_slider(page, "Hidden width", "120")
    text = wait_for_progress(page, "Epoch", "left")
    assert page.get_by_role("button", name="Start").is_disabled()
    page.get_by_role("button", name="Stop", exact=True).click()
    wait_for_progress(page, "Stopped")
    page.get_by_text("The model trained so far is kept").wait_for()
    assert page.get_by_role("button", name="Start").is_enabled()


def test_a_run_reaches_done_with_curves(app):
    url, page = app
    set_slider(page, "Epochs", "12", jump="Home")
    page.get_by_role("button", name="Start").click()
    text = wait_for_progress(page, "Done", "12/12")
    assert "validation" in text and "took" in text
    page.get_by_text("Trained 12 epochs").wait_for()
    # Loss: per step, train, validation; accuracy: train, validation. A marker per epoch
    # on the 4 epoch curves. (Plotly draws after the element appears: wait for it.)
    wait_for_count(page, '[data-testid="stPlotlyChart"] .scatterlayer .trace', 5)
    wait_for_count(page, '[data-testid="stPlotlyChart"] .scatterlayer .trace .points path', 4 * 12)
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "784-120-10 ReLU, run 2" in sidebar and "12 epochs" in sidebar
    page.screenshot(path=SCREENSHOTS / "4_train_done.png", full_page=True)
    table = page.locator('[data-testid="stDataFrame"]')
    table.scroll_into_view_if_needed()
    table.wait_for()
    page.wait_for_timeout(500)  # the grid paints its cells after it appears
    table.screenshot(path=SCREENSHOTS / "4b_run_history.png")


def test_divergence_shows_a_warning(app):
    url, page = app
    open_train(page)
    set_slider(page, "Learning rate", "10", jump="End")
    page.get_by_role("button", name="Start").click()
    wait_for_progress(page, "Diverged")
    warning = page.locator('[data-testid="stAlertContentWarning"]')
    warning.wait_for()
    assert "learning rate" in warning.inner_text()
    page.get_by_role("heading", name="Train").scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOTS / "5_diverged.png", full_page=True)
    set_slider(page, "Learning rate", "0.001")


def test_queue_and_closing_a_tab_stops_its_job(app, browser):
    url, _ = app
    first = browser.new_context(viewport={"width": 1400, "height": 1000})
    second = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page_a = first.new_page()
        page_a.goto(f"{url}/train")
        page_a.get_by_role("slider", name="Epochs").wait_for(timeout=TIMEOUT_MS)
        set_slider(page_a, "Epochs", "500", jump="End")
        set_slider(page_a, "Hidden width", "512", jump="End")  # long enough to outlast the check below
        page_a.get_by_role("button", name="Start").click()
        wait_for_progress(page_a, "Epoch", "left")

        page_b = second.new_page()
        page_b.goto(f"{url}/train")
        page_b.get_by_role("slider", name="Epochs").wait_for(timeout=TIMEOUT_MS)
        page_b.get_by_role("button", name="Start").click()
        text = wait_for_progress(page_b, "number 1 in the queue")  # the server trains one at a time
        assert "Waiting" in text
        page_b.screenshot(path=SCREENSHOTS / "6_queued.png", full_page=True)

        # If closing did not stop the first job, the second would start only after it ends:
        # the second run (15 epochs, under a second) must be done well before that.
        first_left = seconds_left(wait_for_progress(page_a, "Epoch", "s left"))
        assert first_left >= 20, f"the first run is too short ({first_left:.0f} s left) to tell"
        first.close()  # closing the tab ends the session: 3 s later its 500-epoch job stops
        wait_for_progress(page_b, "Done", "15/15", timeout=1000 * (first_left - 5))
        page_b.screenshot(path=SCREENSHOTS / "7_after_other_tab_closed.png", full_page=True)
    finally:
        second.close()
        try:
            first.close()
        except Exception:
            pass


def test_a_page_address_as_the_first_request(browser):
    """A fresh server whose first visitor opens /train directly still gets the whole app.

    (With a pages/ folder next to app.py, Streamlit would run pages/train.py alone
    for that first request; ui.entry_script.require reruns it through app.py.)
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        with serve("server_deep_link.log") as (url, _):
            page = context.new_page()
            page.goto(f"{url}/train")
            page.get_by_role("slider", name="Epochs").wait_for(timeout=TIMEOUT_MS)
            sidebar = page.locator('[data-testid="stSidebar"]')
            sidebar.get_by_text("Current model").wait_for(timeout=TIMEOUT_MS)
            assert "None yet" in sidebar.inner_text()
            assert page.locator('[data-testid="stException"]').count() == 0
            # st.navigation's pages (Home, Train, ...), not the pages/ folder's (app, home, train).
            nav = page.locator('[data-testid="stSidebarNav"]').inner_text().split()
            assert "Home" in nav and "Train" in nav and "app" not in nav
            page.screenshot(path=SCREENSHOTS / "8_first_request_to_train.png", full_page=True)
    finally:
        context.close()
