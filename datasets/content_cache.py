"""Uploaded files recognised by their content, so identical datasets are parsed once and shared.

Ten people in a class uploading the same ``train.csv`` should cost one parse and one copy of
its 33 MB of pixels, not ten.  :func:`content_digest` names bytes by their SHA-256, whatever
the file is called; :class:`SharedDatasets` keeps the parsed :class:`Dataset` of recent
digests, bounded in count and bytes, with read-only arrays (every session sees the same
memory, so nobody may write to it).  Nothing here knows Streamlit: the app keeps one
``SharedDatasets`` for the server (e.g. in ``st.cache_resource``) and calls
:meth:`SharedDatasets.get_or_load` with the digest of an upload and a function that parses it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

from .dataset import Dataset

DEFAULT_MAX_ENTRIES = 8
DEFAULT_MAX_BYTES = 400_000_000  # e.g. five Kaggle train.csv (33 MB each) and two EMNIST letters (98 MB)


def content_digest(*parts: bytes, kind: str = "") -> str:
    """The SHA-256 (64 hex digits) of ``parts``: the same bytes give the same digest, whatever
    the files are called.

    Each part's length goes in before it, so ``(b"ab", b"c")`` and ``(b"a", b"bc")`` differ;
    ``kind`` (e.g. ``"kaggle-csv"`` or ``"emnist-letters"``) keeps the same bytes read two ways
    apart.  ``hashlib`` releases the GIL while it hashes.
    """
    hasher = hashlib.sha256()
    for part in (kind.encode("utf-8"), *parts):
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.hexdigest()


def _read_only(array: np.ndarray | None) -> np.ndarray | None:
    """``array`` made read-only, together with every array it is a view of (so nobody can
    write to the shared memory through ``.base`` either)."""
    if array is None:
        return None
    view = array
    while isinstance(view, np.ndarray):
        view.flags.writeable = False
        view = view.base
    return array


def _size(dataset: Dataset) -> int:
    return dataset.images.nbytes + (dataset.labels.nbytes if dataset.labels is not None else 0)


class SharedDatasets:
    """A thread-safe, bounded, least-recently-used store of parsed Datasets, keyed by content.

    ``get_or_load(key, load)`` returns the Dataset stored under ``key`` or stores what
    ``load()`` returns (its arrays made read-only).  Two threads asking for the same key at
    once parse it once: the second waits for the first.  A failed load (an exception, e.g.
    DataError) stores nothing, so a fixed file can be tried again.  The store holds at most
    ``max_entries`` datasets and ``max_bytes`` of arrays, dropping the least recently used;
    a dataset larger than ``max_bytes`` on its own is returned but not kept.  A dropped
    dataset stays valid for whoever still holds it.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Dataset] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}  # one lock per key being parsed

    def get(self, key: Hashable) -> Dataset | None:
        """The stored Dataset for ``key`` (now the most recently used), or None."""
        with self._lock:
            dataset = self._entries.get(key)
            if dataset is not None:
                self._entries.move_to_end(key)
            return dataset

    def get_or_load(self, key: Hashable, load: Callable[[], Dataset]) -> Dataset:
        """The Dataset for ``key``, from the store or from ``load()`` (then stored, read-only)."""
        dataset = self.get(key)
        if dataset is not None:
            return dataset
        with self._lock:
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            try:
                dataset = self.get(key)  # another thread may have loaded it meanwhile
                if dataset is None:
                    dataset = self._put(key, load())
            finally:
                with self._lock:
                    self._loading.pop(key, None)
        return dataset

    def size_of(self, dataset: Dataset) -> int:
        """Bytes a stored value counts for (a subclass storing other values says its own)."""
        return _size(dataset)

    def freeze(self, dataset: Dataset) -> None:
        """Make a value read-only before it is shared (a subclass says how for its values)."""
        _read_only(dataset.images)
        _read_only(dataset.labels)

    def _put(self, key: Hashable, dataset: Dataset) -> Dataset:
        self.freeze(dataset)
        if self.size_of(dataset) > self.max_bytes:
            return dataset
        with self._lock:
            self._entries[key] = dataset
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries or self.n_bytes > self.max_bytes:
                self._entries.popitem(last=False)
        return dataset

    @property
    def n_bytes(self) -> int:
        """Bytes of images and labels stored."""
        return sum(self.size_of(dataset) for dataset in self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
