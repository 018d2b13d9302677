"""The room leaderboard: finished runs that participants chose to share.

Stored in an embedded SQLite database so it is shared by every session of the
server, survives a restart and is safe under concurrent writers (each write is one
transaction; SQLite's WAL journal lets readers go on while one session writes).
Several machines share one PostgreSQL database instead: :func:`open_leaderboard`
picks the backend from ``$DIGIT_LAB_LEADERBOARD_URL`` (``postgresql://...``; needs
``psycopg``, imported only then), else SQLite. Same schema and behaviour on both; the
schema's version is kept in a ``schema_version`` table and migrations run on open.

Only what the leaderboard shows is stored: a display name the participant typed,
the challenge (if any), the test accuracy, the run's settings and a run id (so a run
is submitted once). Names are kept as plain text; pages must show them as text
(never as Markdown/HTML). No Streamlit in here, so it is tested directly.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import os
import sqlite3
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from datasets import default_cache_dir

MAX_NAME_LENGTH = 40
MAX_SETTINGS_BYTES = 2000
MAX_ENTRIES = 2000  # oldest-and-worst entries beyond this are dropped
DB_ENV = "DIGIT_LAB_LEADERBOARD_DB"
TOKEN_ENV = "DIGIT_LAB_LEADERBOARD_TOKEN"
URL_ENV = "DIGIT_LAB_LEADERBOARD_URL"

# Migrations: (version, {backend: [statements]}), applied in order on open, each version
# once (recorded in schema_version). Version 1 is the original table; CREATE ... IF NOT
# EXISTS lets it adopt a database made before schema_version existed. Add new versions at
# the end; never edit an old one.
MIGRATIONS: list[tuple[int, dict[str, list[str]]]] = [
    (1, {
        "sqlite": ["""
CREATE TABLE IF NOT EXISTS entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    challenge   TEXT    NOT NULL DEFAULT '',
    accuracy    REAL    NOT NULL,
    settings    TEXT    NOT NULL,
    created     REAL    NOT NULL
)""", "CREATE INDEX IF NOT EXISTS entries_by_challenge ON entries (challenge, accuracy DESC)"],
        "postgresql": ["""
CREATE TABLE IF NOT EXISTS entries (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT             NOT NULL UNIQUE,
    name        TEXT             NOT NULL,
    challenge   TEXT             NOT NULL DEFAULT '',
    accuracy    DOUBLE PRECISION NOT NULL,
    settings    TEXT             NOT NULL,
    created     DOUBLE PRECISION NOT NULL
)""", "CREATE INDEX IF NOT EXISTS entries_by_challenge ON entries (challenge, accuracy DESC)"],
    }),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


class LeaderboardError(ValueError):
    """A submission or request the leaderboard refuses, with a message for the user."""


@dataclass(frozen=True)
class Entry:
    rank: int
    name: str
    challenge: str
    accuracy: float
    settings: dict
    created: float


def default_path() -> Path:
    """``$DIGIT_LAB_LEADERBOARD_DB`` or ``<cache dir>/leaderboard.sqlite3``."""
    return Path(os.environ.get(DB_ENV) or default_cache_dir() / "leaderboard.sqlite3")


def clean_name(name: str) -> str:
    """A display name: trimmed, no control characters, 1-40 characters."""
    if not isinstance(name, str):
        raise LeaderboardError("the display name must be text")
    name = unicodedata.normalize("NFC", name).strip()
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    if not name:
        raise LeaderboardError("choose a display name first")
    if len(name) > MAX_NAME_LENGTH:
        raise LeaderboardError(f"the display name is longer than {MAX_NAME_LENGTH} characters")
    return name


def open_leaderboard(url: str | None = None, max_entries: int = MAX_ENTRIES) -> Leaderboard:
    """The leaderboard the configuration asks for.

    ``url`` (default ``$DIGIT_LAB_LEADERBOARD_URL``): ``postgresql://...`` (or
    ``postgres://``) -> PostgreSQL; ``sqlite:///path`` -> that SQLite file; empty -> the
    SQLite file of :func:`default_path`.
    """
    url = (url if url is not None else os.environ.get(URL_ENV, "")).strip()
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresLeaderboard(url, max_entries=max_entries)
    if url.startswith("sqlite://"):
        return Leaderboard(url[len("sqlite://"):] or None, max_entries=max_entries)
    if url:
        scheme = url.split(":", 1)[0]
        raise LeaderboardError(f"{URL_ENV}: unsupported database {scheme!r} "
                               "(use postgresql://... or sqlite:///path)")
    return Leaderboard(max_entries=max_entries)


class Leaderboard:
    """A leaderboard in one SQLite file (created on first use)."""

    backend = "sqlite"
    # Trimming to max_entries: everything after the first N (SQLite needs a LIMIT).
    _TRIM = ("DELETE FROM entries WHERE id IN (SELECT id FROM entries "
             "ORDER BY accuracy DESC, created ASC LIMIT -1 OFFSET ?)")
    _integrity_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, path: str | os.PathLike | None = None, max_entries: int = MAX_ENTRIES):
        self.path = Path(path) if path is not None else default_path()
        self.max_entries = max_entries
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._use_wal()
        self._migrate()

    def _use_wal(self, attempts: int = 50) -> None:
        """Switch the file to write-ahead logging (readers never wait for a writer).

        SQLite does not apply the busy timeout to a journal-mode change: when several
        processes or threads open a brand-new file at once, all but one get "database is
        locked" at once. WAL is stored in the file, so whoever wins sets it for everyone:
        retry briefly until the file is in WAL mode.
        """
        for attempt in range(attempts):
            try:
                with self._connect() as db:
                    if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                        return
                    db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == attempts - 1:
                    raise
                time.sleep(0.02 * (attempt + 1))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!s})"

    def _connect(self) -> sqlite3.Connection:
        # A connection per call: sqlite3 connections must not be shared across threads,
        # and opening one is cheap next to a human pressing a button.
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 30000")
        return _Closing(db)

    def _sql(self, query: str) -> str:
        return query

    def _begin_write(self, db) -> None:
        """Start a transaction that excludes other writers (readers go on)."""
        db.execute("BEGIN IMMEDIATE")

    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION, once, even with several processes opening."""
        with self._connect() as db:
            try:
                self._begin_write(db)
                db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                current = db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
                for version, statements in MIGRATIONS:
                    if version > current:
                        for statement in statements[self.backend]:
                            db.execute(statement)
                        db.execute(self._sql("INSERT INTO schema_version (version) VALUES (?)"),
                                   (version,))
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    db.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0

    def submit(self, run_id: str, name: str, accuracy: float, settings: dict,
               challenge: str = "") -> None:
        """Add one run; a run already submitted raises LeaderboardError."""
        name = clean_name(name)
        if not (isinstance(accuracy, (int, float)) and math.isfinite(accuracy) and 0 <= accuracy <= 1):
            raise LeaderboardError(f"accuracy must be between 0 and 1, got {accuracy!r}")
        settings_json = json.dumps(settings, sort_keys=True, default=str)
        if len(settings_json.encode()) > MAX_SETTINGS_BYTES:
            raise LeaderboardError("the run's settings are too large to submit")
        with self._connect() as db:
            try:
                self._begin_write(db)
                db.execute(self._sql(
                    "INSERT INTO entries (run_id, name, challenge, accuracy, settings, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)"),
                    (str(run_id), name, str(challenge or ""), float(accuracy), settings_json, time.time()),
                )
                # Bounded size: beyond max_entries, drop the lowest accuracies (oldest first).
                db.execute(self._sql(self._TRIM), (self.max_entries,))
                db.execute("COMMIT")
            except self._integrity_errors:
                db.execute("ROLLBACK")
                raise LeaderboardError("this run is already on the leaderboard") from None
            except BaseException:
                with contextlib.suppress(Exception):
                    db.execute("ROLLBACK")
                raise

    def entries(self, challenge: str | None = None, limit: int = 100) -> list[Entry]:
        """Best first; ``challenge=None`` lists all, ``""`` only free runs."""
        query = "SELECT name, challenge, accuracy, settings, created FROM entries"
        params: tuple = ()
        if challenge is not None:
            query += " WHERE challenge = ?"
            params = (challenge,)
        query += " ORDER BY accuracy DESC, created ASC LIMIT ?"
        with self._connect() as db:
            rows = db.execute(self._sql(query), (*params, int(limit))).fetchall()
        return [Entry(rank, name, ch, acc, json.loads(settings), created)
                for rank, (name, ch, acc, settings, created) in enumerate(rows, start=1)]

    def challenges(self) -> list[str]:
        """The challenges that have entries (for a filter)."""
        with self._connect() as db:
            rows = db.execute("SELECT DISTINCT challenge FROM entries ORDER BY challenge").fetchall()
        return [row[0] for row in rows]

    def count(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]

    def clear(self, token: str, expected_token: str | None = None) -> int:
        """Delete every entry, if ``token`` matches the server's; returns how many went."""
        expected = expected_token if expected_token is not None else os.environ.get(TOKEN_ENV, "")
        if not expected:
            raise LeaderboardError("clearing is disabled: the server has no leaderboard token set "
                                   f"(environment variable {TOKEN_ENV})")
        if not hmac.compare_digest(str(token).encode(), expected.encode()):
            raise LeaderboardError("wrong facilitator token")
        with self._connect() as db:
            return db.execute("DELETE FROM entries").rowcount


class PostgresLeaderboard(Leaderboard):
    """The same leaderboard in a PostgreSQL database (several machines share it).

    ``url``: a libpq connection URL, e.g. ``postgresql://user:password@host:5432/digitlab``.
    The tables are created (and migrated) on open; the database must exist.
    """

    backend = "postgresql"
    _TRIM = ("DELETE FROM entries WHERE id IN (SELECT id FROM entries "
             "ORDER BY accuracy DESC, created ASC OFFSET ?)")
    _MIGRATION_LOCK = 0x6469676974  # pg_advisory_xact_lock key: "digit"

    def __init__(self, url: str, max_entries: int = MAX_ENTRIES):
        try:
            import psycopg
        except ImportError:
            raise LeaderboardError(f"{URL_ENV} names a PostgreSQL database but psycopg is not "
                                   'installed (pip install "psycopg[binary]")') from None
        self._psycopg = psycopg
        self._integrity_errors = (psycopg.errors.IntegrityError,)
        self.url = url
        self.path = None
        self.max_entries = max_entries
        self._migrate()

    def __repr__(self) -> str:
        host = self.url.rsplit("@", 1)[-1]  # never show the password
        return f"PostgresLeaderboard({host})"

    def _connect(self):
        # Autocommit, with explicit BEGIN/COMMIT where a transaction is needed (as on SQLite);
        # psycopg's connection closes itself at the end of ``with``.
        return self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    def _sql(self, query: str) -> str:
        return query.replace("?", "%s")

    def _begin_write(self, db) -> None:
        db.execute("BEGIN")
        # One writer at a time, as SQLite's BEGIN IMMEDIATE: keeps the size bound exact.
        # An advisory lock (not LOCK TABLE) so that it also guards the first migration.
        db.execute("SELECT pg_advisory_xact_lock(%s)", (self._MIGRATION_LOCK,))


class _Closing:
    """``with`` support that closes the sqlite3 connection (its own ``with`` does not)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc) -> None:
        self.db.close()
