"""The "see it learn" pages in a real browser (Debian's Chromium): Step by step (Step, Step ×10,
Run/Pause), the Weights page's learned change, the Hidden space map (a click on a point shows
its image) and its replay, and the Train page's coach after a diverging run (its fix sets the
learning rate). Screenshots at 1,400 px, and in projector view, go to
tests/screenshots/seeit_*.png, timings to tests/screenshots/timings_seeit.json. Skips where
Chromium or Playwright is missing.
"""

from __future__ import annotations

import re
import time

import pytest
from browser_support import (
    SCREENSHOTS,
    TIMEOUT_MS,
    WIDE,
    main_column_screenshot,
    recorder,
    serve,
    set_projector,
    settle,
    wait_until_idle,
)

_record = recorder("timings_seeit.json")


@pytest.fixture(scope="module")
def server():
    with serve("server_seeit.log", poll=0.05) as (url, _):
        yield url


def screenshot(page, name: str) -> None:
    main_column_screenshot(page, SCREENSHOTS / f"seeit_{name}.png", max_height=9000)


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def step_count(page) -> int:
    found = re.search(r"Step ([\d,]+) of", main_text(page))
    return int(found.group(1).replace(",", "")) if found else -1


def pause(page) -> None:
    """Click Pause and wait until the page shows Run again (the click was handled). A click
    that lands while the button is redrawn by a tick can be lost on a busy machine: then once
    more."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(2):
        pause_button = page.get_by_role("button", name="Pause")
        if pause_button.count():
            pause_button.click()
        try:
            page.get_by_role("button", name="Run", exact=True).wait_for(timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt:
                raise
    wait_until_idle(page)
    page.wait_for_timeout(1000)  # a tick already sent before the pause is drawn by now


def test_step_by_step(server, browser):
    page = browser.new_context(viewport={"width": WIDE, "height": 1100}).new_page()
    page.goto(f"{server}/step")
    page.get_by_text("Press Step").wait_for(timeout=TIMEOUT_MS)
    start = time.perf_counter()
    page.get_by_role("button", name="Step", exact=True).click()
    page.get_by_text("1 · Forward").wait_for(timeout=TIMEOUT_MS)
    settle(page, 10)
    _record("first_step_drawn_seconds", time.perf_counter() - start)
    assert step_count(page) == 1
    assert page.locator(".katex").count() >= 10  # the equations are typeset
    screenshot(page, "step_1")
    start = time.perf_counter()
    page.get_by_role("button", name="Step ×10").click()
    page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"]').innerText.includes('Step 11 of')",
                           timeout=TIMEOUT_MS)
    settle(page, 10)
    _record("ten_steps_drawn_seconds", time.perf_counter() - start)
    page.get_by_role("button", name="Run").click()
    page.wait_for_function("() => /Step (1[4-9]|[2-9]\\d) of/.test(document.querySelector('[data-testid=\"stMain\"]')"
                           ".innerText)", timeout=30_000)  # it runs by itself, one step per tick
    pause(page)
    paused = step_count(page)
    page.wait_for_timeout(2000)
    assert step_count(page) == paused >= 14  # paused: no step since
    set_projector(page, True)
    settle(page, 10)
    screenshot(page, "step_projector")
    set_projector(page, False)


def test_weights_change_and_the_hidden_space(server, browser):
    page = browser.new_context(viewport={"width": WIDE, "height": 1100}).new_page()
    page.goto(f"{server}/weights")
    page.get_by_role("button", name="Train a good default model").click()
    page.get_by_text("Click a tile").wait_for(timeout=120_000)
    settle(page, 3)
    shown = page.locator('[data-testid="stRadio"]').filter(has_text="Show")
    assert shown.get_by_role("radio", name=re.compile("Learned change")).is_checked()
    screenshot(page, "weights_change")

    start = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Hidden space").click()
    page.get_by_role("heading", name="Hidden space", exact=True).wait_for(timeout=TIMEOUT_MS)
    settle(page, 1)
    _record("hidden_space_map_seconds", time.perf_counter() - start)
    points = page.locator('[data-testid="stPlotlyChart"]').first.locator(".scatterlayer .point")
    assert points.count() == 1000
    points.nth(123).click(force=True)
    page.get_by_text("Read as").wait_for(timeout=TIMEOUT_MS)
    settle(page, 2)
    screenshot(page, "hidden_space_map")
    set_projector(page, True)
    settle(page, 2)
    screenshot(page, "hidden_space_projector")
    set_projector(page, False)
    start = time.perf_counter()
    page.get_by_role("tab", name="Through training").click()
    page.get_by_text("Classes apart at epoch 15").wait_for(timeout=TIMEOUT_MS)
    settle(page, 2)
    _record("hidden_space_replay_seconds", time.perf_counter() - start)
    page.get_by_role("button", name="Play").click()
    page.get_by_text("Classes apart at epoch 2").wait_for(timeout=30_000)  # plays from epoch 0
    page.get_by_role("button", name="Pause").click()
    wait_until_idle(page)
    screenshot(page, "hidden_space_replay")


def test_the_coach_after_a_diverging_run(server, browser):
    page = browser.new_context(viewport={"width": WIDE, "height": 1100}).new_page()
    page.goto(f"{server}/train?lr=10&opt=sgd&ep=5")
    page.get_by_role("button", name="Start").wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Start").click()
    page.get_by_text("The run diverged.").wait_for(timeout=60_000)
    settle(page)
    screenshot(page, "coach")
    set_projector(page, True)
    screenshot(page, "coach_projector")
    set_projector(page, False)
    page.get_by_role("button", name="Learning rate 1", exact=True).click()
    page.get_by_text("Press Start to try it").wait_for(timeout=TIMEOUT_MS)
    slider = page.get_by_role("slider", name="Learning rate")
    assert slider.get_attribute("aria-valuetext") == "1"
