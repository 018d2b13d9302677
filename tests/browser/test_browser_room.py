"""The room in a real browser (Debian's Chromium): the room map with 200 runs, a drawing added to
the room's handwriting, a lesson step and a locked exercise link, each at 1,400 px and in
projector view. Screenshots go to tests/screenshots/room_*.png. Skips where Chromium or
Playwright is missing (the `browser` fixture of tests/conftest.py)."""

from __future__ import annotations

import random
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from browser_support import (
    SCREENSHOTS,
    TIMEOUT_MS,
    WIDE,
    draw_seven,
    main_column_screenshot,
    serve,
    set_projector,
    settle,
    wait_until_idle,
)

from lab import exercise_lock, handwriting
from lab.leaderboard import Leaderboard
from lab.settings import ACTIVATION_CHOICES, BATCH_FULL, BATCH_MINI, DEFAULT_SETTINGS, GOOD_DEFAULT, OPTIMIZERS

TOKEN, RUNS = "s3cret", 200


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """A server whose board already has RUNS runs; (url, database file)."""
    database = tmp_path_factory.mktemp("room") / "room.sqlite3"
    board = Leaderboard(database)
    rng = random.Random(1)
    for index in range(RUNS):
        rate = rng.choice([1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0])
        optimizer = rng.choice(OPTIMIZERS)
        good = 0.93 if optimizer == "adam" and 1e-4 < rate < 0.02 else 0.9 if 0.005 < rate < 1 else 0.4
        settings = {**GOOD_DEFAULT, "learning_rate": rate, "optimizer": optimizer,
                    "activation": rng.choice(ACTIVATION_CHOICES), "width": rng.choice([16, 32, 64, 128, 256, 512]),
                    "layers": rng.randint(1, 3), "epochs": rng.randint(3, 30),
                    "batch_mode": rng.choice([BATCH_MINI, BATCH_MINI, BATCH_FULL])}
        accuracy = min(0.985, max(0.08, good + rng.gauss(0, 0.04)))
        board.submit(f"run-{index}", f"participant {index % 30}", accuracy, settings,
                     room_accuracy=max(0.0, accuracy - rng.uniform(0.05, 0.2)), room_images=60)
    with serve("server_room.log", DIGIT_LAB_LEADERBOARD_DB=str(database),
               DIGIT_LAB_LEADERBOARD_TOKEN=TOKEN) as (url, _):
        yield url, database


def open_at(browser, address: str, heading: str):
    """A new 1,400 px wide page on ``address``, once its ``heading`` is shown and it settled."""
    page = browser.new_context(viewport={"width": WIDE, "height": 1100}).new_page()
    page.goto(address)
    page.get_by_role("heading", name=heading).wait_for(timeout=TIMEOUT_MS)
    settle(page)
    return page


def screenshot(page, name: str) -> None:
    main_column_screenshot(page, SCREENSHOTS / f"room_{name}.png", max_height=5000)


def projector_on(page) -> None:
    set_projector(page, True)


def in_both_views(page, name: str, charts: int = 0) -> None:
    """Screenshots room_<name>.png, then (projector view on) room_<name>_projector.png."""
    screenshot(page, name)
    projector_on(page)
    settle(page, charts=charts)
    screenshot(page, f"{name}_projector")


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def test_the_room_map_with_two_hundred_runs(browser, room):
    url, _ = room
    page = open_at(browser, url + "/leaderboard", "What worked in this room?")
    settle(page, charts=2)
    assert page.get_by_text(f"Each dot is one of the {RUNS} runs").count() == 1
    points = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')][0]
                                      .querySelectorAll('.scatterlayer .point').length""")
    assert points == RUNS
    lines = page.evaluate("""() => document.querySelectorAll('[data-testid="stPlotlyChart"] .parcoords').length""")
    assert lines >= 1
    in_both_views(page, "map", charts=2)
    page.context.close()


def test_a_drawing_joins_the_rooms_handwriting(browser, room):
    url, database = room
    page = open_at(browser, url + "/draw", "Draw")
    add = page.get_by_role("button", name="Add", exact=True)
    assert add.is_disabled()
    draw_seven(page)
    page.get_by_text("28×28 = 784 pixels").wait_for(timeout=TIMEOUT_MS)
    wait_until_idle(page)
    page.locator(".st-key-room_label").get_by_role("radio", name="7", exact=True).click()
    wait_until_idle(page)
    add.click()
    page.get_by_text(re.compile(r"Added your 7 to the room's handwriting: 1 of yours")).wait_for(timeout=TIMEOUT_MS)
    images, labels = handwriting.RoomHandwriting(str(database)).images()
    assert labels.tolist() == [7] and images[0].max() > 200 and (images[0] > 0).sum() > 40
    screenshot(page, "draw_added")
    page.context.close()


def test_a_lesson_step_and_its_curves_in_projector_view(browser, room):
    url, _ = room
    page = open_at(browser, url + "/?lesson=how-a-network-learns&step=1", "Train")
    sidebar(page).get_by_text("The classic network").first.wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_role("slider", name="Hidden width").get_attribute("aria-valuetext") == "10"
    assert page.get_by_text("L2 weight decay").count() == 0  # hidden: not rendered
    assert page.get_by_text("Preset experiment").count() == 0
    assert page.get_by_text("Convolution layers (CNN)").count() == 0
    page.get_by_role("button", name="Start").click()
    sidebar(page).get_by_text("Goal reached: train a run to the end.").wait_for(timeout=TIMEOUT_MS)
    settle(page, charts=2)
    in_both_views(page, "lesson", charts=2)
    page.context.close()


def test_a_locked_exercise_link(browser, room):
    url, _ = room
    link = exercise_lock.compose_link({**DEFAULT_SETTINGS, "learning_rate": 0.1, "optimizer": "sgd", "width": 32},
                                      TOKEN, fixed=["opt", "bs"], hidden=["lr", "conv", "l2", "presets", "share"],
                                      pages=["gradients", "weights", "data"], expected_token=TOKEN)
    page = open_at(browser, url + urlsplit(link).path + "?" + urlsplit(link).query, "Train")
    page.get_by_text("Exercise link.").wait_for(timeout=TIMEOUT_MS)
    navigation = page.locator('[data-testid="stSidebarNav"]')
    links = navigation.get_by_role("link").all_inner_texts()
    assert "Activations" in " ".join(links)
    assert not any(name in " ".join(links) for name in ("Gradients", "Weights", "Data"))
    assert page.get_by_role("slider", name="Learning rate").count() == 0
    assert page.locator('[data-testid="stExpander"]').filter(has_text="Share these settings").count() == 0
    screenshot(page, "locked")
    # the hidden page's address, in this lab (which keeps its lock), opens the Home page instead
    lab = dict(parse_qsl(urlsplit(page.url).query))["lab"]
    page.goto(f"{url}/weights?lab={lab}")
    page.get_by_role("heading", name="Digit Lab").first.wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_role("heading", name="Weights").count() == 0
    page.wait_for_timeout(800)
    page.screenshot(path=str(SCREENSHOTS / "room_locked_hidden_page.png"))
    page.keyboard.press("Escape")  # Streamlit's "page not found" dialog
    page.wait_for_timeout(500)
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Train").click()
    page.get_by_text("Exercise link.").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_role("slider", name="Learning rate").count() == 0
    projector_on(page)
    screenshot(page, "locked_projector")
    page.context.close()
