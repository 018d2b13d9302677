"""The Draw, Evaluate, Data and Models pages in a real browser (Debian's Chromium).

Starts `streamlit run app.py`, trains the default model with the Draw page's own button,
draws a 7 on the canvas with the mouse and waits for the prediction, follows the drawing
to the Activations page, clicks a cell of the confusion matrix, makes a Kaggle submission
through the file uploader and downloads it, uploads a malformed training file, downloads
the model and uploads it back. Screenshots of every page on a wide window go to
tests/screenshots/use_*.png, timings to tests/screenshots/timings_use.json. Skips where
Chromium or Playwright is missing (the `browser` fixture of tests/conftest.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from browser_support import (
    SCREENSHOTS,
    TIMEOUT_MS,
    draw_seven,
    open_page,
    open_tab,
    recorder,
    serve,
    settle,
)

WIDE = 1400
_record = recorder("timings_use.json")


def screenshot(page, name: str) -> Path:
    """The whole main column on a wide window (made as tall as the content)."""
    page.set_viewport_size({"width": WIDE, "height": 1000})
    page.wait_for_timeout(400)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDE, "height": min(max(int(height) + 40, 800), 6000)})
    page.wait_for_timeout(700)
    path = SCREENSHOTS / f"use_{name}.png"
    page.screenshot(path=path)
    page.set_viewport_size({"width": WIDE, "height": 1000})
    return path


def upload(page, label: str, name: str, content: bytes) -> None:
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text=label)
    uploader.locator('input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": content}])


def sidebar_text(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def kaggle_test_csv(images) -> bytes:
    header = ",".join(f"pixel{i}" for i in range(784))
    return ("\n".join([header, *(",".join(map(str, row.tolist())) for row in images)]) + "\n").encode()


def test_draw_evaluate_data_models(browser, mnist_test_set):
    context = browser.new_context(viewport={"width": WIDE, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        with serve("server_use.log") as (url, _):
            try:
                _run(page, url, mnist_test_set)
            except Exception:
                page.screenshot(path=SCREENSHOTS / "use_failure.png", full_page=True)
                raise
    finally:
        context.close()
    assert not errors, errors


def _run(page, url: str, mnist_test_set) -> None:
    page.goto(url)
    page.get_by_role("heading", name="Digit Lab").wait_for(timeout=TIMEOUT_MS)

    # --- Draw: no model yet, train it from here, draw, read the prediction -------------
    open_page(page, "Draw")
    page.get_by_text("No model yet").wait_for(timeout=TIMEOUT_MS)
    start = time.perf_counter()
    page.get_by_role("button", name="Train a good default model").click()
    page.get_by_text("Draw a digit: the model of run 1 will read it.").wait_for(timeout=TIMEOUT_MS)
    _record("default_training_seconds", time.perf_counter() - start)
    assert page.get_by_role("heading", name="Draw", exact=True).is_visible()  # stayed here
    start = time.perf_counter()
    draw_seven(page)
    guess = page.locator('[data-testid="draw-top-guess"]')
    guess.wait_for(timeout=TIMEOUT_MS)
    _record("stroke_to_prediction_seconds", time.perf_counter() - start)
    settle(page, 2)
    assert guess.inner_text().strip() == "7"
    assert page.get_by_text("What the network sees").is_visible()
    screenshot(page, "1_draw")
    # Shrunk EMNIST's way the same 7 fills the field; the prediction is redrawn for it.
    shrink = page.locator(".st-key-use_shrink_style")
    shrink.get_by_text("EMNIST", exact=True).click()
    page.get_by_text("the way the EMNIST characters were made").wait_for(timeout=TIMEOUT_MS)
    settle(page, 2)
    guess.wait_for(timeout=TIMEOUT_MS)
    screenshot(page, "1b_draw_emnist_way")
    shrink.get_by_text("MNIST", exact=True).click()
    page.get_by_text("the way the MNIST digits were made").wait_for(timeout=TIMEOUT_MS)
    settle(page, 2)
    assert guess.inner_text().strip() == "7"
    page.get_by_role("button", name="Follow this digit through the network").click()
    page.get_by_role("heading", name="Activations", exact=True).wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Your drawing from the Draw page").wait_for(timeout=TIMEOUT_MS)

    # --- Evaluate: accuracy, a click on a cell, the misclassified gallery ----------------
    start = time.perf_counter()
    open_page(page, "Evaluate", charts=2)
    _record("evaluate_page_seconds", time.perf_counter() - start)
    metrics = page.locator('[data-testid="stMetric"]')
    test_accuracy = metrics.filter(has_text="Test accuracy").locator('[data-testid="stMetricValue"]')
    shown_accuracy = test_accuracy.inner_text().strip()
    print(f"default model, test accuracy on the Evaluate page: {shown_accuracy}")
    assert shown_accuracy in sidebar_text(page)  # the same number as the training measured
    matrix = page.locator('[class*="st-key-use_confusion_chart"]')
    cells = matrix.locator(".scatterlayer .trace").last.locator(".point")
    assert cells.count() == 100
    box = cells.nth(5 * 10 + 3).bounding_box()  # true 5, predicted 3
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(200)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text("images of 5 read as 3").wait_for(timeout=TIMEOUT_MS)
    settle(page, 2)
    screenshot(page, "2_evaluate_confusion")
    open_tab(page, "Misclassified", charts=1)
    screenshot(page, "3_evaluate_misclassified")

    # --- Kaggle submission through the uploader, then the download -----------------------
    open_tab(page, "Kaggle submission")
    images = mnist_test_set.images[:300]
    upload(page, "Kaggle test.csv", "test.csv", kaggle_test_csv(images))
    button = page.get_by_role("button", name="Download submission.csv")
    button.wait_for(timeout=TIMEOUT_MS)
    settle(page, 1)
    screenshot(page, "4_evaluate_submission")
    with page.expect_download() as download_info:
        button.click()
    download = download_info.value
    assert download.suggested_filename == "submission.csv"
    lines = Path(download.path()).read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 301
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, 301))
    labels = np.array([int(line.split(",")[1]) for line in lines[1:]])
    assert np.mean(labels == mnist_test_set.labels[:300]) > 0.85

    # --- Data: what it looks like; a malformed upload changes nothing --------------------
    open_page(page, "Data", charts=3)
    screenshot(page, "5_data")
    open_tab(page, "Load data")
    page.get_by_text("Kaggle train.csv", exact=True).click()
    page.get_by_role("button", name="Load this file").wait_for(timeout=TIMEOUT_MS)
    bad = ("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n3," + ",".join(["300"] * 784)
           + "\n").encode()
    upload(page, "train.csv", "pixel_300.csv", bad)
    page.get_by_role("button", name="Load this file").and_(page.locator(":enabled")).wait_for(
        timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Load this file").click()
    error = page.locator('[data-testid="stAlertContentError"]')
    error.wait_for(timeout=TIMEOUT_MS)
    assert "pixel_300.csv" in error.inner_text() and "300" in error.inner_text()
    settle(page)
    assert "MNIST 5k subset" in sidebar_text(page)
    screenshot(page, "6_data_bad_upload")

    # --- Models: download, upload back, compare --------------------------------------------
    from nn.model_io import load_model
    from nn.training import evaluate

    open_page(page, "Models")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download digit-lab-run-1.npz").click()
    raw = Path(download_info.value.path()).read_bytes()
    network, meta = load_model(raw)
    assert network.layer_sizes == (784, 128, 10) and meta["run"] == 1
    accuracy = evaluate(network, mnist_test_set.images, mnist_test_set.labels)[1]
    assert f"{100 * accuracy:.1f}%" == shown_accuracy  # the downloaded file is the model shown
    upload(page, "A Digit Lab model", "digit-lab-run-1.npz", raw)
    page.get_by_role("button", name="Use it as the current model").click()
    page.get_by_text("The uploaded model is now the current model (run 2)").wait_for(timeout=TIMEOUT_MS)
    settle(page)
    assert "run 2 (uploaded)" in sidebar_text(page)
    assert f"test {shown_accuracy}" in sidebar_text(page)  # measured again: the same
    screenshot(page, "7_models")
    open_tab(page, "Compare runs", charts=4)
    screenshot(page, "8_models_compare")
