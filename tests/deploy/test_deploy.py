"""deploy/serve.py: 3 app processes behind nginx, sticky sessions, a process killed.

Loopback only; skips without nginx (Debian: apt-get install nginx) or websocket-client.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from deploy.serve import free_port, jobs_per_process, render_config

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")


def test_jobs_divide_the_cores_between_processes():
    assert jobs_per_process(3, cores=2) == 1
    assert jobs_per_process(4, cores=16) == 4
    assert jobs_per_process(1, cores=8) == 8


def test_the_config_lists_every_backend_and_marks_down_ones(tmp_path):
    text = render_config([1001, 1002], tmp_path, "127.0.0.1:9", down={1002})
    assert "server 127.0.0.1:1001 max_fails=1 fail_timeout=5s;" in text
    assert "server 127.0.0.1:1002 max_fails=1 fail_timeout=5s down;" in text
    assert "hash $digitlab_route consistent;" in text and "{{" not in text


@pytest.fixture(scope="module")
def room():
    pytest.importorskip("websocket")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "deploy/serve.py", "--processes", "3", "--host", "127.0.0.1",
         "--port", str(port), "--check-seconds", "0.5"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not any(line.startswith("ready ") for line in lines):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"serve.py did not get ready: {''.join(lines)[-2000:]}")
        time.sleep(0.2)
    backends = {f"127.0.0.1:{m[0]}": int(m[1])
                for m in re.findall(r"backend 127\.0\.0\.1:(\d+) pid (\d+)", "".join(lines))}
    assert len(backends) == 3
    info = {"url": f"http://127.0.0.1:{port}", "ws": f"ws://127.0.0.1:{port}/_stcore/stream",
            "backends": backends, "process": process, "lines": lines}
    yield info
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            for pid in backends.values():
                _kill(pid)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _get(url: str, cookie: str | None = None):
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        return response.status, response.headers, body


def _new_browser(room) -> tuple[str, str]:
    """Load the page without cookies, as a new browser: (routing cookie, process)."""
    status, headers, body = _get(room["url"] + "/")
    assert status == 200 and b"<html" in body.lower()
    cookie = next(c.split(";")[0] for c in headers.get_all("Set-Cookie") if c.startswith("digitlab_route="))
    return cookie, headers["X-Digit-Lab-Upstream"]


def _session(room, cookie: str):
    """A Streamlit session (bench.streamlit_client's protocol client) on the Train page, over nginx."""
    import websocket

    from bench.streamlit_client import Session

    session = Session(0, room["ws"], seed=1, epochs=None, deadline=time.monotonic() + 90)
    session.ws = websocket.create_connection(room["ws"], subprotocols=["streamlit"], timeout=60,
                                             cookie=cookie)
    session.upstream = session.ws.getheaders()["x-digit-lab-upstream"]
    session._run(page_name="train")
    assert "Start" in session.widget_ids
    return session


def test_health_through_nginx(room):
    status, headers, body = _get(room["url"] + "/_stcore/health")
    assert (status, body) == (200, b"ok")
    assert headers["X-Digit-Lab-Upstream"] in room["backends"]


def test_sessions_stick_to_one_process_and_spread_over_all(room):
    import websocket

    seen = {}
    for _ in range(30):  # 30 new browsers: P(some process gets none) = 3 * (2/3)^30 < 1e-4
        cookie, upstream = _new_browser(room)
        assert upstream in room["backends"]
        for path in ("/_stcore/health", "/_stcore/host-config", "/"):
            assert _get(room["url"] + path, cookie)[1]["X-Digit-Lab-Upstream"] == upstream
        ws = websocket.create_connection(room["ws"], subprotocols=["streamlit"], timeout=30, cookie=cookie)
        assert ws.getheaders()["x-digit-lab-upstream"] == upstream  # the WebSocket too
        assert "set-cookie" not in {k.lower() for k in ws.getheaders()} or \
            "digitlab_route" not in ws.getheaders().get("set-cookie", "")
        ws.close()
        seen[cookie] = upstream
    assert set(seen.values()) == set(room["backends"])


def test_killing_one_process_fails_its_sessions_clearly_and_spares_the_others(room):
    import websocket

    # One browser per process.
    by_process: dict[str, str] = {}
    for _ in range(60):
        cookie, upstream = _new_browser(room)
        by_process.setdefault(upstream, cookie)
        if len(by_process) == 3:
            break
    assert len(by_process) == 3
    sessions = {upstream: _session(room, cookie) for upstream, cookie in by_process.items()}
    victim = sorted(sessions)[0]
    os.kill(room["backends"][victim], signal.SIGKILL)

    # Its session's WebSocket is closed: the browser shows "connection error" and reconnects.
    dead = sessions.pop(victim)
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
        dead._run()
    # The others go on in their own process, with their own state.
    for upstream, session in sessions.items():
        session._run()
        assert "Start" in session.widget_ids
        assert session.ws.getheaders()["x-digit-lab-upstream"] == upstream
    # The reconnect with the same cookie lands on a live process, as a fresh session.
    # ($upstream_addr lists every process nginx tried: "dead, live" on the first attempt.)
    retry = _session(room, by_process[victim])
    assert retry.upstream.split(", ")[-1] in sessions
    for session in (*sessions.values(), retry):
        session.ws.close()

    # serve.py notices, marks it down, restarts it and puts it back.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = "".join(room["lines"])
        if f"backend {victim} healthy again" in text:
            break
        time.sleep(0.5)
    text = "".join(room["lines"])
    assert f"backend {victim} is down" in text
    assert f"backend {victim} healthy again" in text
    pid = re.findall(rf"backend {re.escape(victim)} healthy again \(pid (\d+)\)", text)[-1]
    room["backends"][victim] = int(pid)
    assert _get(room["url"] + "/_stcore/health", by_process[victim])[0] == 200


def test_sigterm_stops_nginx_and_every_process(room):
    process = room["process"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    time.sleep(0.5)
    for pid in room["backends"].values():
        assert not Path(f"/proc/{pid}").exists() or \
            "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    with pytest.raises(OSError):
        _get(room["url"] + "/_stcore/health")
