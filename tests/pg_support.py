"""PostgreSQL for the tests: a throwaway cluster (or ``$DIGIT_LAB_TEST_PG_URL``) and fresh
databases in it. The ``pg_admin_url`` fixture is registered in tests/conftest.py (one cluster
for the whole test session); the storage tests' fixtures are in tests/lab/conftest.py.

``$DIGIT_LAB_TEST_PG_URL`` (a user allowed to create databases), else a throwaway cluster
started with the server's ``initdb``/``pg_ctl`` on a loopback port (as the ``postgres`` user
when run as root); without PostgreSQL binaries or psycopg the tests that need it skip.
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from lab import storage


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pg_admin_url():
    """A PostgreSQL URL whose user may CREATE DATABASE; skips when there is none."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed")
    url = os.environ.get("DIGIT_LAB_TEST_PG_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    prefix: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="digit-lab-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir, ignore_errors=True)
            pytest.skip("running as root and there is no postgres user")
        os.chown(workdir, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else None
        if prefix is None:
            pytest.skip("running as root without runuser")
    data, port = workdir / "data", _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-N",
                        "-E", "UTF8"], check=True, capture_output=True, timeout=60, env=env)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(workdir / "log"), "-w", "-t", "30",
                        "-o", f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
                        "start"], check=True, capture_output=True, timeout=60, env=env)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        log = (workdir / "log").read_text()[-500:] if (workdir / "log").exists() else ""
        detail = getattr(error, "stderr", b"") or b""
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL cluster: {error} {detail[-300:]!r} {log}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


def fresh_pg_database(admin_url: str):
    """A fresh PostgreSQL database: (its URL, a function that drops it)."""
    import psycopg

    name = f"digitlab_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name

    def drop():
        storage.forget(url)
        with psycopg.connect(admin_url, autocommit=True) as db, contextlib.suppress(psycopg.Error):
            db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    return url, drop
