"""The room leaderboard: finished runs that participants chose to share.

Stored in the app's database (:mod:`lab.storage`: SQLite by default, shared by every
process of the server and surviving a restart; PostgreSQL when several machines share one,
``$DIGIT_LAB_DATABASE_URL=postgresql://...``). Each submission is one short exclusive write
transaction, so the size bound holds under concurrent writers; readers never wait.

Only what the leaderboard shows is stored: a display name the participant typed,
the challenge (if any), the test accuracy, the run's settings and a run id (so a run
is submitted once). Names are kept as plain text; pages must show them as text
(never as Markdown/HTML). No Streamlit in here, so it is tested directly.
"""

from __future__ import annotations

import json
import math
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from . import config, facilitator, storage
from .schema import SCHEMA_VERSION, leaderboard_entries

MAX_NAME_LENGTH = 40
MAX_SETTINGS_BYTES = 2000
MAX_ENTRIES = 2000  # oldest-and-worst entries beyond this are dropped
DB_ENV = config.LEADERBOARD_DB
TOKEN_ENV = config.LEADERBOARD_TOKEN
URL_ENV = config.LEADERBOARD_URL
DATABASE_URL_ENV = config.DATABASE_URL
_COLUMNS = leaderboard_entries.c
_BEST_FIRST = (_COLUMNS.accuracy.desc(), _COLUMNS.created.asc())  # ties: the earlier entry ranks higher
__all__ = ["MAX_ENTRIES", "MAX_NAME_LENGTH", "SCHEMA_VERSION", "Entry", "Leaderboard", "LeaderboardError",
           "clean_name", "default_path", "open_leaderboard"]


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
    room_accuracy: float | None = None  # on the room's handwriting, when it was measured
    room_images: int = 0  # drawings it was measured on


def default_path() -> Path:
    """The SQLite file used when no database URL is configured (see
    :func:`lab.storage.default_sqlite_path`)."""
    return storage.default_sqlite_path()


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
    """The leaderboard in the database ``url`` names, or (None or blank) the configured one.

    ``url``: ``postgresql://...`` -> PostgreSQL; ``sqlite:///path`` or a path -> that SQLite
    file (see :func:`lab.storage.database_url`). A URL the app cannot use raises
    LeaderboardError with a message.
    """
    return Leaderboard(url=url, max_entries=max_entries)


class Leaderboard:
    """The leaderboard in one database: ``path`` (a SQLite file), else ``url``, else the
    configured database. Handles are cheap: every handle on one database shares the
    process's connection pool (:func:`lab.storage.database`)."""

    def __init__(self, path: str | Path | None = None, max_entries: int = MAX_ENTRIES, *,
                 url: str | None = None):
        if path is not None:
            url = str(Path(path).expanduser())
        try:
            self.database = storage.database(url)
        except storage.StorageError as error:
            raise LeaderboardError(str(error)) from None
        self.max_entries = max_entries

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None on PostgreSQL."""
        return self.database.path

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.database.backend

    def __repr__(self) -> str:
        return f"Leaderboard({storage.describe(self.database.url)})"  # never a password

    def schema_version(self) -> int:
        return self.database.schema_version()

    def submit(self, run_id: str, name: str, accuracy: float, settings: dict,
               challenge: str = "", room_accuracy: float | None = None, room_images: int = 0) -> None:
        """Add one run; a run already submitted raises LeaderboardError. ``room_accuracy``:
        its accuracy on the room's handwriting (``room_images`` drawings), if measured."""
        name = clean_name(name)
        _check_fraction(accuracy, "accuracy")
        if room_accuracy is not None:
            _check_fraction(room_accuracy, "the accuracy on the room's handwriting")
        room_images = int(room_images) if room_accuracy is not None else 0
        settings_json = json.dumps(settings, sort_keys=True, default=str)
        if len(settings_json.encode()) > MAX_SETTINGS_BYTES:
            raise LeaderboardError("the run's settings are too large to submit")
        try:
            # Exclusive: the size bound stays exact when many sessions submit at once.
            with self.database.write(exclusive=True) as connection:
                connection.execute(insert(leaderboard_entries).values(
                    run_id=str(run_id), name=name, challenge=str(challenge or ""), accuracy=float(accuracy),
                    settings=settings_json, created=time.time(),
                    room_accuracy=None if room_accuracy is None else float(room_accuracy),
                    room_images=room_images))
                # Bounded size: beyond max_entries, drop the lowest accuracies (oldest first).
                beyond = select(_COLUMNS.id).order_by(*_BEST_FIRST).offset(self.max_entries)
                connection.execute(delete(leaderboard_entries).where(_COLUMNS.id.in_(beyond.scalar_subquery())))
        except IntegrityError:
            raise LeaderboardError("this run is already on the leaderboard") from None

    def entries(self, challenge: str | None = None, limit: int | None = 100) -> list[Entry]:
        """Best first; ``challenge=None`` lists all, ``""`` only free runs; ``limit=None``:
        every entry (at most ``max_entries``)."""
        query = select(_COLUMNS.name, _COLUMNS.challenge, _COLUMNS.accuracy, _COLUMNS.settings,
                       _COLUMNS.created, _COLUMNS.room_accuracy, _COLUMNS.room_images)
        if challenge is not None:
            query = query.where(_COLUMNS.challenge == challenge)
        query = query.order_by(*_BEST_FIRST)
        if limit is not None:
            query = query.limit(int(limit))
        with self.database.read() as connection:
            rows = connection.execute(query).all()
        return [Entry(rank, name, ch, acc, json.loads(settings), created, room, room_n)
                for rank, (name, ch, acc, settings, created, room, room_n) in enumerate(rows, start=1)]

    def version(self) -> tuple[int, int]:
        """(entries, highest id): changes whenever an entry is added or removed (ids are
        never reused), so a page can rebuild what it draws from the board only then."""
        with self.database.read() as connection:
            count, top = connection.execute(select(func.count(), func.max(_COLUMNS.id))).one()
        return int(count), int(top or 0)

    def challenges(self) -> list[str]:
        """The challenges that have entries (for a filter)."""
        with self.database.read() as connection:
            return list(connection.scalars(select(_COLUMNS.challenge).distinct().order_by(_COLUMNS.challenge)))

    def count(self) -> int:
        with self.database.read() as connection:
            return connection.scalar(select(func.count()).select_from(leaderboard_entries))

    def clear(self, token: str, expected_token: str | None = None) -> int:
        """Delete every entry, if ``token`` matches the server's; returns how many went."""
        try:
            facilitator.check_token(token, expected_token)
        except facilitator.TokenError as error:
            raise LeaderboardError(str(error)) from None
        with self.database.write(exclusive=True) as connection:
            return connection.execute(delete(leaderboard_entries)).rowcount


def _check_fraction(value, what: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 1):
        raise LeaderboardError(f"{what} must be between 0 and 1, got {value!r}")
