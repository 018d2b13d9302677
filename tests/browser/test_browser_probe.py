"""The Probe page in a real browser (Debian's Chromium).

Starts `streamlit run app.py`, trains the default model with the Probe page's own button,
goes through its four tabs (the dreams, an attack with the smallest epsilon and the
fooling-rate curve, the robustness curves, a unit switched off by clicking its cell) and
screenshots each at 1,400 px, then again in projector view, into
tests/screenshots/probe_*.png, with the measured times in timings_probe.json.
Skips where Chromium or Playwright is missing.
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
    open_tab,
    recorder,
    serve,
    settle,
    wait_until_idle,
)

_record = recorder("timings_probe.json")


@pytest.fixture(scope="module")
def server():
    with serve("server_probe.log", poll=0.05) as (url, _):
        yield url


def screenshot(page, name: str) -> None:
    main_column_screenshot(page, SCREENSHOTS / f"probe_{name}.png")


def metric_value(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text()


def test_probe_page_dream_fool_robustness_and_break_it(server, browser):
    context = browser.new_context(viewport={"width": WIDE, "height": 1100})
    try:
        page = context.new_page()
        page.goto(f"{server}/probe")
        page.get_by_text("No model yet").wait_for(timeout=TIMEOUT_MS)
        start = time.perf_counter()
        page.get_by_role("button", name="Train a good default model").click()
        page.get_by_text("what raises each digit's score most").wait_for(timeout=120_000)
        settle(page, 1)
        _record("default_training_to_dreams_seconds", time.perf_counter() - start)
        caption = page.get_by_text(re.compile(r"120 steps for all 10 in [0-9.]+ s")).inner_text()
        _record("dream_seconds_784_128_10", float(re.search(r"in ([0-9.]+) s", caption).group(1)))
        screenshot(page, "1_dream")

        _record("fool_tab_seconds", open_tab(page, "Fool it", 2))
        page.get_by_role("button", name="Use it").click()
        wait_until_idle(page)
        settle(page, 2)
        assert "✓" not in page.locator('[data-testid="stPlotlyChart"]').first.inner_text()
        start = time.perf_counter()
        page.get_by_role("button", name=re.compile("Measure the fooling rate")).click()
        page.get_by_text("how often a change this small fools the network").wait_for(timeout=120_000)
        settle(page, 3)
        _record("fooling_curve_seconds_500_images", time.perf_counter() - start)
        screenshot(page, "2_fool")

        _record("robustness_tab_seconds", open_tab(page, "How robust", 1))
        start = time.perf_counter()
        page.get_by_role("button", name="Measure every curve").click()
        page.get_by_text("Accuracy on the first 1,000 test images as each change grows").wait_for(timeout=180_000)
        settle(page, 2)
        _record("robustness_curves_seconds_1000_images", time.perf_counter() - start)
        screenshot(page, "3_robust")

        _record("break_tab_seconds", open_tab(page, "Break it", 5))
        assert metric_value(page, "Units off") == "0"
        before = metric_value(page, "Accuracy now")
        board = page.locator('[data-testid="stPlotlyChart"]').first.locator(".nsewdrag").first
        box = board.bounding_box()
        page.mouse.click(box["x"] + box["width"] * (0.5 / 16), box["y"] + box["height"] * (0.5 / 8))
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
                .some(m => m.innerText.includes('Units off') && m.innerText.includes('1'))""",
            timeout=TIMEOUT_MS)
        settle(page, 5)
        assert metric_value(page, "Units off") == "1"
        assert "unit 0" in page.locator('[data-testid="stMultiSelect"]').first.inner_text()
        page.get_by_role("button", name=re.compile("All 128 off")).click()
        wait_until_idle(page)
        settle(page, 5)
        chance = float(metric_value(page, "Accuracy now").rstrip("%"))
        assert chance < 16 < float(before.rstrip("%"))
        page.get_by_role("button", name="All on", exact=True).click()
        wait_until_idle(page)
        settle(page, 5)
        screenshot(page, "4_break")

        page.locator('[data-testid="stSidebar"]').get_by_text("Projector view").click()
        wait_until_idle(page)
        settle(page, 5)
        screenshot(page, "4_break_projector")
        for tab, charts, name in [("Dream", 1, "1_dream"), ("Fool it", 3, "2_fool"), ("How robust", 2, "3_robust")]:
            open_tab(page, tab, charts)
            screenshot(page, f"{name}_projector")
    finally:
        context.close()
