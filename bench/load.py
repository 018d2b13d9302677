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
import json
import os
import statistics
import sys
import threading
import time

from bench.hostile_app import CASES, ServerMemory, run_case
from bench.streamlit_client import RemoteServer, Server, Session, SessionResult, clients_available

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
    report as a dict.

    (One piece: the load test's steps in the order they happen, start to report.)
    """
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
