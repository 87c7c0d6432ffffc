"""Hostile checkpoint files for the trust tests: a pickle that would create a marker
file when loaded (it runs nothing else), laid out as the sets an attacker could hand
over.  Used in this process and from the subprocess tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import pathlib
import pickle
import shutil

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
ATTACKER_SECRET = bytes(range(32))


class MakesMarker:
    """Unpickling this opens ``path`` for writing: the marker a test looks for."""

    def __init__(self, path: pathlib.Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "x"))


def lone_pickle(folder: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """Only x.pkl: what a pickle-only loader would take."""
    folder.mkdir(parents=True, exist_ok=True)
    pkl = folder / "x.pkl"
    pkl.write_bytes(pickle.dumps(MakesMarker(marker)))
    return pkl


def as_format_1(folder: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """The crafted pickle beside the real meta.json and state.json of a checkpoint
    graflow_nb 0.1.0 wrote (the committed fixture)."""
    pkl = lone_pickle(folder, marker)
    for suffix in (".meta.json", ".state.json"):
        shutil.copy(FIXTURES / f"diamond-0.1.0{suffix}", folder / f"x{suffix}")
    return pkl


def forged(folder: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """A format-2 set whose hashes match the crafted pickle, signed with the attacker's
    own secret (the attacker can compute hashes, not this user's HMAC)."""
    pkl = lone_pickle(folder, marker)
    pickled = pkl.read_bytes() + b"\n#graflow_nb checkpoint format 2 id 0123456789ab\n"
    pkl.write_bytes(pickled)
    state = json.dumps({"checkpoint_id": "0123456789ab", "session_id": "F"}).encode()
    (folder / "x.state.json").write_bytes(state)
    meta = json.loads((FIXTURES / "diamond-0.1.0.meta.json").read_text())
    body = {
        "format": 2, **meta, "checkpoint_id": "0123456789ab",
        "files": {"pkl": hashlib.sha256(pickled).hexdigest(), "state.json": hashlib.sha256(state).hexdigest()},
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    body["signature"] = {  # as graflow_nb signs (core/signing.py), with a secret that is not this user's
        "algorithm": "hmac-sha256",
        "key": hmac.new(ATTACKER_SECRET, b"graflow_nb key id", hashlib.sha256).hexdigest()[:16],
        "value": hmac.new(ATTACKER_SECRET, canonical, hashlib.sha256).hexdigest(),
    }
    (folder / "x.meta.json").write_text(json.dumps(body))
    return pkl


def swapped_into(signed_pkl: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """A checkpoint this user signed, its .pkl replaced by the crafted one."""
    signed_pkl.write_bytes(pickle.dumps(MakesMarker(marker)))
    return signed_pkl


SETS = {"lone pickle": lone_pickle, "format 1": as_format_1, "forged signature": forged}
