"""Shared pieces of the browser tests: Debian's Chromium through Playwright, a
`streamlit run app.py` server on a free port, timings and waits for Streamlit pages.

The test modules import from here (tests/ is on sys.path under pytest, see conftest.py),
e.g. ``from browser_support import serve``; the ``browser`` fixture is in conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000


def recorder(file_name: str, timings: dict[str, float] | None = None) -> Callable[[str, float], None]:
    """A ``record(name, seconds)`` that keeps ``timings`` and writes them to SCREENSHOTS/file_name."""
    timings = {} if timings is None else timings

    def record(name: str, value: float) -> None:
        timings[name] = round(value, 3)
        SCREENSHOTS.mkdir(exist_ok=True)
        (SCREENSHOTS / file_name).write_text(json.dumps(timings, indent=2) + "\n")
        print(f"{name}: {value:.3f}")

    return record


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def launched_chromium():
    """Debian's Chromium launched through Playwright; skips the test where either is missing."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Chromium not found (install it with `apt-get install chromium`): "
                    "browser tests skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed: browser tests skipped")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def serve(log_name: str, poll: float = 0.02, **env):
    """Run `streamlit run app.py` on a free port with extra ``env`` variables; yields
    (url, perf_counter() at the start). Checks /_stcore/health every ``poll`` seconds."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    SCREENSHOTS.mkdir(exist_ok=True)
    with open(SCREENSHOTS / log_name, "w") as log:
        started = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not start; see {SCREENSHOTS / log_name}")
                time.sleep(poll)
            yield url, started
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def main_progress(page):
    return page.locator('[data-testid="stMain"] [data-testid="stProgress"]')


def wait_for_progress(page, *texts: str, timeout: float = 120_000) -> str:
    """Wait until the main progress bar's text contains every one of ``texts``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            """texts => {
                const bar = document.querySelector('[data-testid="stMain"] [data-testid="stProgress"]');
                return bar !== null && texts.every(t => bar.innerText.includes(t));
            }""",
            arg=list(texts), timeout=timeout,
        )
    except PlaywrightTimeout:
        page.screenshot(path=SCREENSHOTS / "failure.png", full_page=True)
        bars = main_progress(page)
        shown = bars.first.inner_text() if bars.count() else "no progress bar"
        pytest.fail(f"progress never showed {texts}; it shows {shown!r} (see failure.png)")
    return main_progress(page).inner_text()


def settle(page, charts: int = 0, timeout: float = TIMEOUT_MS) -> None:
    """Wait until the script run is over and at least ``charts`` Plotly charts are drawn."""
    page.wait_for_function(
        """n => {
            const main = document.querySelector('[data-testid="stMain"]');
            const running = '[data-testid="stStatusWidgetRunningIcon"], '
                + '[data-testid="stStatusWidgetRunningManIcon"]';
            if (!main || document.querySelector(running)) return false;
            if (main.querySelector('[data-stale="true"]')) return false;
            return main.querySelectorAll('[data-testid="stPlotlyChart"] .main-svg').length >= n;
        }""",
        arg=charts, timeout=timeout,
    )
    page.wait_for_timeout(400)  # Plotly finishes drawing (transitions, fonts)


def open_page(page, title: str, charts: int = 0, timeout: float = TIMEOUT_MS) -> float:
    """Click ``title`` in the sidebar; seconds until its charts are drawn."""
    start = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=timeout)
    settle(page, charts, timeout)
    return time.perf_counter() - start


def open_tab(page, name: str, charts: int = 0, timeout: float = TIMEOUT_MS) -> float:
    """Click tab ``name``; seconds until its charts are drawn."""
    start = time.perf_counter()
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(300)
    settle(page, charts, timeout)
    return time.perf_counter() - start


def set_slider(page, name: str, target: str, jump: str | None = None) -> None:
    """Move slider ``name`` with the keyboard until it shows ``target`` (numeric sliders),
    verified and retried so that a busy machine cannot make it miss.

    ``jump`` ("Home" or "End") first moves it to one end. Each key press waits for the
    value to move and for the rerun it starts to finish: a press sent while a rerun is still
    drawing the older value can be undone by it, which is how a fixed-pace loop of presses
    once stopped 4 steps short on a loaded machine.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    slider = page.get_by_role("slider", name=name)
    deadline = time.monotonic() + 120

    def press(key: str) -> None:
        before = slider.get_attribute("aria-valuetext")
        slider.focus()
        slider.press(key)
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function("([el, before]) => el.getAttribute('aria-valuetext') !== before",
                                   arg=[slider.element_handle(), before], timeout=3000)
        wait_until_idle(page)

    if jump:
        press(jump)
    while True:
        current = slider.get_attribute("aria-valuetext")
        if current == target:
            page.wait_for_timeout(500)
            wait_until_idle(page)
            if slider.get_attribute("aria-valuetext") == target:
                return
            continue
        assert time.monotonic() < deadline, f"slider {name} stuck at {current}, wanted {target}"
        press("ArrowRight" if float(target) > float(current) else "ArrowLeft")


def wait_until_idle(page, timeout: float = 20_000) -> None:
    """Wait (at most ``timeout`` ms, then go on) until no script or fragment run is in progress."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], '
                + '[data-testid="stStatusWidgetRunningManIcon"]')""", timeout=timeout)


def draw_seven(page) -> None:
    """A 7 drawn with the mouse: a bar across the top, then a stroke down to the left."""
    canvas = page.locator('[data-testid="stMain"] canvas').last
    canvas.wait_for(timeout=TIMEOUT_MS)
    box = canvas.bounding_box()
    x, y = box["x"], box["y"]
    page.mouse.move(x + 70, y + 60)
    page.mouse.down()
    for t in range(1, 21):
        page.mouse.move(x + 70 + 7 * t, y + 60)
    for t in range(1, 31):
        page.mouse.move(x + 210 - 3 * t, y + 60 + 5.7 * t)
    page.mouse.up()


WIDE = 1400  # px: the width every figure must read well at


def main_column_screenshot(page, path: Path, max_height: int = 6000) -> Path:
    """The whole main column at 1,400 px: the window made as tall as the content (Streamlit
    scrolls inside its own container, which a full-page shot would cut), then put back."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDE, "height": min(max(int(height) + 40, 900), max_height)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": WIDE, "height": 1100})
    return path


def set_projector(page, on: bool) -> None:
    """Turn the sidebar's Projector view toggle on or off (no-op when it already is)."""
    toggle = page.locator('[data-testid="stSidebar"]').get_by_role("switch", name="Projector view")
    if toggle.is_checked() != on:
        page.locator('[data-testid="stSidebar"]').get_by_text("Projector view").click()
        wait_until_idle(page)
        page.wait_for_timeout(800)
