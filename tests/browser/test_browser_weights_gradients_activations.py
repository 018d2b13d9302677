"""The Weights, Gradients and Activations pages in a real browser (Debian's Chromium).

Starts `streamlit run app.py`, trains the default model with the Weights page's own
button, clicks a tile of the weight grid, and screenshots every page (and every tab) on a
wide (1400 px) and a narrow (500 px) window into tests/screenshots/inside_*.png, with the
measured times in tests/screenshots/timings_inside.json. Skips where Chromium or
Playwright is missing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from browser_support import (
    SCREENSHOTS,
    TIMEOUT_MS,
    open_page,
    open_tab,
    recorder,
    serve,
    settle,
)

WIDE, NARROW = 1400, 500
TALL = 4200  # window height: taller than any of these pages, so nothing scrolls
# Page times are printed and written to tests/screenshots/ (a timing is not a test on a busy
# machine); DIGIT_LAB_INSIDE_PAGE_LIMIT (seconds) makes them assertions for a developer.
PAGE_LIMIT = float(os.environ.get("DIGIT_LAB_INSIDE_PAGE_LIMIT", "inf"))

_record = recorder("timings_inside.json")


@pytest.fixture(scope="module")
def server():
    with serve("server_inside.log", poll=0.05) as (url, _):
        yield url


def _content_height(page) -> int:
    """Where the page's content ends (the bottom of Streamlit's main block), in pixels."""
    return int(page.evaluate(
        "() => document.querySelector('[data-testid=\"stMainBlockContainer\"]')"
        ".getBoundingClientRect().bottom"))


def screenshot(page, name: str, width: int) -> Path:
    """The whole main column at ``width`` px. The window is kept taller than the content
    (Streamlit scrolls inside its own container, which a full-page shot would cut), and
    the shot is clipped to the content."""
    if width != WIDE:
        page.set_viewport_size({"width": width, "height": TALL})
        page.wait_for_timeout(700)  # re-layout: Plotly charts resize to the new width
    height = min(_content_height(page) + 40, TALL)
    path = SCREENSHOTS / f"inside_{name}_{'wide' if width == WIDE else 'narrow'}.png"
    page.screenshot(path=path, clip={"x": 0, "y": 0, "width": width, "height": height})
    if width != WIDE:
        page.set_viewport_size({"width": WIDE, "height": TALL})
        page.wait_for_timeout(500)
    return path


def both_widths(page, name: str) -> None:
    screenshot(page, name, WIDE)
    screenshot(page, name, NARROW)


def unit_input(page):
    return page.get_by_role("spinbutton", name="Unit", exact=True)


def test_weights_gradients_activations_after_one_click_training(server, browser):
    context = browser.new_context(viewport={"width": WIDE, "height": TALL})
    try:
        page = context.new_page()
        page.goto(f"{server}/weights")
        page.get_by_text("No model yet").wait_for(timeout=TIMEOUT_MS)
        screenshot(page, "0_no_model", WIDE)

        start = time.perf_counter()
        page.get_by_role("button", name="Train a good default model").click()
        page.get_by_text("Click a tile").wait_for(timeout=120_000)
        settle(page, 3)
        _record("default_training_to_weight_grid_seconds", time.perf_counter() - start)
        assert "784-128-10 ReLU" in page.locator('[data-testid="stSidebar"]').inner_text()

        # A click on a tile opens that unit.
        assert unit_input(page).input_value() == "0"
        grid = page.locator('[data-testid="stPlotlyChart"]').first.locator(".nsewdrag").first
        box = grid.bounding_box()
        start = time.perf_counter()
        page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.6)
        page.wait_for_function(
            "() => { const i = document.querySelector('input[aria-label=\"Unit\"]');"
            " return i && i.value !== '0'; }", timeout=TIMEOUT_MS)
        settle(page, 3)
        _record("click_tile_to_unit_detail_seconds", time.perf_counter() - start)
        clicked = unit_input(page).input_value()
        detail = page.locator('[data-testid="stPlotlyChart"]').nth(1).inner_text()
        assert f"unit {clicked}" in detail
        # Type another unit, then click the same tile again: it opens again.
        unit_input(page).fill("3")
        unit_input(page).press("Enter")
        page.get_by_text("unit 3: incoming weights").wait_for(timeout=TIMEOUT_MS)
        settle(page, 3)
        grid = page.locator('[data-testid="stPlotlyChart"]').first.locator(".nsewdrag").first
        box = grid.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.6)
        page.get_by_text(f"unit {clicked}: incoming weights").wait_for(timeout=TIMEOUT_MS)
        settle(page, 3)
        assert unit_input(page).input_value() == clicked
        both_widths(page, "1_weights_units")

        for index, (tab, charts) in enumerate(
                [("Epoch replay", 1), ("Deeper layers", 1), ("Digit templates", 1)], start=2):
            _record(f"weights_tab_{tab.lower().replace(' ', '_')}_seconds", open_tab(page, tab, charts))
            both_widths(page, f"{index}_weights_{tab.lower().replace(' ', '_')}")

        # Replay: Play moves the slider on its own.
        open_tab(page, "Epoch replay", 1)
        slider = page.get_by_role("slider", name="Epoch")
        assert slider.get_attribute("aria-valuetext") == "epoch 15"
        page.get_by_role("button", name="Play").click()
        seen, deadline = [], time.monotonic() + 30
        while len(set(seen)) < 3 and time.monotonic() < deadline:
            page.wait_for_timeout(200)
            value = slider.get_attribute("aria-valuetext")
            if seen or value != "epoch 15":  # the first rerun starts it again at epoch 0
                seen.append(value)
        epochs = [int(v.split()[-1]) for v in dict.fromkeys(seen)]
        assert epochs == [0, 1, 2], seen
        page.get_by_role("button", name="Pause").click()
        settle(page, 1)

        seconds = open_page(page, "Gradients", 4)
        _record("gradients_page_seconds_128_units", seconds)
        assert seconds < PAGE_LIMIT
        both_widths(page, "5_gradients_over_training")
        for index, (tab, charts) in enumerate(
                [("Latest step", 2), ("Saliency", 1)], start=6):
            open_tab(page, tab, charts)
            both_widths(page, f"{index}_gradients_{tab.lower().replace(' ', '_')}")
        open_tab(page, "Gradient check", 0)
        start = time.perf_counter()
        page.get_by_role("button", name="Check the gradients").click()
        page.get_by_text("backprop agrees with the finite differences").wait_for(timeout=TIMEOUT_MS)
        settle(page, 1)
        _record("gradient_check_seconds", time.perf_counter() - start)
        both_widths(page, "8_gradients_check")

        seconds = open_page(page, "Activations", 6)
        _record("activations_page_seconds_128_units", seconds)
        assert seconds < PAGE_LIMIT
        both_widths(page, "9_activations")
        page.get_by_text("Misclassified").click()
        settle(page, 6)
        both_widths(page, "10_activations_misclassified")

        seconds = open_page(page, "Weights", 3)
        _record("weights_page_seconds_128_units", seconds)
        assert seconds < PAGE_LIMIT
        assert unit_input(page).input_value() == clicked  # the picked unit is remembered
    finally:
        context.close()
