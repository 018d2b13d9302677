"""Which server process trains a run, and whether that process still lives (no Streamlit).

A run that is queued or training is marked in the database with the process that holds
it (:data:`THIS_PROCESS`): ``<machine>|<pid>|<start time>``. When a session opens the lab
later, a process of the same machine can tell at once whether that one is still there
(:func:`alive` reads ``/proc``: the pid exists, is not a zombie and started at the same
moment, so a reused pid is not mistaken for it). A process of another machine cannot look;
it goes by the run's heartbeat instead (``lab.lab_store``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from pathlib import Path


def _machine() -> str:
    """This machine: its host name and, on Linux, its boot id (a restarted machine, or one
    of the same name, is another machine)."""
    boot = ""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    digest = hashlib.sha256(boot.encode()).hexdigest()[:12] if boot else "noboot"
    return f"{socket.gethostname()}/{digest}"


def _stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks since boot) of ``pid`` from /proc, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (command) ": state is field 3
    return fields[0], fields[19]  # field 22: starttime


def identity(pid: int) -> str:
    """The identity of process ``pid`` of this machine (see :func:`this_process`)."""
    stat = _stat(pid)
    return f"{MACHINE}|{pid}|{stat[1] if stat else 'unknown'}"


MACHINE = _machine()
THIS_PROCESS = identity(os.getpid())


def this_process() -> str:
    """This process's identity (a forked child gets its own)."""
    global THIS_PROCESS
    if f"|{os.getpid()}|" not in THIS_PROCESS:
        THIS_PROCESS = identity(os.getpid())
    return THIS_PROCESS


def alive(process: str | None) -> bool | None:
    """True if ``process`` (an identity from :func:`this_process`) is running, False if it
    is gone, None when this machine cannot tell (another machine's process)."""
    if not process:
        return False
    try:
        machine, pid_text, started = process.split("|")
        pid = int(pid_text)
    except ValueError:
        return False
    if machine != MACHINE:
        return None
    if process == this_process():
        return True
    stat = _stat(pid)
    if stat is None:
        if Path("/proc/self/stat").exists():
            return False  # /proc works here and has no such pid
        try:  # no /proc: the pid alone has to do
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state, start = stat
    return state not in ("Z", "X") and (started == "unknown" or start == started)
