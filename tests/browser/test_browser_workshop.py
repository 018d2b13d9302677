"""Workshop mode in a real browser (Debian's Chromium): a shared link opens the Train page
with its settings; screenshots of a loaded preset, a challenge and the leaderboard go to
tests/screenshots/workshop_*.png. Skips where Chromium or Playwright is missing."""

from __future__ import annotations

import re

import pytest
from browser_support import SCREENSHOTS, TIMEOUT_MS, serve

SHARED = "/train?ep=7&lr=0.01&w=32&hl=2&act=tanh&opt=sgd&bs=64&l2=0.001&seed=5"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("board") / "board.sqlite3"
    with serve("server_workshop.log", DIGIT_LAB_LEADERBOARD_DB=str(db)) as (url, _):
        yield url


def new_page(browser, width=1400, height=1900):
    return browser.new_context(viewport={"width": width, "height": height}).new_page()


def test_a_shared_link_opens_with_its_settings(browser, server):
    page = new_page(browser)
    page.goto(server + SHARED)
    page.get_by_role("heading", name="Train").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Settings loaded from the link").wait_for(timeout=TIMEOUT_MS)
    epochs = page.get_by_role("slider", name="Epochs")
    assert epochs.get_attribute("aria-valuetext") == "7"
    assert page.get_by_role("slider", name="Hidden width").get_attribute("aria-valuetext") == "32"
    assert page.get_by_role("slider", name="Learning rate").get_attribute("aria-valuetext") == "0.01"
    assert page.get_by_role("spinbutton", name="Hidden layers").input_value() == "2"
    assert page.get_by_role("spinbutton", name="Seed").input_value() == "5"
    def shown(label):
        box = page.locator("[data-testid='stSelectbox']").filter(has_text=label).first
        return box.inner_text() + " " + " ".join(
            box.locator("input").evaluate_all("els => els.map(e => e.value)"))

    assert "tanh" in shown("Activation") and "SGD" in shown("Optimizer")
    # the address keeps the settings and gains the private lab id
    assert re.search(r"[?&]lab=", page.url) and "ep=7" in page.url and "w=32" in page.url
    page.context.close()


def test_screenshots_preset_challenge_leaderboard(browser, server):
    SCREENSHOTS.mkdir(exist_ok=True)
    page = new_page(browser)
    # a preset
    page.goto(server + "/train")
    page.get_by_role("heading", name="Train").wait_for(timeout=TIMEOUT_MS)
    page.get_by_label("Preset experiment").click()
    page.get_by_role("option", name=re.compile("Dead ReLUs")).click()
    page.get_by_role("button", name="Load preset").click()
    page.get_by_text("Loaded “Dead ReLUs”").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)
    assert page.get_by_role("slider", name="Learning rate").get_attribute("aria-valuetext") == "1"
    page.screenshot(path=str(SCREENSHOTS / "workshop_preset.png"), full_page=True)
    page.context.close()

    # a challenge from the address, then a short run judged
    page = new_page(browser)
    page.goto(server + "/train?challenge=tiny-and-fast&w=100&lr=0.01")
    page.get_by_text("Challenge: 90% with a tiny network").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_role("slider", name="Hidden width").get_attribute("aria-valuetext") == "16"
    assert "w=16" in page.url  # 100 in the link, at most 16 in the challenge
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(r"Challenge (passed|not passed)")).wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(800)
    page.screenshot(path=str(SCREENSHOTS / "workshop_challenge.png"), full_page=True)

    # the leaderboard: submit that run under a name with markup in it
    page.get_by_role("link", name="Leaderboard").click()
    page.get_by_label("Display name").fill("<b>Ada</b> **L**")
    page.get_by_label("Display name").press("Enter")
    page.get_by_role("button", name=re.compile("Submit run")).click()
    page.get_by_text("is on the leaderboard").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(1000)
    assert page.locator("b", has_text="Ada").count() == 0  # never rendered as HTML
    page.screenshot(path=str(SCREENSHOTS / "workshop_leaderboard.png"), full_page=True)

    # projector view
    page.get_by_role("link", name="Train").click()
    page.get_by_text("Projector view").click()
    page.get_by_text("More settings").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(800)
    page.screenshot(path=str(SCREENSHOTS / "workshop_projector.png"), full_page=True)
    page.context.close()
