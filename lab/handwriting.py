"""The room's handwriting: digits the participants drew, with their true labels, kept as a
shared test set (no Streamlit).

A participant adds a drawing on the Draw page, already shrunk to the 28 x 28 pixels the
network reads (:func:`lab.canvas.read_canvas`). The drawings are stored in the app's
database (:mod:`lab.storage`, table ``room_drawings``), so every process of the server
and every session sees the same set, and it survives a restart. Evaluate scores a model
on it beside the MNIST test set; the facilitator downloads it as a Kaggle ``train.csv``
(``label,pixel0,...,pixel783``, which the Data page and :func:`datasets.load_kaggle_csv`
load back) and clears it, both with the facilitator's token.

Bounded and safe with many writers: each add is one exclusive write transaction that
checks the participant's bound (``$DIGIT_LAB_ROOM_DRAWINGS_PER_PERSON``) and the room's
(``$DIGIT_LAB_ROOM_DRAWINGS_MAX``) and inserts, so no bound is overshot when sessions
add at once. A drawing carries an id chosen by the page (one per drawn canvas): adding it
again, a double click or a retry, finds it there and adds nothing.

Only pixels, the label, a hash of the participant's lab id and the time are stored.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from datasets import DIGIT_CLASS_NAMES

from . import config, facilitator, storage
from .schema import room_drawings

N_PIXELS = 784
N_LABELS = len(DIGIT_CLASS_NAMES)  # digits only: the set is a Kaggle digit file
CSV_HEADER = "label," + ",".join(f"pixel{i}" for i in range(N_PIXELS))
_COLUMNS = room_drawings.c


class HandwritingError(ValueError):
    """An add or a facilitator action refused, with a message for the participant."""


@dataclass(frozen=True)
class Added:
    """What :meth:`RoomHandwriting.add` did: ``added`` False when the drawing was already there."""

    added: bool
    yours: int  # the participant's drawings in the set, after the add
    total: int  # the room's


def participant_key(lab_id: str) -> str:
    """How the set names a participant: a hash of the lab id (the id itself is a secret)."""
    return hashlib.sha256(f"room-handwriting:{lab_id}".encode()).hexdigest()[:24]


def drawing_key(lab_id: str, canvas: int) -> str:
    """The id of canvas number ``canvas`` of lab ``lab_id``: the same drawing, the same id."""
    return hashlib.sha256(f"room-drawing:{lab_id}:{canvas}".encode()).hexdigest()[:32]


def check_drawing(label, pixels) -> tuple[int, bytes]:
    """(label, 784 bytes) of a drawing; HandwritingError when either is not one."""
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= int(label) < N_LABELS:
        raise HandwritingError(f"the label must be a digit 0-9, got {label!r}")
    array = np.asarray(pixels)
    if array.shape not in ((N_PIXELS,), (28, 28)):
        raise HandwritingError(f"a drawing is 28 x 28 = 784 pixels, got shape {array.shape}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all() or \
                array.min() < 0 or array.max() > 255:
            raise HandwritingError("a drawing's pixels must be numbers from 0 to 255")
        array = np.rint(array).astype(np.uint8)
    if not array.any():
        raise HandwritingError("the drawing is empty")
    return int(label), array.reshape(N_PIXELS).tobytes()


class RoomHandwriting:
    """The room's handwriting in one database (default: the configured one, as the
    leaderboard's). Handles are cheap: they share the process's connection pool."""

    def __init__(self, url: str | None = None, per_person: int | None = None, max_total: int | None = None):
        try:
            self.database = storage.database(url)
        except storage.StorageError as error:
            raise HandwritingError(str(error)) from None
        self.per_person = config.get(config.ROOM_DRAWINGS_PER_PERSON) if per_person is None else int(per_person)
        self.max_total = config.get(config.ROOM_DRAWINGS_MAX) if max_total is None else int(max_total)

    def __repr__(self) -> str:
        return f"RoomHandwriting({storage.describe(self.database.url)})"

    def add(self, drawing_id: str, participant: str, label, pixels) -> Added:
        """Add one drawing (see :func:`check_drawing`); once per ``drawing_id``.

        HandwritingError when the participant or the room has reached its bound."""
        label, raw = check_drawing(label, pixels)
        drawing_id, participant = str(drawing_id), str(participant)
        if not drawing_id or not participant:
            raise HandwritingError("a drawing needs an id and a participant")
        try:
            with self.database.write(exclusive=True) as connection:
                yours = self._count(connection, participant)
                total = self._count(connection)
                if connection.scalar(select(func.count()).where(_COLUMNS.drawing_id == drawing_id)):
                    return Added(False, yours, total)
                if yours >= self.per_person:
                    raise HandwritingError(f"you have added {yours} drawings, the most one participant may "
                                           "add: thank you!")
                if total >= self.max_total:
                    raise HandwritingError(f"the room's handwriting is full ({total:,} drawings); the "
                                           "facilitator can download and clear it")
                connection.execute(insert(room_drawings).values(
                    drawing_id=drawing_id, participant=participant, label=label, pixels=raw,
                    created=time.time()))
                return Added(True, yours + 1, total + 1)
        except IntegrityError:  # only without the exclusive lock's guarantee; kept as a backstop
            return Added(False, self.count(participant), self.count())

    @staticmethod
    def _count(connection, participant: str | None = None) -> int:
        query = select(func.count()).select_from(room_drawings)
        if participant is not None:
            query = query.where(_COLUMNS.participant == participant)
        return int(connection.scalar(query))

    def count(self, participant: str | None = None) -> int:
        """Drawings in the set (``participant``'s only, when given)."""
        with self.database.read() as connection:
            return self._count(connection, participant)

    def version(self) -> tuple[int, int]:
        """(drawings, highest id): changes whenever one is added or the set is cleared."""
        with self.database.read() as connection:
            count, top = connection.execute(select(func.count(), func.max(_COLUMNS.id))).one()
        return int(count), int(top or 0)

    def images(self) -> tuple[np.ndarray, np.ndarray]:
        """(images ``(n, 784)`` uint8, labels ``(n,)`` int64), oldest first."""
        with self.database.read() as connection:
            rows = connection.execute(select(_COLUMNS.label, _COLUMNS.pixels).order_by(_COLUMNS.id)).all()
        labels = np.fromiter((label for label, _ in rows), dtype=np.int64, count=len(rows))
        images = np.frombuffer(b"".join(bytes(pixels) for _, pixels in rows), dtype=np.uint8)
        return images.reshape(len(rows), N_PIXELS).copy(), labels

    def label_counts(self) -> np.ndarray:
        """``(10,)`` drawings per digit."""
        with self.database.read() as connection:
            rows = connection.execute(select(_COLUMNS.label, func.count()).group_by(_COLUMNS.label)).all()
        counts = np.zeros(N_LABELS, dtype=np.int64)
        for label, count in rows:
            counts[int(label)] = int(count)
        return counts

    def export_csv(self, token: str, expected_token: str | None = None) -> bytes:
        """The set as a Kaggle ``train.csv`` (``label,pixel0,...,pixel783``), for the
        facilitator (``token``)."""
        _check(token, expected_token)
        return to_kaggle_csv(*self.images())

    def clear(self, token: str, expected_token: str | None = None) -> int:
        """Delete every drawing, for the facilitator (``token``); returns how many went."""
        _check(token, expected_token)
        with self.database.write(exclusive=True) as connection:
            return connection.execute(delete(room_drawings)).rowcount


def _check(token, expected_token) -> None:
    try:
        facilitator.check_token(token, expected_token)
    except facilitator.TokenError as error:
        raise HandwritingError(str(error)) from None


def to_kaggle_csv(images: np.ndarray, labels: np.ndarray) -> bytes:
    """``images`` (n, 784) uint8 and ``labels`` (n,) as the bytes of a Kaggle ``train.csv``."""
    images = np.asarray(images, dtype=np.uint8).reshape(-1, N_PIXELS)
    table = np.column_stack([np.asarray(labels, dtype=np.int64), images.astype(np.int64)])
    out = io.StringIO()
    out.write(CSV_HEADER + "\n")
    np.savetxt(out, table, fmt="%d", delimiter=",")
    return out.getvalue().encode("ascii")
