"""Load test: N simultaneous sessions train on one `streamlit run app.py` server.

``python -m bench.load [--sessions 20] [--seconds-limit 240] [--quick] [--epochs 5] [--hostile]``
``python -m bench.load --idle [--sessions 20] [--poll 0.5]``  (CPU cost of polling alone)
``python -m bench.load --sessions 40 --url http://127.0.0.1:8080``  (a running server, e.g.
deploy/serve.py's nginx: each session first loads the page, as a browser, and keeps the
routing cookie it gets; the report adds which process served each session)

Loopback only: the server listens on 127.0.0.1 at a free port and is stopped at the
end (or when ``--seconds-limit`` runs out). Each session is a raw WebSocket client
speaking Streamlit's protocol, as the browser does:

1. connect to ``/_stcore/stream`` and ask for the Train page (a ``rerun_script`` BackMsg);
   the ForwardMsg deltas carry the widgets' ids (Start button, Seed, Epochs);
2. set its own seed (1000 + session number) and the epochs, as a user moving the controls;
3. click Start (a ``trigger_value`` for the Start button's id);
4. poll as the browser does: the page registers its progress fragment with an
   ``auto_rerun`` ForwardMsg (interval and fragment id); every interval the client sends
   a fragment rerun and waits for ``script_finished`` (that wait is the poll round trip);
5. stop when a full run shows the finished run ("Done · …").

It reports: runs finished, isolation (each session's final loss/accuracy line is
different -- different seeds -- and its run is "run 1" of its own history), poll
round trip median and p95, queue positions shown, server CPU (process and children:
CPU time / wall time) and peak memory (VmHWM of the server).

``--idle`` measures what polling alone costs: one long run trains (DIGIT_LAB_MAX_JOBS=1)
while the other sessions wait in the queue polling; the CPU of every server thread but
the busiest (the training thread) is the cost of serving the polls.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FINAL_PREFIXES = ("Done", "Stopped", "Diverged", "Failed")
QUEUE_RE = re.compile(r"number (\d+) in the queue")
DATABASE_VARIABLES = ("DIGIT_LAB_DATABASE_URL", "DIGIT_LAB_LEADERBOARD_URL", "DIGIT_LAB_LEADERBOARD_DB")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clients_available() -> str | None:
    """None when the load test can run here, else what is missing."""
    missing = []
    for module in ("websocket", "psutil", "streamlit.proto.BackMsg_pb2"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module.split(".")[0])
    return f"missing Python packages: {', '.join(missing)}" if missing else None


# ---------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------


class Server:
    """`streamlit run app.py` on 127.0.0.1:<free port>, with CPU and memory sampling."""

    def __init__(self, env: dict[str, str] | None = None, port: int | None = None, args: tuple[str, ...] = (),
                 root: Path = REPO):
        self.port = port or _free_port()
        self.env = {**os.environ, **(env or {})}
        self.args = tuple(args)  # more `streamlit run` options
        self.root = root  # the checkout whose app.py runs
        self.process: subprocess.Popen | None = None
        self.peak_rss = 0
        self._sampling = False
        self._sampler: threading.Thread | None = None
        self._database_dir: tempfile.TemporaryDirectory | None = None

    def log_tail(self, characters: int = 2000) -> str:
        """The end of the server's log (its stderr)."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-characters:]

    def __enter__(self) -> Server:
        # A file, not a pipe: a server that logs a lot must never block on a full pipe.
        self.log = tempfile.TemporaryFile("w+")
        if not any(self.env.get(name) for name in DATABASE_VARIABLES):
            # A database of its own: a benchmark never writes into the user's labs, and a
            # database an older or newer checkout migrated would fail its writes.
            self._database_dir = tempfile.TemporaryDirectory(prefix="digit-lab-bench-")
            self.env["DIGIT_LAB_DATABASE_URL"] = str(Path(self._database_dir.name) / "bench.sqlite3")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(self.port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *self.args],
            cwd=self.root, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.log_tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stcore/health",
                                            timeout=2) as response:
                    if response.status == 200:
                        break
            time.sleep(0.2)
        else:
            raise RuntimeError("streamlit did not answer /_stcore/health within 60 s")
        import psutil

        self.ps = psutil.Process(self.process.pid)
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def __exit__(self, *exc) -> None:
        self._sampling = False
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._database_dir is not None:
            self._database_dir.cleanup()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/_stcore/stream"

    def _processes(self):
        import psutil

        with contextlib.suppress(psutil.Error):
            return [self.ps, *self.ps.children(recursive=True)]
        return []

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its children so far."""
        total = 0.0
        for proc in self._processes():
            with contextlib.suppress(Exception):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def thread_cpu(self) -> dict[int, float]:
        with contextlib.suppress(Exception):
            return {t.id: t.user_time + t.system_time for t in self.ps.threads()}
        return {}

    def vm_hwm(self) -> int:
        """Peak resident memory of the server process (bytes), from /proc."""
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _sample(self) -> None:
        while self._sampling:
            rss = 0
            for proc in self._processes():
                with contextlib.suppress(Exception):
                    rss += proc.memory_info().rss
            self.peak_rss = max(self.peak_rss, rss)
            time.sleep(0.2)

    http_base = None  # sessions connect straight to the WebSocket


class RemoteServer:
    """A server already running at ``url`` (e.g. nginx in front of several app processes).

    CPU: the whole machine's busy time minus this load client's own (loopback only: the
    servers are on this machine). Memory: the summed resident memory of every
    ``streamlit run app.py`` process on the machine, sampled (peak).
    """

    def __init__(self, url: str):
        from urllib.parse import urlsplit

        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"--url must be http(s)://host:port, got {url!r}")
        self.http_base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        ws_scheme = "wss" if parts.scheme == "https" else "ws"
        self.url = f"{ws_scheme}://{parts.netloc}{parts.path.rstrip('/')}/_stcore/stream"
        self.peak_rss = 0
        self._sampling = False

    def __enter__(self) -> RemoteServer:
        with urllib.request.urlopen(self.http_base + "/_stcore/health", timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"{self.http_base}/_stcore/health answered {response.status}")
        import psutil

        self._me = psutil.Process()
        self._sampling = True
        threading.Thread(target=self._sample, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._sampling = False

    def cpu_seconds(self) -> float:
        import psutil

        times = psutil.cpu_times()
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        own = self._me.cpu_times()
        return busy - (own.user + own.system)

    def thread_cpu(self) -> dict[int, float]:
        return {}

    def vm_hwm(self) -> int:
        return 0

    def _apps(self):
        import psutil

        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info.get("cmdline") or [])
            if "streamlit" in cmdline and "app.py" in cmdline and proc.pid != self._me.pid:
                yield proc

    def _sample(self) -> None:
        while self._sampling:
            rss = 0
            for proc in self._apps():
                with contextlib.suppress(Exception):
                    rss += proc.memory_info().rss
            self.peak_rss = max(self.peak_rss, rss)
            time.sleep(0.5)


# ---------------------------------------------------------------------------------
# One session: a raw WebSocket client speaking Streamlit's protocol
# ---------------------------------------------------------------------------------


@dataclass
class SessionResult:
    index: int
    seed: int
    finished: bool = False
    final_text: str = ""
    outcome_text: str = ""
    run_names: list[str] = field(default_factory=list)
    queue_positions: list[int] = field(default_factory=list)
    poll_seconds: list[float] = field(default_factory=list)
    load_seconds: float | None = None
    start_seconds: float | None = None
    upstream: str = ""  # X-Digit-Lab-Upstream of the WebSocket handshake (behind nginx)
    page_upstream: str = ""  # ... of the page load that gave the routing cookie
    error: str = ""


class Session:
    def __init__(self, index: int, url: str, *, seed: int, epochs: int | None, deadline: float,
                 extra_widgets: dict[str, object] | None = None, stop_after_queue: bool = False,
                 http_base: str | None = None):
        self.result = SessionResult(index=index, seed=seed)
        self.http_base = http_base  # load the page first, as a browser, and keep its cookies
        self.url, self.seed, self.epochs, self.deadline = url, seed, epochs, deadline
        self.extra_widgets = extra_widgets or {}
        self.widget_ids: dict[str, tuple[str, str]] = {}  # label -> (id, element type)
        self.widget_values: dict[str, object] = {}  # widget id -> WidgetState (kept across reruns)
        self.page_hash = ""
        self.fragments: dict[str, float] = {}  # fragment id -> interval (s)
        self.texts: list[str] = []
        self.tables: list[list[dict]] = []  # the dataframes of the last run, as rows
        self.query_string = ""  # the page's address after "?" (the app puts lab=... there)
        self.session_id = ""  # the server's id of this session (for uploads)
        self.start_disabled: bool | None = None
        self.ws = None
        self.stop_event = threading.Event()

    # -- protocol ----------------------------------------------------------------

    def _send_rerun(self, *, page_name: str = "", fragment_id: str = "", triggers=()) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        client = msg.rerun_script
        client.query_string = self.query_string
        client.page_script_hash = self.page_hash
        if page_name:
            client.page_name = page_name
        if fragment_id:
            client.fragment_id = fragment_id
            client.is_auto_rerun = True
        for state in self.widget_values.values():
            client.widget_states.widgets.add().CopyFrom(state)
        for widget_id in triggers:
            trigger = client.widget_states.widgets.add()
            trigger.id, trigger.trigger_value = widget_id, True
        self.ws.send_binary(msg.SerializeToString())

    def _run(self, **kwargs) -> int:
        """Send a rerun and read ForwardMsgs until its run has finished; returns the status.

        A fragment that calls st.rerun() ends early; the full run it asks for follows,
        and is read too. Texts seen are in ``self.texts`` (the last full or fragment run).
        """
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._send_rerun(**kwargs)
        self.texts, self.tables = [], []
        full_run = not kwargs.get("fragment_id")  # a fragment run keeps the page's fragments
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("seconds limit reached")
            self.ws.settimeout(min(remaining, 60))
            data = self.ws.recv()
            if not isinstance(data, bytes):
                continue
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                if full_run:
                    self.fragments.clear()  # a full run registers its fragments again
                self.texts, self.tables = [], []
                if msg.new_session.page_script_hash:
                    self.page_hash = msg.new_session.page_script_hash
                if msg.new_session.initialize.session_id:
                    self.session_id = msg.new_session.initialize.session_id
            elif kind == "navigation" and msg.navigation.page_script_hash:
                self.page_hash = msg.navigation.page_script_hash
            elif kind == "page_info_changed":
                self.query_string = msg.page_info_changed.query_string
            elif kind == "auto_rerun":
                self.fragments[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                self._element(msg.delta.new_element)
            elif kind == "delta" and msg.delta.WhichOneof("type") == "add_block":
                self._block(msg.delta.add_block)
            elif kind == "script_finished":
                status = msg.script_finished
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    full_run = True
                    continue  # the full run it asked for comes next
                return status

    def _block(self, block) -> None:
        """A container: st.tabs with a key is a widget (its id, by the label "tabs")."""
        if block.WhichOneof("type") == "tab_container" and block.tab_container.id:
            self.widget_ids["tabs"] = (block.tab_container.id, "tabs")

    def _element(self, element) -> None:
        kind = element.WhichOneof("type")
        if kind in ("button", "number_input", "slider", "select_slider", "selectbox", "radio", "file_uploader"):
            widget = getattr(element, kind)
            self.widget_ids[widget.label] = (widget.id, kind)
            if kind == "button" and widget.label == "Start":
                self.start_disabled = widget.disabled
        elif kind == "progress":
            self.texts.append(element.progress.text)
        elif kind == "alert":
            self.texts.append(element.alert.body)
        elif kind == "markdown":
            self.texts.append(element.markdown.body)
        elif kind == "dataframe":
            import pyarrow.ipc

            table = pyarrow.ipc.open_stream(element.dataframe.arrow_data.data).read_all()
            self.tables.append(table.to_pylist())

    def _set_widget(self, label: str, value) -> None:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        widget_id, kind = self.widget_ids[label]
        state = WidgetState(id=widget_id)
        if kind == "slider":
            state.double_array_value.data.append(float(value))
        elif kind == "number_input":
            state.int_value = int(value)
        elif kind in ("radio", "selectbox", "tabs"):
            state.string_value = str(value)  # the option as the page shows it
        else:
            raise ValueError(f"cannot set a {kind}")
        self.widget_values[widget_id] = state

    def _observe(self) -> str | None:
        """Record what the last run showed; the final progress line once the run has ended."""
        for text in self.texts:
            match = QUEUE_RE.search(text)
            if match:
                self.result.queue_positions.append(int(match.group(1)))
        for text in self.texts:
            if text.startswith(FINAL_PREFIXES) and " · " in text:
                return text
        return None

    @property
    def lab(self) -> str | None:
        """The lab id in the page's address (``?lab=``), once the app has put it there."""
        from urllib.parse import parse_qs

        return (parse_qs(self.query_string).get("lab") or [None])[0]

    def connect(self, cookie: str | None = None, timeout: float = 60) -> None:
        """Open the WebSocket (a new Streamlit session; ``cookie``: nginx's routing cookie)."""
        import websocket

        self.ws = websocket.create_connection(self.url, subprotocols=["streamlit"], timeout=timeout,
                                              enable_multithread=True, cookie=cookie)
        self.result.upstream = (self.ws.getheaders() or {}).get("x-digit-lab-upstream", "")
        self.fragments.clear()

    def poll(self) -> None:
        """One poll of the page's progress fragment (as the browser's timer sends it)."""
        if not self.fragments:
            raise RuntimeError(f"the page registered no polling fragment; saw {self.texts[:5]}")
        self._run(fragment_id=next(iter(self.fragments)))

    # -- the session's story -------------------------------------------------------

    def run(self) -> SessionResult:
        import websocket

        result = self.result
        try:
            cookie = self._load_page() if self.http_base else None
            self.ws = websocket.create_connection(self.url, subprotocols=["streamlit"],
                                                  timeout=60, enable_multithread=True,
                                                  cookie=cookie)
            result.upstream = (self.ws.getheaders() or {}).get("x-digit-lab-upstream", "")
            began = time.perf_counter()
            self._run(page_name="train")
            result.load_seconds = time.perf_counter() - began
            if "Start" not in self.widget_ids:
                raise RuntimeError(f"no Start button on the Train page; saw {self.texts[:5]}")
            self._set_widget("Seed", self.seed)
            if self.epochs is not None:
                self._set_widget("Epochs", self.epochs)
            for label, value in self.extra_widgets.items():
                self._set_widget(label, value)
            self._run()  # the controls store the new settings
            began = time.perf_counter()
            self._run(triggers=[self.widget_ids["Start"][0]])
            result.start_seconds = time.perf_counter() - began
            final = self._observe()
            next_poll = time.monotonic()
            while final is None and not self.stop_event.is_set():
                if not self.fragments:
                    raise RuntimeError("the run is not finished but the page registered no "
                                       f"polling fragment; saw {self.texts[:5]}")
                interval = min(self.fragments.values())
                next_poll += interval
                delay = next_poll - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_poll = time.monotonic()  # late: poll now, as a timer would
                fragment_id = next(iter(self.fragments))
                sent = time.perf_counter()
                self._run(fragment_id=fragment_id)
                result.poll_seconds.append(time.perf_counter() - sent)
                final = self._observe()
            if final is not None:
                result.finished = True
                result.final_text = final
                result.outcome_text = next((t for t in self.texts if "test images" in t
                                            or t.startswith("Training")), "")
                self._read_history()
        except Exception as error:  # reported, never raised: the other sessions go on
            result.error = f"{type(error).__name__}: {error}"
        finally:
            if self.ws is not None:
                with contextlib.suppress(Exception):
                    self.ws.close()
        return result

    def _load_page(self) -> str | None:
        """GET the page as a browser would; returns its cookies (nginx's routing cookie)."""
        with urllib.request.urlopen(self.http_base + "/", timeout=60) as response:
            response.read()
            self.result.page_upstream = response.headers.get("X-Digit-Lab-Upstream", "")
            cookies = [c.split(";", 1)[0].strip() for c in response.headers.get_all("Set-Cookie") or []]
        return "; ".join(cookies) or None

    def _read_history(self) -> None:
        """Names of the runs in this session's run history table (Arrow data)."""
        # The history is a dataframe (Arrow IPC); reading it needs pyarrow, which
        # Streamlit depends on. Run names are plain strings in it: "run 1", ...
        self.result.run_names = sorted(set(re.findall(r"run \d+", " ".join(self.texts))))


# ---------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def hostile_uploads(server, stop: threading.Event, deadline: float, results: list) -> None:
    """Send the hostile uploads (``bench.hostile_app``) one after the other until ``stop``;
    each one's (case, seconds to the page's answer) goes into ``results``."""
    from bench.hostile_app import CASES, ServerMemory, run_case

    http = f"http://127.0.0.1:{server.port}"
    memory = ServerMemory(server.process.pid)
    while not stop.is_set() and time.monotonic() < deadline:
        for case in CASES[:4]:  # the four hostile files (not the eight 50 MB uploads)
            if stop.is_set():
                return
            try:
                results.append((case, run_case(case, server.url, http, memory, deadline)["seconds"]))
            except Exception as error:  # reported, never raised: the sessions go on
                results.append((case, f"{type(error).__name__}: {error}"))


def run_load(sessions: int = 20, *, seconds_limit: float = 240, epochs: int | None = 15,
             max_jobs: int | None = None, poll_seconds: float | None = None,
             stagger: float = 0.05, url: str | None = None, hostile: bool = False) -> dict:
    """Start a server (or use the one at ``url``), run ``sessions`` sessions at once (and,
    with ``hostile``, one more session sending hostile uploads all along); returns the
    report as a dict."""
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if max_jobs is not None:
        env["DIGIT_LAB_MAX_JOBS"] = str(max_jobs)
    if poll_seconds is not None:
        env["DIGIT_LAB_POLL_SECONDS"] = str(poll_seconds)
    began_all = time.monotonic()
    if hostile and url:
        raise ValueError("--hostile uploads to a server this command starts, not to --url")
    server_args = ("--server.enableXsrfProtection", "false", "--server.enableCORS", "false") if hostile else ()
    hostile_results: list = []
    with (RemoteServer(url) if url else Server(env, args=server_args)) as server:
        deadline = began_all + seconds_limit
        clients = [Session(i, server.url, seed=1000 + i, epochs=epochs, deadline=deadline,
                           http_base=server.http_base)
                   for i in range(sessions)]
        results: list[SessionResult | None] = [None] * sessions

        def go(i: int) -> None:
            results[i] = clients[i].run()

        cpu0, wall0 = server.cpu_seconds(), time.monotonic()
        threads = []
        stop_hostile = threading.Event()
        if hostile:
            attacker = threading.Thread(target=hostile_uploads, args=(server, stop_hostile, deadline, hostile_results),
                                        daemon=True, name="hostile")
            attacker.start()
        for i in range(sessions):
            thread = threading.Thread(target=go, args=(i,), daemon=True, name=f"session-{i}")
            thread.start()
            threads.append(thread)
            time.sleep(stagger)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()) + 5)
        for client in clients:
            client.stop_event.set()
        cpu1, wall1 = server.cpu_seconds(), time.monotonic()
        stop_hostile.set()
        if hostile:
            attacker.join(60)
        peak = max(server.vm_hwm(), server.peak_rss)
    done = [r for r in results if r is not None]
    polls = [s for r in done for s in r.poll_seconds]
    finals = [(r.final_text.split(" · took")[0], r.outcome_text) for r in done if r.finished]
    upstreams: dict[str, int] = {}
    for r in done:
        if r.upstream:
            upstreams[r.upstream] = upstreams.get(r.upstream, 0) + 1
    return {
        "sessions": sessions,
        "epochs": epochs,
        "url": url,
        "upstreams": dict(sorted(upstreams.items())),
        "sticky": sum(bool(r.upstream) and r.upstream == r.page_upstream for r in done),
        "max_jobs": "the server's" if url else (max_jobs or os.cpu_count()),
        "poll_interval": poll_seconds,
        "finished": sum(r.finished for r in done),
        "distinct_results": len(set(finals)),
        "own_history": sum(r.run_names == ["run 1"] for r in done if r.finished),
        "errors": [f"session {r.index}: {r.error}" for r in done if r.error],
        "polls": len(polls),
        "poll_median": statistics.median(polls) if polls else None,
        "poll_p95": _percentile(polls, 0.95),
        "poll_max": max(polls) if polls else None,
        "load_median": statistics.median([r.load_seconds for r in done if r.load_seconds]) if done else None,
        "start_median": statistics.median([r.start_seconds for r in done if r.start_seconds]) if done else None,
        "queue_positions": sorted({p for r in done for p in r.queue_positions}),
        "sessions_that_queued": sum(bool(r.queue_positions) for r in done),
        "wall_seconds": wall1 - wall0,
        "server_cpu_cores": (cpu1 - cpu0) / max(wall1 - wall0, 1e-9),
        "peak_rss_mb": peak / 2**20,
        "examples": [r.final_text for r in done[:3] if r.finished],
        "hostile": hostile_results,
    }


def run_idle(sessions: int = 20, *, poll_seconds: float = 0.5, measure_seconds: float = 15,
             seconds_limit: float = 120) -> dict:
    """CPU cost of polling alone: one long run trains, the others wait in the queue and poll."""
    env = {"OPENBLAS_NUM_THREADS": "1", "DIGIT_LAB_MAX_JOBS": "1", "DIGIT_LAB_POLL_SECONDS": str(poll_seconds),
           "DIGIT_LAB_MAX_RUN_COST": "1000000"}  # the long run below is over the default cap
    with Server(env) as server:
        deadline = time.monotonic() + seconds_limit
        # 500 full-batch epochs of a wide network: far longer than the measurement.
        clients = [Session(i, server.url, seed=1000 + i, epochs=500, deadline=deadline,
                           extra_widgets={"Hidden width": 512})
                   for i in range(sessions)]
        threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        # Wait until every session polls, then measure.
        settle = time.monotonic() + 30
        while time.monotonic() < settle and sum(bool(c.result.poll_seconds) for c in clients) < sessions:
            time.sleep(0.2)
        polls0 = sum(len(c.result.poll_seconds) for c in clients)
        cpu0, threads0, wall0 = server.cpu_seconds(), server.thread_cpu(), time.monotonic()
        time.sleep(measure_seconds)
        cpu1, threads1, wall1 = server.cpu_seconds(), server.thread_cpu(), time.monotonic()
        polls1 = sum(len(c.result.poll_seconds) for c in clients)
        for client in clients:
            client.stop_event.set()
        busiest = max((threads1[t] - threads0.get(t, 0.0) for t in threads1), default=0.0)
        wall = wall1 - wall0
        recent = [s for c in clients for s in c.result.poll_seconds[-10:]]
    return {
        "sessions": sessions,
        "poll_interval": poll_seconds,
        "server_cpu_cores": (cpu1 - cpu0) / wall,
        "training_thread_cores": busiest / wall,
        "polling_cpu_cores": (cpu1 - cpu0 - busiest) / wall,
        "polls_per_second": (polls1 - polls0) / wall,
        "poll_median": statistics.median(recent) if recent else None,
        "poll_p95": _percentile(recent, 0.95),
    }


def _fmt(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.3f} s"


def format_report(report: dict) -> str:
    r = report
    lines = [
        f"Load test: {r['sessions']} sessions, {r['epochs']} epochs each (default settings, "
        f"seed 1000+i), max {r['max_jobs']} jobs at once, "
        f"poll interval {r['poll_interval'] or 'default'}",
        f"  runs finished:        {r['finished']}/{r['sessions']}",
        f"  isolation:            {r['distinct_results']} distinct final results; "
        f"{r['own_history']} sessions show only their own 'run 1'",
        f"  poll round trip:      median {_fmt(r['poll_median'])}, p95 {_fmt(r['poll_p95'])}, "
        f"max {_fmt(r['poll_max'])} ({r['polls']} polls)",
        f"  page load / Start:    median {_fmt(r['load_median'])} / {_fmt(r['start_median'])}",
        f"  queue positions shown: {r['queue_positions'] or 'none'} "
        f"({r['sessions_that_queued']} sessions waited)",
        f"  wall time:            {r['wall_seconds']:.1f} s",
        f"  server CPU:           {r['server_cpu_cores']:.2f} cores (of {os.cpu_count()})"
        + (" (whole machine minus this client)" if r.get("url") else ""),
        f"  server peak memory:   {r['peak_rss_mb']:.0f} MB"
        + (" (all streamlit app processes)" if r.get("url") else ""),
    ]
    if r.get("url"):
        lines.insert(1, f"  target:               {r['url']}")
    if r.get("upstreams"):
        spread = ", ".join(f"{addr}: {n}" for addr, n in r["upstreams"].items())
        lines.append(f"  sessions per process: {spread}")
        lines.append(f"  sticky:               {r['sticky']}/{r['sessions']} sessions' page load and "
                     "WebSocket reached the same process")
    if r.get("hostile"):
        answered = [seconds for _, seconds in r["hostile"] if isinstance(seconds, float)]
        failed = [f"{case}: {seconds}" for case, seconds in r["hostile"] if not isinstance(seconds, float)]
        median = statistics.median(answered) if answered else None
        lines.append(f"  hostile uploads:      {len(answered)} refused alongside (each answered in median "
                     f"{_fmt(median)}, max {_fmt(max(answered, default=None))})"
                     + (f"; {len(failed)} failed: {failed[:2]}" if failed else ""))
    for example in r["examples"]:
        lines.append(f"  e.g. {example}")
    for error in r["errors"][:10]:
        lines.append(f"  ERROR {error}")
    return "\n".join(lines)


def format_idle(report: dict) -> str:
    r = report
    return (f"Idle polling: {r['sessions']} sessions polling every {r['poll_interval']} s "
            f"(one run training, the rest queued): server {r['server_cpu_cores']:.2f} cores, "
            f"of which training {r['training_thread_cores']:.2f} and polling "
            f"{r['polling_cpu_cores']:.2f}; {r['polls_per_second']:.1f} polls/s; poll median "
            f"{_fmt(r['poll_median'])}, p95 {_fmt(r['poll_p95'])}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds-limit", type=float, default=240)
    parser.add_argument("--epochs", type=int, default=15, help="epochs per run (15: the default settings)")
    parser.add_argument("--max-jobs", type=int, default=None,
                        help="DIGIT_LAB_MAX_JOBS for the server (default: the server's default)")
    parser.add_argument("--poll", type=float, default=None,
                        help="DIGIT_LAB_POLL_SECONDS for the server (default: the app's default)")
    parser.add_argument("--quick", action="store_true", help="3 sessions, 3 epochs, 1 job at once")
    parser.add_argument("--idle", action="store_true", help="measure the CPU cost of polling alone")
    parser.add_argument("--json", action="store_true", help="print the report as JSON too")
    parser.add_argument("--hostile", action="store_true",
                        help="one more session sends the hostile uploads (bench.hostile_app) all along")
    parser.add_argument("--url", default=None,
                        help="load a running server at this http(s) URL (e.g. deploy/serve.py's "
                             "nginx) instead of starting one; --max-jobs/--poll do not apply")
    args = parser.parse_args(argv)
    missing = clients_available()
    if missing:
        print(f"load test skipped: {missing}")
        return 2
    if not 1 <= args.sessions <= 100:
        parser.error("--sessions must be between 1 and 100")
    if not 10 <= args.seconds_limit <= 1800:
        parser.error("--seconds-limit must be between 10 and 1800")
    if args.idle:
        report = run_idle(args.sessions, poll_seconds=args.poll or 0.5,
                          seconds_limit=args.seconds_limit)
        print(format_idle(report))
    else:
        if args.quick:
            args.sessions, args.epochs = 3, 3
            args.max_jobs = args.max_jobs or 1
        if args.url and (args.max_jobs or args.poll):
            parser.error("--max-jobs and --poll set a server this command starts; not with --url")
        report = run_load(args.sessions, seconds_limit=args.seconds_limit, epochs=args.epochs,
                          max_jobs=args.max_jobs, poll_seconds=args.poll, url=args.url, hostile=args.hostile)
        print(format_report(report))
    if args.json:
        print(json.dumps(report, indent=2))
    if not args.idle and report["finished"] < report["sessions"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
