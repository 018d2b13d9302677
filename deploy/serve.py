"""Serve a big room: N Digit Lab processes on loopback ports, nginx in front.

``python deploy/serve.py [--processes N] [--port 8080] [--host 0.0.0.0]``

- starts N ``streamlit run app.py`` processes (default: the number of cores) on free
  127.0.0.1 ports, each with ``DIGIT_LAB_MAX_JOBS = max(1, cores // N)`` and one BLAS
  thread, so N processes never train on more threads than the machine has cores;
- waits until every one answers ``/_stcore/health``;
- renders ``deploy/nginx.conf.template`` into a temporary directory (its own pid, logs and
  temp paths) and runs nginx in the foreground, listening on ``--host:--port``;
- polls every process's ``/_stcore/health`` every ``--check-seconds``: a process that
  stops answering is marked ``down`` in nginx (reload) and restarted, then put back;
- stops everything on Ctrl-C or SIGTERM (nginx first, then the apps) and removes the
  temporary directory.

It prints ``ready <url>`` and one ``backend 127.0.0.1:<port> pid <pid>`` line per process
when the room can come in. Needs nginx on the PATH (Debian: ``apt-get install nginx``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(port: int, timeout: float = 2.0) -> bool:
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                    timeout=timeout) as response:
            return response.status == 200
    return False


def jobs_per_process(processes: int, cores: int | None = None) -> int:
    """Concurrent training jobs each process may run: the cores divided between them."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, processes))


def render_config(ports: list[int], prefix: Path, listen: str, down: set[int] = frozenset(),
                  workers: int = 1, template: Path = TEMPLATE) -> str:
    """The nginx configuration for these backend ports (``down`` ones marked down)."""
    servers = "\n".join(
        f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s{' down' if port in down else ''};"
        for port in ports)
    user = ""
    if os.geteuid() == 0:  # nginx's workers drop root; Debian has www-data, else nobody
        with contextlib.suppress(KeyError):
            pwd.getpwnam("www-data")
            user = "user www-data;"
        user = user or "user nobody nogroup;"
    text = template.read_text()
    for key, value in {"SERVERS": servers, "PREFIX": str(prefix), "LISTEN": listen,
                       "WORKERS": str(workers), "USER": user}.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def end_process(process: subprocess.Popen, timeout: float = 10, first: int = signal.SIGTERM) -> None:
    """Stop ``process``: ``first``, then SIGTERM, then SIGKILL, each given ``timeout`` seconds."""
    for signum in dict.fromkeys((first, signal.SIGTERM, signal.SIGKILL)):
        if process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            continue
    process.wait()


class App:
    """One ``streamlit run app.py`` process on 127.0.0.1:port."""

    def __init__(self, port: int, env: dict[str, str], log_dir: Path):
        self.port, self.env, self.log_dir = port, env, log_dir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_dir / f"app-{self.port}.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(self.port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # our own signals decide when it stops
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10) -> None:
        if self.process is not None:
            end_process(self.process, timeout)


class Room:
    def __init__(self, processes: int, host: str, port: int, check_seconds: float = 2.0,
                 restart: bool = True, nginx: str = "nginx", log=print, env: dict[str, str] | None = None):
        self.processes, self.host, self.port = processes, host, port
        self.env = dict(env or {})  # more environment for the app processes (tests, benchmarks)
        self.check_seconds, self.restart, self.log = check_seconds, restart, log
        self.nginx_bin = shutil.which(nginx) or nginx
        self.prefix = Path(tempfile.mkdtemp(prefix="digit-lab-nginx-"))
        self.prefix.chmod(0o755)  # nginx's workers (not root) use the temp paths inside
        self.apps: list[App] = []
        self.down: set[int] = set()
        self.nginx: subprocess.Popen | None = None
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def app_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env.setdefault("DIGIT_LAB_MAX_JOBS", str(jobs_per_process(self.processes)))
        for name in BLAS_ENV:
            env[name] = "1"
        return env

    def start(self, timeout: float = 90) -> None:
        env = self.app_env()
        self.apps = [App(free_port(), env, self.prefix) for _ in range(self.processes)]
        for app in self.apps:
            app.start()
        deadline = time.monotonic() + timeout
        waiting = list(self.apps)
        while waiting:
            for app in list(waiting):
                if not app.alive():
                    raise RuntimeError(f"app on port {app.port} exited; see "
                                       f"{self.prefix / f'app-{app.port}.log'}")
                if healthy(app.port):
                    waiting.remove(app)
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"{len(waiting)} app process(es) not healthy after {timeout:.0f} s")
            if waiting:
                time.sleep(0.2)
        self._write_config()
        conf = self.prefix / "nginx.conf"
        check = subprocess.run([self.nginx_bin, "-t", "-q", "-p", str(self.prefix), "-c", str(conf)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejected the configuration: {check.stderr.strip()}")
        self.nginx = subprocess.Popen([self.nginx_bin, "-p", str(self.prefix), "-c", str(conf)],
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            if self.nginx.poll() is not None:
                raise RuntimeError(f"nginx exited: {self._tail('error.log')}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not answer: {self._tail('error.log')}")
            time.sleep(0.1)

    def _tail(self, name: str) -> str:
        with contextlib.suppress(OSError):
            return (self.prefix / name).read_text()[-1500:]
        return ""

    def _write_config(self) -> None:
        workers = min(4, os.cpu_count() or 1)
        text = render_config([a.port for a in self.apps], self.prefix,
                             f"{self.host}:{self.port}", self.down, workers)
        tmp = self.prefix / "nginx.conf.new"
        tmp.write_text(text)
        os.replace(tmp, self.prefix / "nginx.conf")

    def _reload(self) -> None:
        self._write_config()
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGHUP)

    def watch(self) -> None:
        """Until stopped: mark unhealthy processes down, restart them, put them back."""
        misses: dict[int, int] = {}
        while not self.stopping.wait(self.check_seconds):
            if self.nginx is not None and self.nginx.poll() is not None:
                self.log(f"nginx exited ({self.nginx.returncode}); stopping")
                self.stopping.set()
                break
            changed = False
            for app in self.apps:
                ok = app.alive() and healthy(app.port)
                if ok:
                    misses.pop(app.port, None)
                    if app.port in self.down:
                        self.down.discard(app.port)
                        self.log(f"backend 127.0.0.1:{app.port} healthy again (pid {app.process.pid})")
                        changed = True
                    continue
                misses[app.port] = misses.get(app.port, 0) + 1
                if app.port not in self.down and (not app.alive() or misses[app.port] >= 2):
                    self.down.add(app.port)
                    self.log(f"backend 127.0.0.1:{app.port} is down; marked down in nginx")
                    changed = True
                if self.restart and not app.alive():
                    self.log(f"restarting backend 127.0.0.1:{app.port}")
                    app.start()
            if changed:
                self._reload()

    def stop(self) -> None:
        self.stopping.set()
        if self.nginx is not None:
            end_process(self.nginx, 5, first=signal.SIGQUIT)  # SIGQUIT: finish requests, close sockets
        for app in self.apps:
            if app.alive():
                app.process.terminate()
        for app in self.apps:
            app.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python deploy/serve.py", description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="app processes (default: the number of cores)")
    parser.add_argument("--host", default="0.0.0.0", help="address nginx listens on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="port nginx listens on (default 8080)")
    parser.add_argument("--check-seconds", type=float, default=2.0,
                        help="health poll interval (default 2 s)")
    parser.add_argument("--no-restart", action="store_true", help="do not restart a dead process")
    args = parser.parse_args(argv)
    if not 1 <= args.processes <= 64:
        parser.error("--processes must be between 1 and 64")
    if shutil.which("nginx") is None:
        print("serve: nginx is not installed (Debian: apt-get install nginx)", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, flush=True)

    room = Room(args.processes, args.host, args.port, args.check_seconds,
                restart=not args.no_restart, log=log)
    stop = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001
        stop.set()
        room.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        room.start()
        log(f"DIGIT_LAB_MAX_JOBS={room.app_env()['DIGIT_LAB_MAX_JOBS']} per process, 1 BLAS thread")
        for app in room.apps:
            log(f"backend 127.0.0.1:{app.port} pid {app.process.pid}")
        log(f"nginx pid {room.nginx.pid}, config {room.prefix / 'nginx.conf'}")
        log(f"ready {room.url}")
        watcher = threading.Thread(target=room.watch, daemon=True)
        watcher.start()
        while not stop.is_set() and not room.stopping.is_set():
            stop.wait(0.5)
    except Exception as error:  # noqa: BLE001 - one line for the facilitator
        log(f"serve: {error}")
        room.stop()
        return 1
    log("stopping")
    room.stop()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
