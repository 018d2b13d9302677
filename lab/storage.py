"""The app's database on SQLAlchemy Core: which one, its connection pool, its transactions.

One database holds everything the server keeps (today the leaderboard): SQLite by default,
a file every process of one machine shares; PostgreSQL when several machines serve one room.
:func:`database_url` reads which from the configuration (``$DIGIT_LAB_DATABASE_URL``, or
the older ``$DIGIT_LAB_LEADERBOARD_URL`` / ``$DIGIT_LAB_LEADERBOARD_DB``)::

    db = storage.database()                  # this process's handle, created and migrated once
    with db.read() as connection:             # one short transaction
        connection.execute(select(...))
    with db.write(exclusive=True) as connection:   # one writer at a time
        connection.execute(insert(...))

Each URL gets one :class:`Database` per process (:func:`database` caches it): one engine and
its pool of at most ``$DIGIT_LAB_DATABASE_POOL_SIZE`` connections, shared by every session
and thread of the process, so a room of sessions never opens a connection each. The tables
and their migrations are in :mod:`lab.schema`.

Where SQLite and PostgreSQL differ, the difference is here and only here, in how a
connection is set up and how writers exclude each other:

- SQLite: write-ahead logging (readers never wait for the writer), a busy timeout (a writer
  waits for another instead of failing), ``synchronous=NORMAL`` (safe with WAL); SQLAlchemy
  emits BEGIN itself, ``BEGIN IMMEDIATE`` for a write transaction, which takes SQLite's one
  write lock up front (a read transaction that later writes could otherwise fail at once
  when another writer got in between).
- PostgreSQL (psycopg 3): an exclusive write transaction takes a transaction-scoped advisory
  lock (the same key as earlier versions of the app), and the pool checks a connection
  before handing it out (a restarted server does not break every pooled connection).
- "Insert this row unless its key exists" (:meth:`Database.insert_new`) is each dialect's
  ``INSERT ... ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from sqlalchemy import Table, create_engine, event, func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from datasets import default_cache_dir

from . import config, schema

DEFAULT_FILE_NAME = "digit-lab.sqlite3"
OLD_DEFAULT_FILE_NAME = "leaderboard.sqlite3"  # the default before the database held more
BUSY_TIMEOUT_MS = 30_000
POOL_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 10
APPLICATION_NAME = "digit-lab"  # how the server's connections show in pg_stat_activity
WRITE_LOCK_KEY = 0x6469676974  # "digit": PostgreSQL advisory lock of exclusive writers
_WRITE = "digit_lab_write"  # execution option: this connection's transaction writes


class StorageError(ValueError):
    """A database the configuration names but the app cannot use, with a message saying why."""


# -- which database ------------------------------------------------------------------------


def default_sqlite_path(environ: Mapping[str, str] | None = None) -> Path:
    """The SQLite file used when no URL is configured: ``$DIGIT_LAB_LEADERBOARD_DB``, else
    ``digit-lab.sqlite3`` in the cache directory (or the ``leaderboard.sqlite3`` an earlier
    version made there, while the new file does not exist)."""
    configured = config.get(config.LEADERBOARD_DB, environ)
    if configured is not None:
        return Path(configured).expanduser()
    cache = default_cache_dir()
    path, old = cache / DEFAULT_FILE_NAME, cache / OLD_DEFAULT_FILE_NAME
    return old if old.exists() and not path.exists() else path


def database_url(text: str | None = None, environ: Mapping[str, str] | None = None) -> URL:
    """The SQLAlchemy URL of the database ``text`` names, or (``text`` None or blank) the one
    the configuration names; StorageError with a message for one the app cannot use.

    ``postgresql://`` / ``postgres://`` / ``postgresql+psycopg://`` -> PostgreSQL through
    psycopg 3; ``sqlite://<path>`` or a plain path -> that SQLite file (``sqlite:///srv/x.db``
    is ``/srv/x.db``, as earlier versions read it); ``sqlite://`` alone -> the default file.
    """
    source = "the database URL"
    if text is None or not text.strip():
        found = config.first_set((config.DATABASE_URL, config.LEADERBOARD_URL), environ)
        if found is None:
            return _sqlite_url(default_sqlite_path(environ))
        source, text = found
    text = text.strip()
    if "://" not in text:
        return _sqlite_url(Path(text).expanduser())
    scheme = text.split("://", 1)[0].lower()
    if scheme == "sqlite":
        path = text[len("sqlite://"):].split("?", 1)[0]
        if path.startswith("//"):  # SQLAlchemy's spelling of an absolute path
            path = path[1:]
        return _sqlite_url(Path(path).expanduser() if path else default_sqlite_path(environ))
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        try:
            url = make_url("postgresql" + text[len(scheme):])
        except (ArgumentError, ValueError) as error:
            raise StorageError(f"{source}: not a database URL ({error})") from None
        return url.set(drivername="postgresql+psycopg")
    raise StorageError(f"{source}: unsupported database {scheme!r} "
                       "(use postgresql://user:password@host/database or sqlite:///path/to/file)")


def _sqlite_url(path: Path) -> URL:
    return URL.create("sqlite", database=str(path.absolute()))


def describe(url: URL) -> str:
    """``url`` for messages and logs: never the user or password."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite {url.database}"
    port = f":{url.port}" if url.port else ""
    return f"postgresql {url.host or 'localhost'}{port}/{url.database or ''}"


# -- one database ------------------------------------------------------------------------------


class Database:
    """One database: an engine with a connection pool, short transactions, the schema.

    Use :func:`database` for the process's shared handle; a Database of its own (tests)
    has its own pool. ``pool_size``: connections kept open at most (default
    ``$DIGIT_LAB_DATABASE_POOL_SIZE``); a thread that needs one while all are busy waits
    for one (up to POOL_TIMEOUT_SECONDS).
    """

    def __init__(self, url: str | URL | None = None, pool_size: int | None = None):
        self.url = url if isinstance(url, URL) else database_url(url)
        self.backend = self.url.get_backend_name()
        self.pool_size = config.get(config.DATABASE_POOL_SIZE) if pool_size is None else int(pool_size)
        self.path = Path(self.url.database) if self.backend == "sqlite" else None
        options = dict(pool_size=self.pool_size, max_overflow=0, pool_timeout=POOL_TIMEOUT_SECONDS)
        if self.backend == "sqlite":
            _create_in_wal_mode(self.path)
            self.engine = create_engine(self.url, **options)
            event.listen(self.engine, "connect", _set_up_sqlite_connection)
            event.listen(self.engine, "begin", _begin_sqlite_transaction)
            self._exclude_other_writers = _nothing  # BEGIN IMMEDIATE already did
        else:
            try:
                self.engine = create_engine(
                    self.url, pool_pre_ping=True, **options,
                    connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS,
                                  "application_name": APPLICATION_NAME})
            except (ImportError, NoSuchModuleError):
                raise StorageError(f"{describe(self.url)}: PostgreSQL needs psycopg 3 "
                                   '(pip install "psycopg[binary]")') from None
            self._exclude_other_writers = _advisory_lock

    def __repr__(self) -> str:
        return f"Database({describe(self.url)}, pool of {self.pool_size})"

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (a consistent view; it writes nothing)."""
        with self.engine.connect() as connection, connection.begin():
            yield connection

    @contextlib.contextmanager
    def write(self, exclusive: bool = False) -> Iterator[Connection]:
        """A connection in a write transaction, committed at the end of the ``with`` block
        (rolled back on an exception). ``exclusive``: no other exclusive writer runs at the
        same time (on SQLite no other writer at all); keep such transactions short."""
        with self.engine.connect() as connection:
            connection.execution_options(**{_WRITE: True})
            with connection.begin():
                if exclusive:
                    self._exclude_other_writers(connection)
                yield connection

    def insert_new(self, connection: Connection, table: Table, **values) -> bool:
        """Insert one row unless a row with its primary key exists (then change nothing);
        True if it inserted. Safe against a concurrent insert of the same key."""
        dialect = sqlite_dialect if self.backend == "sqlite" else postgresql
        statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
        return connection.execute(statement).rowcount == 1

    def schema_version(self) -> int:
        """The last migration step this database has had (0: none)."""
        with self.read() as connection:
            if not self.engine.dialect.has_table(connection, schema.schema_version.name):
                return 0
            return connection.scalar(select(func.max(schema.schema_version.c.version))) or 0

    def migrate(self, migrations=None) -> int:
        """Run the steps of ``migrations`` (default :data:`lab.schema.MIGRATIONS`) this database
        has not had, in order, each recorded in ``schema_version``; returns its version.

        One exclusive transaction: several processes opening the database at once run each
        step once, and a step that fails leaves the database as it was.
        """
        migrations = schema.MIGRATIONS if migrations is None else migrations
        table = schema.schema_version
        with self.write(exclusive=True) as connection:
            table.create(connection, checkfirst=True)
            current = connection.scalar(select(func.max(table.c.version))) or 0
            for version, step in migrations:
                if version > current:
                    step(connection)
                    connection.execute(insert(table).values(version=version))
                    current = version
        return current

    def connections_in_use(self) -> int:
        """Connections of this process's pool checked out right now."""
        return self.engine.pool.checkedout()

    def dispose(self) -> None:
        """Close every pooled connection (the engine opens new ones if used again)."""
        self.engine.dispose()


def _nothing(connection: Connection) -> None:
    pass


def _advisory_lock(connection: Connection) -> None:
    connection.execute(select(func.pg_advisory_xact_lock(WRITE_LOCK_KEY)))


def _set_up_sqlite_connection(dbapi_connection: sqlite3.Connection, connection_record) -> None:
    # SQLAlchemy emits BEGIN itself (_begin_sqlite_transaction): the sqlite3 module's own
    # transaction handling would not begin one before a SELECT or a CREATE.
    dbapi_connection.isolation_level = None
    for pragma in (f"busy_timeout = {BUSY_TIMEOUT_MS}", "journal_mode = WAL", "synchronous = NORMAL",
                   "foreign_keys = ON"):
        dbapi_connection.execute(f"PRAGMA {pragma}")


def _begin_sqlite_transaction(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(_WRITE) else "BEGIN")


def _create_in_wal_mode(path: Path) -> None:
    """Make a brand-new SQLite file at ``path`` already in WAL mode.

    Switching a file to WAL needs a moment alone with it, and SQLite reports "database is
    locked" at once (without its busy timeout) to the others when several processes open a
    new file together. So a new file is made in WAL mode under a temporary name and linked
    into place, which fails if someone else got there first (their file is in WAL mode
    too). A file that exists is left alone: each connection asks for WAL when it opens.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.new")  # sqlite3 makes it as open() would
    try:
        with contextlib.closing(sqlite3.connect(temporary)) as db:
            db.execute("PRAGMA journal_mode = WAL")
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


# -- the process's databases -------------------------------------------------------------------

_databases: dict[tuple[str, int], Database] = {}
_databases_lock = threading.Lock()


def database(url: str | None = None, environ: Mapping[str, str] | None = None) -> Database:
    """This process's :class:`Database` for ``url`` (default: the configured one), migrated
    to :data:`lab.schema.SCHEMA_VERSION`: created on first use, then shared by every caller."""
    resolved = database_url(url, environ)
    pool_size = config.get(config.DATABASE_POOL_SIZE, environ)
    key = (resolved.render_as_string(hide_password=False), pool_size)
    with _databases_lock:
        handle = _databases.get(key)
        if handle is None:
            handle = Database(resolved, pool_size)
            handle.migrate()
            _databases[key] = handle
        return handle


def forget(url: str | None = None) -> None:
    """Close and drop the process's handles for ``url`` (all of them when None): for tests,
    and before a database is deleted."""
    resolved = None if url is None else database_url(url).render_as_string(hide_password=False)
    with _databases_lock:
        for key in [key for key in _databases if resolved is None or key[0] == resolved]:
            _databases.pop(key).dispose()
