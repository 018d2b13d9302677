"""A convolutional network in a real browser (Debian's Chromium).

Starts `streamlit run app.py`, loads the "Small CNN (≈97%)" preset on the Train page,
trains it, and screenshots the Train page, the Weights page (both conv layers' filters)
and the Activations page (every filter's feature maps) into
tests/screenshots/conv_*.png. Skips where Chromium or Playwright is missing.
"""

from __future__ import annotations

import re

import pytest
from browser_support import SCREENSHOTS, TIMEOUT_MS, open_page, serve, settle, wait_for_progress

from lab import settings
from lab.presets import BY_ID

WIDTH, TALL = 1400, 4200


@pytest.fixture(scope="module")
def server():
    with serve("server_conv.log", poll=0.05) as (url, _):
        yield url


def screenshot(page, name: str) -> None:
    """The main column down to the end of its content (the window is taller than it)."""
    bottom = int(page.evaluate(
        "() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').getBoundingClientRect().bottom"))
    page.screenshot(path=SCREENSHOTS / f"conv_{name}.png",
                    clip={"x": 0, "y": 0, "width": WIDTH, "height": min(bottom + 40, TALL)})


def test_small_cnn_preset_trains_and_shows_its_filters_and_maps(server, browser):
    config = settings.to_config(BY_ID["small_cnn"].settings())  # the engine's recommended CNN
    assert [f for f, _ in config.conv_layers] == [16, 32] and config.hidden_sizes == ()
    context = browser.new_context(viewport={"width": WIDTH, "height": TALL})
    try:
        page = context.new_page()
        page.goto(f"{server}/train")
        page.get_by_role("heading", name="Train").wait_for(timeout=TIMEOUT_MS)
        page.get_by_label("Preset experiment").click()
        page.get_by_role("option", name=re.compile("Small CNN")).click()
        page.get_by_role("button", name="Load preset").click()
        page.get_by_text("Loaded “Small CNN (≈97%)”").wait_for(timeout=TIMEOUT_MS)
        page.get_by_text(f"{settings.config_parameters(config):,} parameters").wait_for(timeout=TIMEOUT_MS)
        assert page.get_by_role("spinbutton", name="Convolution layers").input_value() == "2"
        assert page.get_by_role("spinbutton", name="Hidden layers").input_value() == "0"
        page.get_by_role("button", name="Start").click()
        wait_for_progress(page, "Done", f"Epoch {config.epochs}/{config.epochs}", timeout=300_000)
        settle(page, 2)
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert f"{settings.architecture_text(config)} ReLU" in sidebar
        screenshot(page, "1_train")

        open_page(page, "Weights", 3)
        page.get_by_text("conv1 (16@3×3): 16 filters on the image").wait_for(timeout=TIMEOUT_MS)
        page.get_by_text("training images where filter 0 responds most").wait_for(timeout=TIMEOUT_MS)
        settle(page, 3)
        screenshot(page, "2_weights_conv1")
        page.get_by_text("conv2 (32@3×3)", exact=True).click()
        settle(page, 3)
        page.get_by_text("every input map").click()
        page.get_by_text("a row per filter, a column per input map").wait_for(timeout=TIMEOUT_MS)
        settle(page, 3)
        screenshot(page, "3_weights_conv2_per_input_map")
        page.get_by_role("tab", name="Dense layers").click()
        settle(page, 1)
        screenshot(page, "4_weights_dense")

        open_page(page, "Activations", 8)
        # Eight ".main-svg" may be fewer than eight charts (Plotly draws two per chart): wait
        # for the last ones' text before reading the page.
        page.wait_for_function(
            """texts => texts.every(t => document.querySelector('[data-testid="stMain"]').innerText.includes(t))""",
            arg=["32 maps of 11×11 after ReLU", "Which filters built the answer"], timeout=TIMEOUT_MS)
        text = page.locator('[data-testid="stMain"]').inner_text()
        assert "16 maps of 26×26 after ReLU" in text and "after the 2×2 max pool: 13×13" in text
        assert "32 maps of 11×11 after ReLU" in text and "Which filters built the answer" in text
        screenshot(page, "5_activations")

        open_page(page, "Gradients", 4)
        page.get_by_role("tab", name="Latest step").click()
        settle(page, 2)
        screenshot(page, "6_gradients_latest_step")

        # A dense run beside it: Models compares their first layers, filters for the CNN.
        open_page(page, "Train", 2)
        page.get_by_label("Preset experiment").click()
        page.get_by_role("option", name=re.compile("Adam vs SGD — 1")).click()
        page.get_by_role("button", name="Load preset").click()
        page.get_by_text("Network: 784-64-10 (ReLU)").wait_for(timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Start").click()
        wait_for_progress(page, "Done", "Epoch 10/10", timeout=120_000)
        open_page(page, "Models")
        page.get_by_role("tab", name="Compare runs").click()
        page.get_by_text("First-layer weights").wait_for(timeout=TIMEOUT_MS)
        settle(page, 4)
        screenshot(page, "7_models_compare")
    finally:
        context.close()
