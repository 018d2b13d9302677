"""Uploaded files on the server: read once, then let go.

Streamlit keeps every uploaded file's bytes in the server's memory, per session, until the
file is removed from its upload store or the session ends (an uploader whose key changes
does not remove it; a closed tab keeps it for the session's last minutes). A page that reads
an upload therefore takes its bytes with :func:`take` and lets the file go at once (and
draws a new, empty uploader); after every full run :func:`release_unheld` drops what no
uploader on the page holds any more (a file left on another page, an upload that never
reached a widget) once it has been unheld for :data:`UNHELD_GRACE_SECONDS`: so no session
keeps uploaded bytes it does not show.

(Streamlit's upload store is reached through the script's run context:
``uploaded_file_mgr.remove_file`` is its own API; the list of a session's files is its
in-memory store's ``file_storage``, read only when it has one.)
"""

from __future__ import annotations

import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFile

UNHELD = "uploads_unheld"  # {file id: when it was first seen held by no uploader}
UNHELD_GRACE_SECONDS = 30.0  # an upload reaches its widget in the rerun right after it


def _store():
    """(Streamlit's upload store, this session's id), or (None, None) outside a script run."""
    ctx = get_script_run_ctx()
    if ctx is None or getattr(ctx, "uploaded_file_mgr", None) is None:
        return None, None
    return ctx.uploaded_file_mgr, ctx.session_id


def release(*uploads) -> None:
    """Remove these uploaded files' bytes from the server (None and deleted files are skipped)."""
    manager, session = _store()
    if manager is None:
        return
    for upload in uploads:
        if isinstance(upload, UploadedFile):
            manager.remove_file(session_id=session, file_id=upload.file_id)


def take(upload: UploadedFile) -> tuple[bytes, str]:
    """(the file's bytes, its name), the file itself let go: the returned bytes are the last
    copy, freed when the caller drops them."""
    raw, name = upload.getvalue(), upload.name
    release(upload)
    return raw, name


def held_file_ids() -> set[str]:
    """The files an uploader of this run shows (every uploader of the app has a key)."""
    held = set()
    for key in list(st.session_state.keys()):
        try:
            value = st.session_state[key]
        except (KeyError, AttributeError):
            continue
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, UploadedFile):
                held.add(item.file_id)
    return held


def expired(stored: set[str], held: set[str], seen: dict[str, float], now: float,
            grace_seconds: float) -> tuple[set[str], dict[str, float]]:
    """(files to remove, when each file still kept was first seen unheld): of the ``stored``
    files, those no uploader ``held`` since ``seen`` (first seen unheld) ``grace_seconds`` ago."""
    unheld = stored - held
    since = {file_id: seen.get(file_id, now) for file_id in unheld}
    gone = {file_id for file_id, first in since.items() if now - first >= grace_seconds}
    return gone, {file_id: first for file_id, first in since.items() if file_id not in gone}


def release_unheld(grace_seconds: float = UNHELD_GRACE_SECONDS) -> int:
    """Remove this session's uploaded files that no uploader has held for ``grace_seconds``
    (app.py calls it after every full run); returns how many went."""
    manager, session = _store()
    storage = getattr(manager, "file_storage", None)
    if storage is None:
        return 0
    stored = set(storage.get(session, {}))  # a copy (str keys: made without letting go of the GIL)
    gone, st.session_state[UNHELD] = expired(stored, held_file_ids(), st.session_state.get(UNHELD, {}),
                                             time.monotonic(), grace_seconds)
    for file_id in gone:
        manager.remove_file(session_id=session, file_id=file_id)
    return len(gone)
