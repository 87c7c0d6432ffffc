"""The re-run cache on disk (``execute(cache="folder")``): one signed file per entry.

    <folder>/<task hash>-<entry hash>.entry
        line 1:  {"format": 1, "task_id": ..., "sha256": <of the rest>, "signature":
                  {"algorithm": "hmac-sha256", "key": <key id>, "value": <hmac>}}
        rest:    the pickled ``core.cache.store.Entry``

signed as checkpoints are (``core.signing``: this user's secret; the HMAC covers the
header but its signature, and the hash ties the pickle to it).  A file is unpickled
only after both check out, so a cache file you didn't write (another user's, one
edited since, a stray file) is never loaded and replays nothing: it is listed in
``DiskStore.refused`` with the reason.  An entry that holds a task object by
reference (a task made at run time and queued with ``next_task``) stays in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import pickle
import secrets
import threading

from . import signing
from .cache.store import Entry, MemoryStore

FORMAT = 1
SUFFIX = ".entry"


class DiskStore(MemoryStore):
    """A ``MemoryStore`` loaded from ``folder`` and written through to it."""

    def __init__(self, folder: pathlib.Path) -> None:
        super().__init__(str(folder))
        self.folder = folder
        self.refused: list[tuple[pathlib.Path, str]] = []
        self._load()

    def _load(self) -> None:
        if not self.folder.is_dir():
            return
        secret = signing.load_secret(create=False)
        loaded: list[tuple[float, Entry]] = []
        for path in sorted(self.folder.glob("*" + SUFFIX)):
            if secret is None:
                self.refused.append((path, "this user has no signing secret, so signed nothing"))
                continue
            entry, reason = _read(path, secret)
            if entry is None:
                self.refused.append((path, reason))
            else:
                loaded.append((path.stat().st_mtime, entry))
        for _, entry in sorted(loaded, key=lambda pair: pair[0]):
            super().add(entry)

    def add(self, entry: Entry) -> None:
        super().add(entry)
        if entry.portable:
            _write(self.folder, entry)


def _read(path: pathlib.Path, secret: bytes) -> tuple[Entry | None, str]:
    """The entry in ``path`` if it is signed with ``secret`` and unchanged, else the reason."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, f"unreadable: {error}"
    head, newline, body = data.partition(b"\n")
    try:
        header = json.loads(head)
        signature = header.pop("signature")
    except (ValueError, KeyError, AttributeError, TypeError):
        return None, "no signed header: not a cache file graflow_nb wrote"
    if not newline or not isinstance(signature, dict) or header.get("format") != FORMAT:
        return None, f"format {header.get('format')!r}, this version reads {FORMAT}"
    if signature.get("key") != signing.key_id(secret):
        return None, "signed with another secret (another user's or another machine's)"
    if not signing.signed_by(secret, header, str(signature.get("value"))):
        return None, "its header was changed since it was signed"
    if hashlib.sha256(body).hexdigest() != header.get("sha256"):
        return None, "its entry was changed since it was signed"
    try:
        entry = pickle.loads(body)
    except Exception as error:
        return None, f"signed, but can't be loaded here ({type(error).__name__}: {error})"
    if not isinstance(entry, Entry):
        return None, "signed, but holds no cache entry"
    return entry, ""


def _write(folder: pathlib.Path, entry: Entry) -> None:
    body = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
    secret = signing.load_secret(create=True)
    assert secret is not None
    header = {"format": FORMAT, "task_id": entry.task_id, "sha256": hashlib.sha256(body).hexdigest()}
    signed = {**header, "signature": {"algorithm": signing.ALGORITHM, "key": signing.key_id(secret),
                                      "value": signing.sign(secret, header)}}
    folder.mkdir(parents=True, exist_ok=True)
    task_part = hashlib.sha256(entry.task_id.encode()).hexdigest()[:16]
    path = folder / f"{task_part}-{hashlib.sha256(body).hexdigest()[:24]}{SUFFIX}"
    temp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    temp.write_bytes(json.dumps(signed, sort_keys=True).encode("ascii") + b"\n" + body)
    os.replace(temp, path)


_STORES: dict[pathlib.Path, DiskStore] = {}
# Guards _STORES.
_STORES_LOCK = threading.Lock()


def disk_store(folder: pathlib.Path) -> DiskStore:
    """The store kept in ``folder``, loaded once per process."""
    key = folder.expanduser().resolve()
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = DiskStore(key)
        return store
