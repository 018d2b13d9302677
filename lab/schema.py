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

from sqlalchemy import BigInteger, Column, Double, Index, Integer, MetaData, Table, Text
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


# (version, step), in order; a database at version N has had every step up to N.
MIGRATIONS = [
    (1, create_leaderboard),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
