"""A checkpoint's three files as one signed unit: written together, and read and
checked before anything in them is unpickled (``core.checkpoint`` says what they hold).

    x.pkl         the pickled checkpoint, then one line ``#graflow_nb checkpoint format 2
                  id <checkpoint id>`` (pickle ignores what follows its end, so x.pkl is
                  still a plain pickle; the line names the save without unpickling)
    x.state.json  the frontier, for people, with the checkpoint id
    x.meta.json   the metadata, the set's identity and its signature:
                  {"format": 2, "checkpoint_id": ..., <metadata>,
                   "files": {"pkl": <sha256>, "state.json": <sha256>},
                   "signature": {"algorithm": "hmac-sha256", "key": <key id>, "value": <hmac>}}
                  the HMAC (``core.signing``, this user's secret) covers all of meta.json
                  but "signature"; the two hashes tie the other files to it.

Writing: under an exclusive lock on ``.x.pkl.lock`` beside them (removed after; two
writers take turns), the three are written to temporary files, each fsynced, then
renamed into place.  A failure before the renames (a full disk) removes the temporary
files and leaves the set that was there whole.

Reading: the three files' bytes (read again if a writer replaced one meanwhile), then
the signature, then each file's hash; only then may the caller unpickle the .pkl.
``trust=True`` skips the checks: the .pkl alone is read, as the user asked.  A set
that fails is one ``UntrustedCheckpointError`` (not signed with this user's secret, or
changed, or mixed from two saves) or ``CheckpointFileError`` (missing, unreadable,
damaged, or a format this version doesn't read), naming the file, the part, the
format it has and the one this version reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import signing
from .checks import shown
from .snapshot import SnapshotError

try:
    from fcntl import LOCK_EX, flock
except ImportError:
    # Windows, and JupyterLite's Pyodide kernel, which puts an empty stand-in "fcntl" in
    # sys.modules (one process there, so nothing to serialise): writers are not
    # serialised; a mixed set is still refused on load.
    flock = None  # type: ignore[assignment]

FORMAT = 2  # checkpoint files: 1 = unsigned (graflow_nb 0.1.0); 2 = signed, with the set's hashes
MARK = b"\n#graflow_nb checkpoint format "
TRUST_HINT = (
    "if you wrote it, or trust whoever did, load it with trust=True (--trust for graflow-nb resume and "
    "%graflow resume) or sign it as yours once with `graflow-nb trust PATH`: a checkpoint you trust can run code"
)


class CheckpointFileError(SnapshotError):
    """A checkpoint's files can't be used: missing, unreadable, damaged, or in a format
    this version does not read.  ``path`` is the .pkl, ``part`` the file (and field) at
    fault, ``found_format`` the format the files say they are (None: unknown)."""

    def __init__(self, message: str, path: str = "", part: str = "", found_format: int | None = None):
        super().__init__(message)
        self.path = path
        self.part = part
        self.found_format = found_format


class UntrustedCheckpointError(CheckpointFileError):
    """A checkpoint not signed with this user's secret, or changed since it was signed,
    or whose files come from different saves: refused before anything in it was
    unpickled or looked up.  ``reason``: "unsigned", "other secret", "changed", "mixed"."""

    def __init__(
        self, message: str, path: str = "", part: str = "", found_format: int | None = None, reason: str = ""
    ):
        super().__init__(message, path, part, found_format)
        self.reason = reason


@dataclass
class _Set:
    """The bytes of a checkpoint's three files, as read together (None: missing)."""

    pkl: pathlib.Path
    state_path: pathlib.Path
    meta_path: pathlib.Path
    pickled: bytes
    state: bytes | None
    meta: bytes | None

    def mark(self) -> tuple[int, str] | None:
        """(format, checkpoint id) from the .pkl's last line; None for a format-1 file."""
        at = self.pickled.rfind(MARK, max(0, len(self.pickled) - 200))
        if at < 0:
            return None
        found = re.fullmatch(rb"(\d{1,6}) id ([0-9a-f]{1,64})\n", self.pickled[at + len(MARK):])
        return None if found is None else (int(found[1]), found[2].decode())

    def found_format(self, meta: dict[str, Any] | None = None) -> int | None:
        if meta is not None:
            value = meta.get("format", 1)
            return value if isinstance(value, int) and not isinstance(value, bool) else None
        mark = self.mark()
        return 1 if mark is None else mark[0]


def mark_line(checkpoint_id: str) -> bytes:
    return MARK + f"{FORMAT} id {checkpoint_id}\n".encode("ascii")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- writing ----------------------------------------------------------------------------
def write_set(pkl: pathlib.Path, pickled: bytes, frontier: dict[str, Any], metadata: dict[str, Any]) -> None:
    """The three files of checkpoint ``metadata["checkpoint_id"]``, signed, as one unit."""
    checkpoint_id = metadata["checkpoint_id"]
    state = _json({"checkpoint_id": checkpoint_id, **frontier})
    _sign_and_commit(pkl, pickled + mark_line(checkpoint_id), state, json.loads(_json(metadata)))


def _sign_and_commit(pkl: pathlib.Path, pickled: bytes, state: bytes, metadata: dict[str, Any]) -> None:
    secret = _secret(pkl, create=True)
    assert secret is not None  # made when missing
    body = {
        "format": FORMAT,
        **{k: v for k, v in metadata.items() if k not in ("format", "files", "signature")},
        "files": {"pkl": sha256(pickled), "state.json": sha256(state)},
    }
    body["signature"] = {"algorithm": signing.ALGORITHM, "key": signing.key_id(secret), "value": signing.sign(secret, body)}
    _commit(paths_of(pkl), (pickled, state, _json(body)))


def paths_of(pkl: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    stem = pkl.name[: -len(".pkl")] if pkl.name.endswith(".pkl") else pkl.name
    return pkl, pkl.with_name(stem + ".state.json"), pkl.with_name(stem + ".meta.json")


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=1, default=repr, ensure_ascii=False).encode()


def _secret(pkl: pathlib.Path, create: bool) -> bytes | None:
    try:
        return signing.load_secret(create)
    except (OSError, ValueError) as error:
        what = f"{type(error).__name__}: {error}" if isinstance(error, OSError) else str(error)
        raise SnapshotError(
            f"checkpoint {_path(pkl)}: the signing secret {_path(signing.secret_path())} cannot be used "
            f"({what}); set {signing.ENV_VAR} to a file you can write"
        ) from error


def _commit(paths: tuple[pathlib.Path, ...], blobs: tuple[bytes, ...]) -> None:
    """``blobs`` into ``paths``: all written to temporary files first, then renamed."""
    folder = paths[0].parent
    writing = paths[0].name
    temps: list[pathlib.Path] = []
    renamed = 0
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(paths[0]):
            try:
                for path, blob in zip(paths, blobs, strict=True):
                    writing = path.name
                    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
                    temps.append(temp)
                    _write(temp, blob)
                for temp, path in zip(temps, paths, strict=True):
                    writing = path.name
                    os.replace(temp, path)
                    renamed += 1
            finally:
                for temp in temps:
                    temp.unlink(missing_ok=True)
            _sync(folder)
    except OSError as error:
        left = (
            "nothing was written: a checkpoint already there is as it was" if renamed == 0
            else "the set there is now mixed and will be refused on load; save again"
        )
        raise SnapshotError(
            f"cannot write checkpoint {_path(paths[0])} (writing {writing}): "
            f"{type(error).__name__}: {error.strerror or error}; {left}"
        ) from error


def _write(path: pathlib.Path, data: bytes) -> None:
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # as open() makes files: the umask decides
    with os.fdopen(handle, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _sync(folder: pathlib.Path) -> None:
    """The renames on disk too (a directory can't be opened on every platform)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextlib.contextmanager
def _locked(pkl: pathlib.Path) -> Iterator[None]:
    """Hold the exclusive lock of ``pkl``'s set.  The lock file is removed on the way
    out; a writer that locked a file already removed sees it is not the one at the path
    now and takes the new one (so nobody ever holds a stale lock)."""
    if flock is None:
        yield
        return
    lock = pkl.with_name(f".{pkl.name}.lock")
    while True:
        handle = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            flock(handle, LOCK_EX)
            try:
                current = os.stat(lock)
            except FileNotFoundError:
                current = None
            mine = os.fstat(handle)
        except BaseException:
            os.close(handle)
            raise
        if current is not None and (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev):
            break
        os.close(handle)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(handle)  # releases the lock


# -- reading and checking ---------------------------------------------------------------
def read_set(pkl: pathlib.Path) -> _Set:
    """The three files' bytes, from one save: read again (a few times) while a writer
    replaces them.  A missing .pkl is an error; a missing json file is None."""
    paths = paths_of(pkl)
    blobs: list[bytes | None] = []
    for _attempt in range(5):
        before = [_identity(p) for p in paths]
        blobs = [_read(p, required=(p == pkl)) for p in paths]
        if before == [_identity(p) for p in paths]:
            break
        time.sleep(0.02)
    pickled, state, meta = blobs
    assert pickled is not None  # required
    return _Set(pkl, paths[1], paths[2], pickled, state, meta)


def _identity(path: pathlib.Path) -> tuple[int, int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def _read(path: pathlib.Path, required: bool) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError as error:
        if required:
            raise CheckpointFileError(f"cannot read checkpoint {_path(path)}: {error.strerror}", str(path), path.name) from None
        return None
    except OSError as error:
        raise CheckpointFileError(
            f"cannot read checkpoint {_path(path)}: {type(error).__name__}: {error.strerror or error}", str(path), path.name
        ) from None


def checked(pkl: pathlib.Path) -> tuple[_Set, dict[str, Any]]:
    """The set at ``pkl`` and its meta.json, if it was signed with this user's secret
    and no byte of its three files changed since; else the one error saying why."""
    files = read_set(pkl)
    meta = _meta(files)
    found = files.found_format(meta)
    if found is None:
        raise _damaged(files, f"its {files.meta_path.name} has a 'format' that is not a number", f"{files.meta_path.name}: format", None)
    if found > FORMAT:
        raise _damaged(
            files, "a newer graflow_nb wrote it",
            f"{files.meta_path.name}: format", found, hint=False,
        )
    if found < FORMAT:
        raise _untrusted(
            files, "it is not signed (graflow_nb 0.1.0 wrote checkpoints unsigned)", files.meta_path.name, found, "unsigned",
        )
    signature = meta.get("signature")
    if signature is None:
        raise _untrusted(files, f"its {files.meta_path.name} has no signature", f"{files.meta_path.name}: signature", found, "unsigned")
    if not (isinstance(signature, dict) and isinstance(signature.get("value"), str) and isinstance(signature.get("key"), str)):
        raise _damaged(files, f"its {files.meta_path.name} has a damaged 'signature' field", f"{files.meta_path.name}: signature", found)
    secret = _secret(pkl, create=False)
    mine = None if secret is None else signing.key_id(secret)
    if mine != signature["key"]:
        yours = (
            f"this user has no secret yet ({signing.secret_path()})" if secret is None
            else f"this user's is {mine} ({signing.secret_path()})"
        )
        raise _untrusted(
            files, f"it was signed with another secret (key {shown(signature['key'], 40)}; {yours}): another user "
            f"or machine wrote it (to share checkpoints between your own machines, copy the secret file)",
            f"{files.meta_path.name}: signature", found, "other secret",
        )
    assert secret is not None
    body = {k: v for k, v in meta.items() if k != "signature"}
    if not signing.signed_by(secret, body, signature["value"]):
        raise _untrusted(files, f"its {files.meta_path.name} changed since it was signed", files.meta_path.name, found, "changed")
    hashes = meta.get("files")
    checkpoint_id = meta.get("checkpoint_id")
    if not (isinstance(hashes, dict) and isinstance(checkpoint_id, str)):
        raise _damaged(files, f"its {files.meta_path.name} lacks 'files' or 'checkpoint_id'", f"{files.meta_path.name}: files", found)
    if sha256(files.pickled) != hashes.get("pkl"):
        mark = files.mark()
        _changed(files, files.pkl.name, None if mark is None else mark[1], checkpoint_id, found)
    if files.state is None:
        raise _untrusted(files, f"its {files.state_path.name} is missing", files.state_path.name, found, "mixed")
    if sha256(files.state) != hashes.get("state.json"):
        _changed(files, files.state_path.name, _json_id(files.state), checkpoint_id, found)
    return files, meta


def _changed(files: _Set, name: str, saved_as: str | None, checkpoint_id: str, found: int) -> None:
    if saved_as is not None and saved_as != checkpoint_id:
        raise _untrusted(
            files, f"its files come from different saves ({name} is checkpoint {shown(saved_as, 80)}, "
            f"{files.meta_path.name} checkpoint {shown(checkpoint_id, 80)})",
            name, found, "mixed",
        )
    raise _untrusted(files, f"the bytes of its {name} changed since it was signed", name, found, "changed")


def _json_id(data: bytes) -> str | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    found = value.get("checkpoint_id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


def _meta(files: _Set) -> dict[str, Any]:
    if files.meta is None:
        mark = files.mark()
        if mark is None:
            raise _untrusted(
                files, f"it is not signed (graflow_nb 0.1.0 wrote checkpoints unsigned) and has no {files.meta_path.name}",
                files.meta_path.name, 1, "unsigned",
            )
        raise _untrusted(
            files, f"its {files.meta_path.name}, which holds its signature, is missing", files.meta_path.name, mark[0], "unsigned"
        )
    try:
        meta = json.loads(files.meta)
    except ValueError as error:
        raise _damaged(files, f"its {files.meta_path.name} is not JSON ({_short(error)})", files.meta_path.name, files.found_format())
    if not isinstance(meta, dict):
        raise _damaged(files, f"its {files.meta_path.name} holds a {type(meta).__name__}, not an object", files.meta_path.name, files.found_format())
    return meta


def metadata_fields(pkl: pathlib.Path, trust: bool) -> tuple[dict[str, Any], int | None]:
    """meta.json's content (checked unless ``trust``) and its format; nothing unpickled."""
    if not trust:
        files, meta = checked(pkl)
        return meta, FORMAT
    files = read_set(pkl)
    meta = _meta(files)
    return meta, files.found_format(meta)


def _short(error: BaseException) -> str:
    return shown(str(error), 160).strip("'\"")


def _place(files: _Set, what: str, found: int | None, hint: bool, doing: str = "loaded") -> str:
    has = "an unknown format" if found is None else f"format {found}"
    tail = f"; {TRUST_HINT}" if hint else ""
    return f"checkpoint {_path(files.pkl)} cannot be {doing}: {what} (the files are {has}; this graflow_nb reads format {FORMAT}){tail}"


def _path(path: pathlib.Path) -> str:
    return shown(str(path), 1000)


def _damaged(
    files: _Set, what: str, part: str, found: int | None, hint: bool = True, doing: str = "loaded"
) -> CheckpointFileError:
    hint_text = hint and part.startswith(files.meta_path.name)  # trust=True loads the .pkl without it
    return CheckpointFileError(_place(files, what, found, hint_text, doing), str(files.pkl), part, found)


def _untrusted(files: _Set, what: str, part: str, found: int | None, reason: str) -> UntrustedCheckpointError:
    message = _place(files, what + ", and nothing in it was unpickled", found, True)
    return UntrustedCheckpointError(message, str(files.pkl), part, found, reason)


def pickle_error(pkl: pathlib.Path, pickled: bytes, what: str, part: str = "pkl") -> CheckpointFileError:
    """The error for a .pkl that can't be unpickled or holds the wrong thing."""
    files = _Set(pkl, pkl, pkl, pickled, None, None)
    return CheckpointFileError(_place(files, what, files.found_format(), False), str(pkl), part, files.found_format())


# -- trusting a set deliberately ------------------------------------------------------
def trust_set(pkl: pathlib.Path) -> str:
    """Sign the set at ``pkl`` with this user's secret, as it is (nothing unpickled):
    what ``graflow-nb trust`` does once the user decided to trust it.  A format-1 set
    gets format 2's .pkl line.  Its checkpoint id."""
    files = read_set(pkl)
    if files.meta is None:
        raise _damaged(
            files, f"it has no {files.meta_path.name} to sign: resume it with trust=True and save it again",
            files.meta_path.name, files.found_format(), hint=False, doing="signed",
        )
    meta = _meta(files)
    found = files.found_format(meta)
    checkpoint_id = meta.get("checkpoint_id")
    if not isinstance(checkpoint_id, str) or not re.fullmatch(r"[0-9a-f]{1,64}", checkpoint_id):
        raise _damaged(
            files, f"its {files.meta_path.name} has no valid 'checkpoint_id'", f"{files.meta_path.name}: checkpoint_id",
            found, hint=False, doing="signed",
        )
    if found is None or found > FORMAT:
        raise _damaged(
            files, "this graflow_nb cannot sign a format it does not read", f"{files.meta_path.name}: format", found,
            hint=False, doing="signed",
        )
    if files.state is None:
        raise _damaged(files, f"its {files.state_path.name} is missing", files.state_path.name, found, doing="signed")
    mark = files.mark()
    for name, saved_as in ((files.pkl.name, None if mark is None else mark[1]), (files.state_path.name, _json_id(files.state))):
        if saved_as is not None and saved_as != checkpoint_id:
            raise _damaged(
                files, f"its files come from different saves ({name} is checkpoint {shown(saved_as, 80)}, "
                f"{files.meta_path.name} checkpoint {shown(checkpoint_id, 80)}): resume it with trust=True and save it again",
                name, found, hint=False, doing="signed",
            )
    pickled = files.pickled if mark is not None else files.pickled + mark_line(checkpoint_id)
    _sign_and_commit(pkl, pickled, files.state, meta)
    return checkpoint_id
