"""The database's tables and the ordered steps that build them (no Streamlit, no SQL text).

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

from sqlalchemy import BigInteger, Column, Double, Index, Integer, LargeBinary, MetaData, Table, Text
from sqlalchemy.engine import Connection

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


def create_labs(connection: Connection) -> None:
    """Step 2: the labs and their runs."""
    labs.create(connection, checkfirst=True)
    labs_by_use.create(connection, checkfirst=True)
    lab_runs.create(connection, checkfirst=True)


# (version, step), in order; a database at version N has had every step up to N.
MIGRATIONS = [
    (1, create_leaderboard),
    (2, create_labs),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
