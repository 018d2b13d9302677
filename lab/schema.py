"""The database's tables and the ordered steps that build them (no Streamlit; SQL text only in
the skeleton of ``ALTER TABLE ... ADD COLUMN``, whose column part is compiled from the tables).

Every table of the app's database is defined here, once, with SQLAlchemy Core: the same
definitions make the SQLite and the PostgreSQL schema. A database records the steps it has
had in the ``schema_version`` table (one row per step); :meth:`lab.storage.Database.migrate`
runs the missing ones in order, under the database's writer lock, when a server process
first opens it.

To add a table (or change one): define it below, write a step function that makes the
change on a Connection, and append ``(next version, step)`` to :data:`MIGRATIONS`. Never
edit or reorder a step that has shipped: databases out there have already run it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Double, Index, Integer, LargeBinary, MetaData, Table, Text, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateColumn

metadata = MetaData()

# Which steps a database has had. No primary key: the table predates this module and keeps
# its shape, so that databases made before it open unchanged.
schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

# The room leaderboard (lab.leaderboard). ``id`` is a 64-bit counter on PostgreSQL; SQLite
# only counts up an INTEGER PRIMARY KEY (its row id), hence the variant.
leaderboard_entries = Table(
    "entries", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("challenge", Text, nullable=False, server_default=""),
    Column("accuracy", Double, nullable=False),
    Column("settings", Text, nullable=False),
    Column("created", Double, nullable=False),
    # The run's accuracy on the room's handwriting when it was submitted, and on how many
    # drawings (None and 0: none was measured). Added by step ``add_room_tables``.
    Column("room_accuracy", Double, nullable=True),
    Column("room_images", Integer, nullable=False, server_default="0"),
    sqlite_autoincrement=True,  # ids of deleted entries are never reused, as before
)
leaderboard_by_challenge = Index("entries_by_challenge", leaderboard_entries.c.challenge,
                                 leaderboard_entries.c.accuracy.desc())


def create_leaderboard(connection: Connection) -> None:
    """Step 1: the leaderboard's table and index. Adopts a database made before
    ``schema_version`` existed (its table is already there)."""
    leaderboard_entries.create(connection, checkfirst=True)
    leaderboard_by_challenge.create(connection, checkfirst=True)


# The labs (lab.lab_store). A lab is found by the SHA-256 of its id (the id itself, a
# capability, is never stored); its runs are rows of ``lab_runs``, numbered by the lab's
# ``next_run`` counter, so two tabs of one lab never get the same number. Times are Unix
# seconds. JSON columns are Text (the same on both databases).
labs = Table(
    "labs", metadata,
    Column("lab_key", Text, primary_key=True),  # sha256 hex of the lab id
    Column("created", Double, nullable=False),
    Column("used", Double, nullable=False),  # last read or write: the TTL counts from here
    Column("next_run", Integer, nullable=False),  # the number the next run gets
    Column("current_run", Integer),  # the run that is the current model (None: none)
    Column("settings", Text, nullable=False),  # JSON: the Train page's settings
    Column("dataset", Text, nullable=False),  # JSON: which data (a reference, never the images)
)
labs_by_use = Index("labs_by_use", labs.c.used)

lab_runs = Table(
    "lab_runs", metadata,
    Column("lab_key", Text, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("revision", Integer, nullable=False),  # counts this row's writes (caches compare it)
    Column("status", Text, nullable=False),  # queued | running | completed | ... | interrupted
    Column("message", Text, nullable=False),
    Column("config", Text, nullable=False),  # JSON: the TrainConfig
    Column("dataset", Text, nullable=False),  # what it trained on, as the run history says it
    Column("class_names", Text, nullable=False),  # JSON list
    Column("seconds", Double, nullable=False),
    Column("test_accuracy", Double),
    Column("epochs_done", Integer, nullable=False),
    Column("history", Text, nullable=False),  # JSON: the curves (lab.lab_records)
    Column("weights", LargeBinary),  # an nn.model_io .npz; None when not kept (or none yet)
    Column("weights_bytes", Integer, nullable=False),
    Column("process", Text),  # the server process training it, while queued or running
    Column("heartbeat", Double),  # that process's last sign of life for it
    Column("updated", Double, nullable=False),
)

# The room's handwriting (lab.handwriting): drawings participants added on the Draw page,
# 28 x 28 greyscale, 784 bytes row by row. ``drawing_id`` makes an add idempotent (a
# retried or double-clicked add lands once); ``participant`` is a hash of the lab id.
room_drawings = Table(
    "room_drawings", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("drawing_id", Text, nullable=False, unique=True),
    Column("participant", Text, nullable=False),
    Column("label", Integer, nullable=False),
    Column("pixels", LargeBinary, nullable=False),
    Column("created", Double, nullable=False),
    sqlite_autoincrement=True,
)
room_drawings_by_participant = Index("room_drawings_by_participant", room_drawings.c.participant)

# Locked exercise links (lab.exercise_lock): the lock a lab was opened with, so that a
# reload of that lab keeps it even when the address lost its parameters. ``lab_key`` is a
# hash of the lab id (the id itself is a secret and never stored).
exercise_locks = Table(
    "exercise_locks", metadata,
    Column("lab_key", Text, primary_key=True),
    Column("lock", Text, nullable=False),
    Column("updated", Double, nullable=False),
)


def create_labs(connection: Connection) -> None:
    """Step 2: the labs and their runs."""
    labs.create(connection, checkfirst=True)
    labs_by_use.create(connection, checkfirst=True)
    lab_runs.create(connection, checkfirst=True)


def _add_missing_column(connection: Connection, table: Table, name: str) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for ``table.c[name]`` as defined above, unless the
    table has it (a database whose step 1 made the table from the newer definition)."""
    if name in {column["name"] for column in inspect(connection).get_columns(table.name)}:
        return
    preparer = connection.dialect.identifier_preparer
    column_sql = CreateColumn(table.c[name]).compile(dialect=connection.dialect)
    connection.exec_driver_sql(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {column_sql}")


def add_room_tables(connection: Connection) -> None:
    """The room step: the room's handwriting, the exercise locks, and the leaderboard's
    accuracy on the room's handwriting (two columns of ``entries``)."""
    room_drawings.create(connection, checkfirst=True)
    room_drawings_by_participant.create(connection, checkfirst=True)
    exercise_locks.create(connection, checkfirst=True)
    for name in ("room_accuracy", "room_images"):
        _add_missing_column(connection, leaderboard_entries, name)


# (version, step), in order; a database at version N has had every step up to N.
MIGRATIONS = [
    (1, create_leaderboard),
    (2, create_labs),
    (3, add_room_tables),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
