"""A Streamlit session without a browser: ``Server`` runs `streamlit run app.py` on loopback
(with CPU and memory sampling), ``RemoteServer`` names one already running (e.g. behind
nginx), and ``Session`` speaks Streamlit's WebSocket protocol as the browser does: it asks
for a page, sets widgets, clicks buttons and polls the progress fragment (see
``bench.load``'s docstring for the steps). ``bench.load``, ``bench.durability`` and
``bench.hostile_app`` drive the app through it.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
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
