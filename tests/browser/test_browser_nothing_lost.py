"""Nothing lost, in Chromium against a real server: a reload keeps the lab, a server killed
and started again brings the run back at the same address, and a network blip mid-run leaves
the run training while the page reconnects by itself (the AppTest side is in
tests/pages/test_nothing_lost.py)."""

import contextlib
import os
import signal
import socket
import threading
import time

from browser_support import SCREENSHOTS, main_progress, serve, set_slider, wait_for_progress

from bench.streamlit_client import Server

# -- a real browser reload ---------------------------------------------------------------


def test_browser_reload_keeps_the_model_and_the_run_history(browser):
    """Train on Home with the one-click button, reload the page: the sidebar still shows
    the model, and the Train page's run history still lists the run."""
    with serve("server_reload.log") as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("button", name="Train a good default model").click()
        wait_for_progress(page, "Done", "15/15")
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("784-128-10 ReLU, run 1").wait_for(timeout=30_000)
        assert "lab=" in page.url and "/train" in page.url
        lab = page.url.split("lab=")[1].split("&")[0]

        page.reload()  # a new Streamlit session
        sidebar.get_by_text("784-128-10 ReLU, run 1").wait_for(timeout=30_000)
        assert "15 epochs" in sidebar.inner_text()
        assert f"lab={lab}" in page.url
        page.get_by_role("heading", name="Run history").wait_for(timeout=30_000)
        table = page.locator('[data-testid="stDataFrame"]')
        table.wait_for(timeout=30_000)
        assert page.get_by_text("Every run of this session is listed here").count() == 0
        page.wait_for_timeout(500)  # the grid paints its cells after it appears
        table.screenshot(path=SCREENSHOTS / "6_run_history_after_reload.png")
        # the grid's accessible table holds the cells' text
        cells = table.inner_text() + " ".join(
            table.locator("td, [role=gridcell]").all_inner_texts())
        assert "completed" in cells and "784-128-10" in cells

        # The address without the lab (a new visitor): a fresh lab.
        page.goto(url)
        sidebar.get_by_text("None yet").wait_for(timeout=30_000)
        assert "lab=" in page.url and lab not in page.url


def test_browser_a_run_survives_killing_the_server(browser, tmp_path):
    """Train, kill the server (SIGKILL), start it again on the same port, open the same
    address: the run, the current model and the run history are there."""
    env = {"DIGIT_LAB_DATABASE_URL": f"sqlite:///{tmp_path / 'labs.sqlite3'}", "OPENBLAS_NUM_THREADS": "1"}
    server = Server(env).__enter__()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.get_by_role("button", name="Train a good default model").click()
        wait_for_progress(page, "Done", "15/15")
        page.locator('[data-testid="stSidebar"]').get_by_text("784-128-10 ReLU, run 1").wait_for(timeout=30_000)
        address = page.url
        assert "lab=" in address
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        page.close()
        began = time.perf_counter()
        server = Server(env, port=server.port).__enter__()  # the same address again
        print(f"restarted in {time.perf_counter() - began:.1f} s")

        again = browser.new_page(viewport={"width": 1400, "height": 1000})
        again.goto(address)
        sidebar = again.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("784-128-10 ReLU, run 1").wait_for(timeout=30_000)
        assert "15 epochs" in sidebar.inner_text()
        assert again.url.split("lab=")[1].split("&")[0] == address.split("lab=")[1].split("&")[0]
        table = again.locator('[data-testid="stDataFrame"]')
        table.wait_for(timeout=30_000)
        assert "Done · Epoch 15/15" in again.locator('[data-testid="stMain"] [data-testid="stProgress"]').inner_text()
        table.scroll_into_view_if_needed()
        again.wait_for_timeout(500)  # the grid paints its cells after it appears
        again.screenshot(path=SCREENSHOTS / "7_lab_after_server_kill.png")
        cells = table.inner_text() + " ".join(table.locator("td, [role=gridcell]").all_inner_texts())
        assert "completed" in cells and "784-128-10" in cells and "15/15" in cells
    finally:
        server.__exit__(None, None, None)


class CuttableProxy:
    """A loopback TCP proxy in front of the server whose connections can be cut (a Wi-Fi
    blip): :meth:`cut` closes them all and refuses new ones until :meth:`restore`."""

    def __init__(self, target_port: int):
        self.target_port, self.up, self.sockets = target_port, True, []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.close()

    def cut(self):
        self.up = False
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
                end.close()
        self.sockets = []

    def restore(self):
        self.up = True

    def close(self):
        self.cut()
        self.listener.close()


def wait_for_epoch_above(page, epoch: float) -> None:
    """Wait until the main progress bar reports an epoch above `epoch`."""
    page.wait_for_function(
        "e => { const bar = document.querySelector('[data-testid=\"stMain\"] [data-testid=\"stProgress\"]');"
        " const m = bar && bar.innerText.match(/Epoch ([0-9.]+)\\//); return m && parseFloat(m[1]) > e; }",
        arg=epoch, timeout=60_000)


def test_browser_a_network_blip_leaves_the_run_training_and_the_page_shows_it_live(browser, tmp_path):
    """The browser's connection is cut for 5 s mid-run: Streamlit's page reconnects by itself,
    the run trained on meanwhile, and the progress bar moves on."""
    def epoch(text: str) -> float:
        return float(text.split("Epoch ")[1].split("/")[0])

    with Server({"DIGIT_LAB_DATABASE_URL": f"sqlite:///{tmp_path / 'labs.sqlite3'}"}) as server:
        proxy = CuttableProxy(server.port)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{proxy.port}/train")
            page.get_by_role("slider", name="Epochs").wait_for(timeout=60_000)
            set_slider(page, "Epochs", "500", jump="End")  # far longer than this test
            page.get_by_role("button", name="Start").click()
            before = epoch(wait_for_progress(page, "Epoch", "/500"))
            proxy.cut()  # the blip: the WebSocket and every request fail
            time.sleep(5)
            proxy.restore()
            wait_for_epoch_above(page, before + 5)  # it trained on during the blip, and the page is live again
            # and it keeps moving: waited for, not timed, so a busy machine's slow poll still passes
            wait_for_epoch_above(page, epoch(main_progress(page).inner_text()))
            assert "Stopped" not in main_progress(page).inner_text()
            page.get_by_role("button", name="Stop", exact=True).click()
            wait_for_progress(page, "Stopped")
        finally:
            proxy.close()
