"""Kill and blip tests: nothing a participant did is lost when a server process dies or a
WebSocket drops (loopback only, bounded in time, stops everything it starts).

``python -m bench.durability [--processes 1|2] [--sessions 20] [--database URL]``
``python -m bench.durability --blip 30``

Kill test: ``--processes 1`` runs one ``streamlit run app.py``; ``--processes 2`` runs
deploy/serve.py's room (two app processes behind nginx, sticky by cookie). Each session is a
raw WebSocket client (bench.streamlit_client's): it opens the Train page, trains a short run to the end
(run 1, its current model), starts a long one (run 2) and polls it. Once every run 2 has saved
a checkpoint (read from the database), one app process gets SIGKILL: the only one (it is then
started again on its port) or one of the two behind nginx (serve.py restarts it; nginx sends
its sessions to the other meanwhile). Then every session reconnects as a browser does (a new
WebSocket, the same ``?lab=`` address and cookie) and reads its page. Counted: finished runs
and current models that came back, interrupted runs marked "interrupted at epoch k" (k as
saved), runs of the surviving process still training live, reconnect times, the bytes each
lab takes in the database.

Blip test (``--blip S``): one session starts a run meant to last 1.5 S (timed by a short run
first), its WebSocket closes for S seconds, it reconnects with the same address: the run
trained on meanwhile, the page shows it live, and it finishes (or, on a machine that sped up
meanwhile, it finished during the blip and the page shows it done).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.streamlit_client import Server, Session, clients_available

SHORT_EPOCHS, LONG_EPOCHS, WIDTH = 2, 500, 16
EPOCH_RE = re.compile(r"Epoch (\d+(?:\.\d+)?)/(\d+)")


@dataclass
class Participant:
    """One session's story: what it did before the kill and what it found after."""

    index: int
    session: Session
    cookie: str | None = None
    lab: str | None = None
    upstream: str = ""
    ready: threading.Event = field(default_factory=threading.Event)
    error: str = ""
    reconnect_seconds: float | None = None
    history: list[dict] = field(default_factory=list)  # the run history table after reconnecting
    texts: list[str] = field(default_factory=list)
    live_epochs: list[float] = field(default_factory=list)  # progress seen in two polls (survivors)


def _epoch(texts) -> float | None:
    for text in texts:
        match = EPOCH_RE.search(text)
        if match:
            return float(match.group(1))
    return None


def _final(texts) -> str | None:
    return next((t for t in texts if t.startswith(("Done", "Stopped", "Diverged", "Failed")) and " · " in t), None)


def _seconds(final: str) -> float:
    """The "took 4.2 s" / "took 1 min 05 s" of a finished run's progress line, in seconds."""
    match = re.search(r"took (?:(\d+) min )?(\d+(?:\.\d+)?) s", final)
    return 60 * int(match.group(1) or 0) + float(match.group(2))


def _poll_until(session: Session, predicate, deadline: float, interval: float = 0.5):
    while not predicate(session.texts):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited in vain; the page shows {session.texts[:4]}")
        time.sleep(interval)
        session.poll()


def _load_cookie(http_base: str | None) -> str | None:
    if not http_base:
        return None
    with urllib.request.urlopen(http_base + "/", timeout=60) as response:
        response.read()
        cookies = [c.split(";", 1)[0].strip() for c in response.headers.get_all("Set-Cookie") or []]
    return "; ".join(cookies) or None


def _train_then_start(person: Participant, http_base: str | None, deadline: float, stop: threading.Event) -> None:
    """Run 1 to its end, then run 2 started and polled until ``stop`` (or the connection dies)."""
    session = person.session
    try:
        person.cookie = _load_cookie(http_base)
        session.connect(person.cookie)
        person.upstream = session.result.upstream
        session._run(page_name="train")
        person.lab = session.lab
        session._set_widget("Seed", 1000 + person.index)
        session._set_widget("Epochs", SHORT_EPOCHS)
        session._set_widget("Hidden width", WIDTH)
        session._run()
        session._run(triggers=[session.widget_ids["Start"][0]])
        _poll_until(session, _final, deadline)
        session._set_widget("Epochs", LONG_EPOCHS)
        session._run()
        session._run(triggers=[session.widget_ids["Start"][0]])
        person.ready.set()
        while not stop.is_set():
            time.sleep(0.5)
            session.poll()
    except Exception as error:  # noqa: BLE001 - a dropped connection ends the story here
        if not person.ready.is_set() or not stop.is_set():
            person.error = person.error or f"{type(error).__name__}: {error}"
    finally:
        person.ready.set()


def _reconnect(person: Participant, ws_url: str, deadline: float) -> None:
    """A new WebSocket with the same address (and cookie), as a reconnecting browser."""
    session = person.session
    with contextlib.suppress(Exception):
        session.ws.close()
    session.url = ws_url
    began = time.perf_counter()
    for attempt in range(60):  # the server may still be starting again
        try:
            session.connect(person.cookie)
            session._run(page_name="train")
            break
        except (OSError, ConnectionError, TimeoutError) as error:
            if time.monotonic() > deadline or attempt == 59:
                person.error = f"reconnect failed: {type(error).__name__}: {error}"
                return
            time.sleep(0.25)
    person.reconnect_seconds = time.perf_counter() - began
    person.texts = list(session.texts)
    person.history = next((t for t in session.tables if t and "run" in t[0]), [])
    first = _epoch(session.texts)
    if first is not None:  # the run trains on here: is it live?
        time.sleep(1.0)
        session.poll()
        person.live_epochs = [first, _epoch(session.texts) or first]


def _labs_in_database(url: str, labs: list[str]) -> dict:
    """Per lab: its run 2's saved epochs, and its bytes in the database."""
    from sqlalchemy import func, select

    from lab import lab_records, storage
    from lab.schema import lab_runs

    database = storage.Database(url, pool_size=1)
    keys = {lab_records.lab_key(lab): lab for lab in labs if lab}
    sizes = [func.coalesce(func.length(column), 0) for column in
             (lab_runs.c.weights, lab_runs.c.history, lab_runs.c.config, lab_runs.c.message)]
    try:
        with database.read() as connection:
            saved = dict(connection.execute(select(lab_runs.c.lab_key, lab_runs.c.epochs_done).where(
                lab_runs.c.lab_key.in_(list(keys)), lab_runs.c.number == 2)).all())
            size = dict(connection.execute(select(lab_runs.c.lab_key, func.sum(sum(sizes[1:], sizes[0])))
                                           .where(lab_runs.c.lab_key.in_(list(keys)))
                                           .group_by(lab_runs.c.lab_key)).all())
    finally:
        database.dispose()
    return {keys[key]: {"epochs": saved.get(key), "bytes": int(size.get(key) or 0)} for key in keys}


def _wait_for_checkpoints(url: str, people: list[Participant], deadline: float) -> dict:
    while True:
        state = _labs_in_database(url, [p.lab for p in people])
        if all((state.get(p.lab) or {}).get("epochs") for p in people if not p.error):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError("not every run 2 saved a checkpoint in time")
        time.sleep(0.25)


def _judge(person: Participant, victim: bool, saved_epochs: int | None) -> dict:
    rows = {row.get("run"): row for row in person.history}
    first, second = rows.get(1, {}), rows.get(2, {})
    model = any(f"784-{WIDTH}-10 ReLU, run 1" in t for t in person.texts)
    marked = (second.get("status") == "interrupted" and second.get("epochs") == f"{saved_epochs}/{LONG_EPOCHS}"
              and any(f"Run 2 was interrupted at epoch {saved_epochs}" in t for t in person.texts))
    live = len(person.live_epochs) == 2 and person.live_epochs[1] > person.live_epochs[0] and 2 not in rows
    return {"finished": first.get("status") == "completed", "model": model,
            "marked": marked if victim else None, "live": live if not victim else None}


def run_kill_test(processes: int = 1, sessions: int = 20, database_url: str | None = None,
                  seconds_limit: float = 240, log=print) -> dict:
    """Start the server(s), let ``sessions`` sessions train, SIGKILL one app process mid-run,
    reconnect every session; returns the report (see :func:`format_kill_report`).

    (One piece: the kill test's steps in the order they happen, start to report.)
    """
    from deploy.serve import Room, free_port
    from lab import storage

    folder = tempfile.mkdtemp(prefix="digit-lab-kill-")
    url = database_url or f"sqlite:///{folder}/labs.sqlite3"
    env = {"DIGIT_LAB_DATABASE_URL": url, "DIGIT_LAB_CHECKPOINT_SECONDS": "0.5",
           "DIGIT_LAB_MAX_JOBS": str(sessions), "OPENBLAS_NUM_THREADS": "1"}  # every run 2 trains at once
    deadline = time.monotonic() + seconds_limit
    stop = threading.Event()
    server = room = None
    try:
        if processes == 1:
            server = Server(env).__enter__()
            ws_url, http_base = server.url, None
        else:
            room = Room(processes, "127.0.0.1", free_port(), check_seconds=0.5, env=env, log=lambda m: None)
            room.start()
            threading.Thread(target=room.watch, daemon=True).start()
            http_base = room.url
            ws_url = http_base.replace("http://", "ws://") + "/_stcore/stream"
        people = [Participant(i, Session(i, ws_url, seed=1000 + i, epochs=None, deadline=deadline))
                  for i in range(sessions)]
        threads = [threading.Thread(target=_train_then_start, args=(p, http_base, deadline, stop), daemon=True)
                   for p in people]
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        for person in people:
            person.ready.wait(max(0.0, deadline - time.monotonic()))
        _wait_for_checkpoints(url, people, deadline)
        if processes == 1:
            victim_pid, victim = server.process.pid, None
        else:
            counts = {}
            for person in people:
                counts[person.upstream] = counts.get(person.upstream, 0) + 1
            victim = max(counts, key=counts.get)
            victim_pid = next(a.process.pid for a in room.apps if f"127.0.0.1:{a.port}" == victim)
        stop.set()  # the sessions stop polling: the kill, not a poll, ends their connection
        time.sleep(0.6)
        os.kill(victim_pid, signal.SIGKILL)
        killed = time.perf_counter()
        restart_seconds = None
        if processes == 1:
            server.process.wait()
            port = server.port
            server = Server(env, port=port).__enter__()  # the same address: the browsers come back
            restart_seconds = time.perf_counter() - killed
        for thread in threads:
            thread.join(10)
        saved = _labs_in_database(url, [p.lab for p in people])  # the victims' last checkpoints
        reconnects = [threading.Thread(target=_reconnect, args=(p, ws_url, deadline), daemon=True) for p in people]
        for thread in reconnects:
            thread.start()
        for thread in reconnects:
            thread.join(max(1.0, deadline - time.monotonic()))
        all_back = time.perf_counter() - killed
        victims = [p for p in people if victim is None or p.upstream == victim]
        verdicts = [_judge(p, p in victims, (saved.get(p.lab) or {}).get("epochs")) for p in people]
        final = _labs_in_database(url, [p.lab for p in people])
        backend = storage.database_url(url).get_backend_name()
    finally:
        stop.set()
        if server is not None:
            server.__exit__(None, None, None)
        if room is not None:
            room.stop()
    reconnect = [p.reconnect_seconds for p in people if p.reconnect_seconds is not None]
    survivors = [v for v, p in zip(verdicts, people) if p not in victims]

    def median_reconnect(group):
        seconds = [p.reconnect_seconds for p in group if p.reconnect_seconds is not None]
        return statistics.median(seconds) if seconds else None

    return {
        "processes": processes, "sessions": sessions, "backend": backend,
        "victims": len(victims), "survivors": len(survivors),
        "finished_lost": sum(not v["finished"] for v in verdicts),
        "models_lost": sum(not v["model"] for v in verdicts),
        "interrupted_marked": sum(bool(v["marked"]) for v in verdicts if v["marked"] is not None),
        "survivors_live": sum(bool(v["live"]) for v in survivors),
        "interrupted_epochs": sorted((saved.get(p.lab) or {}).get("epochs") or 0 for p in victims),
        "restart_seconds": restart_seconds,
        "reconnect_median": statistics.median(reconnect) if reconnect else None,
        "reconnect_max": max(reconnect) if reconnect else None,
        "reconnect_victims": median_reconnect(victims),
        "reconnect_survivors": median_reconnect([p for p in people if p not in victims]),
        "all_back_seconds": all_back,
        "bytes_per_lab": statistics.median([v["bytes"] for v in final.values()]) if final else None,
        "errors": [f"session {p.index}: {p.error}" for p in people if p.error],
    }


def format_kill_report(r: dict) -> str:
    where = "one streamlit process" if r["processes"] == 1 else f"{r['processes']} processes behind nginx"
    restart = f", restarted in {r['restart_seconds']:.1f} s" if r["restart_seconds"] is not None else ""
    lines = [
        f"Kill test on {r['backend']}: {r['sessions']} sessions, {where}, SIGKILL of one process{restart}",
        f"  finished runs lost:     {r['finished_lost']}/{r['sessions']}",
        f"  current models lost:    {r['models_lost']}/{r['sessions']}",
        f"  interrupted runs marked: {r['interrupted_marked']}/{r['victims']} (at epochs "
        f"{r['interrupted_epochs'][0] if r['interrupted_epochs'] else '-'}–"
        f"{r['interrupted_epochs'][-1] if r['interrupted_epochs'] else '-'})",
        f"  runs still training live on the surviving process: {r['survivors_live']}/{r['survivors']}",
        f"  reconnect (page with its lab): median {r['reconnect_median'] or 0:.2f} s (sessions of the "
        f"killed process {r['reconnect_victims'] or 0:.2f} s, of the other "
        f"{r['reconnect_survivors'] or 0:.2f} s), max {r['reconnect_max'] or 0:.2f} s; all back "
        f"{r['all_back_seconds']:.1f} s after the kill",
        f"  database per lab:       {(r['bytes_per_lab'] or 0) / 1000:.0f} kB (median)",
    ]
    lines += [f"  ERROR {e}" for e in r["errors"][:10]]
    return "\n".join(lines)


def run_blip_test(blip_seconds: float = 30, seconds_limit: float = 240, database_url: str | None = None) -> dict:
    """One session starts a long run, its WebSocket closes for ``blip_seconds``, it reconnects:
    returns what the page showed (see :func:`format_blip_report`)."""
    folder = tempfile.mkdtemp(prefix="digit-lab-blip-")
    env = {"DIGIT_LAB_DATABASE_URL": database_url or f"sqlite:///{folder}/labs.sqlite3",
           "OPENBLAS_NUM_THREADS": "1", "DIGIT_LAB_JOB_GRACE_SECONDS": "120"}
    deadline = time.monotonic() + seconds_limit
    with Server(env) as server:
        session = Session(0, server.url, seed=7, epochs=None, deadline=deadline)
        session.connect()
        session._run(page_name="train")
        lab = session.lab
        # Calibrate: a 2-epoch run says how long an epoch takes here, now (single-image
        # steps: slow epochs, so that the run outlasts the blip within the 500 epochs allowed).
        session._set_widget("Epochs", 2)
        session._set_widget("Hidden width", 32)
        session._set_widget("Batch size N", 1)
        session._run()
        session._run(triggers=[session.widget_ids["Start"][0]])
        _poll_until(session, _final, deadline)
        took = _seconds(_final(session.texts))
        epochs = min(500, max(4, math.ceil(1.5 * blip_seconds / max(took / 2, 1e-3))))
        session._set_widget("Epochs", epochs)
        session._run()
        session._run(triggers=[session.widget_ids["Start"][0]])
        _poll_until(session, lambda texts: (_epoch(texts) or 0) >= 1, deadline)
        before = _epoch(session.texts)
        session.ws.close()  # the blip: no page polls, nothing is sent
        time.sleep(blip_seconds)
        began = time.perf_counter()
        session.connect()
        session._run(page_name="train")
        reconnect = time.perf_counter() - began
        same_lab = session.lab == lab
        seen = [_epoch(session.texts)]
        finished_at_reconnect = _final(session.texts)
        if finished_at_reconnect is None:  # still training: the page polls it, live
            time.sleep(1.0)
            session.poll()
            seen.append(_epoch(session.texts))
            _poll_until(session, _final, deadline)
        final = _final(session.texts)
        session._run()
        history = next((t for t in session.tables if t and "run" in t[0]), [])
    return {"blip_seconds": blip_seconds, "epochs": epochs, "epoch_before": before, "epochs_seen": seen,
            "reconnect_seconds": reconnect, "same_lab": same_lab, "finished_at_reconnect": finished_at_reconnect,
            "final": final, "history": history}


def format_blip_report(r: dict) -> str:
    seen = "it had finished meanwhile" if r["finished_at_reconnect"] else f"live progress {r['epochs_seen']}"
    return (f"Blip test: WebSocket closed for {r['blip_seconds']:g} s at epoch {r['epoch_before']:g} of "
            f"{r['epochs']}; reconnected in {r['reconnect_seconds']:.2f} s to the same lab: "
            f"{r['same_lab']}; {seen}; then: {r['final']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.durability", description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=1, choices=(1, 2))
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--database", default=None, help="a database URL (default: a temporary SQLite file)")
    parser.add_argument("--blip", type=float, default=None, help="run the blip test with this many seconds")
    parser.add_argument("--seconds-limit", type=float, default=240)
    args = parser.parse_args(argv)
    missing = clients_available()
    if missing:
        print(f"skipped: {missing}")
        return 2
    if args.blip is not None:
        print(format_blip_report(run_blip_test(args.blip, args.seconds_limit, args.database)))
        return 0
    report = run_kill_test(args.processes, args.sessions, args.database, args.seconds_limit)
    print(format_kill_report(report))
    lost = report["finished_lost"] + report["models_lost"] + report["victims"] - report["interrupted_marked"]
    return 1 if lost or report["errors"] else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
