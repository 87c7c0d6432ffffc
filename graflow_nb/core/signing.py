"""The per-user secret graflow_nb signs its checkpoints with, and the signature.

As Jupyter signs notebooks: a secret of 32 random bytes, made on first use, readable
by this user only (mode 0600), kept in the user's data directory:

    $GRAFLOW_NB_SECRET_FILE                     when set (another machine of yours, tests)
    $XDG_DATA_HOME/graflow_nb/secret            when XDG_DATA_HOME is set
    ~/.local/share/graflow_nb/secret            otherwise

The file holds the secret as 64 hex digits, so it can be copied to your other
machines (then each accepts the checkpoints of the others).  A signature is
HMAC-SHA256 under the secret over a canonical JSON encoding of a value (sorted keys,
no spaces, ASCII); ``key_id`` names a secret without revealing it, so a refusal can
say "signed with another secret" rather than only "does not match".

Two processes making the secret at once agree on one: each writes its own temporary
file and links it into place; the link fails for all but the first, which the others
then read.  Reading never makes a secret: a user without one has signed nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pathlib
import secrets
from typing import Any

ENV_VAR = "GRAFLOW_NB_SECRET_FILE"
SECRET_BYTES = 32
ALGORITHM = "hmac-sha256"


def secret_path() -> pathlib.Path:
    """Where this user's secret is (or will be made)."""
    given = os.environ.get(ENV_VAR)
    if given:
        return pathlib.Path(given).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME")
    base = pathlib.Path(data_home) if data_home and os.path.isabs(data_home) else pathlib.Path.home() / ".local" / "share"
    return base / "graflow_nb" / "secret"


def load_secret(create: bool) -> bytes | None:
    """This user's secret; with ``create``, made first if there is none (else None).
    ``OSError`` if it can't be read or made, ``ValueError`` if the file is not a secret
    (both name the file)."""
    path = secret_path()
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        if not create:
            return None
        _make(path)
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        text = ""
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError:
        secret = b""
    if len(secret) < SECRET_BYTES:
        raise ValueError(
            f"{str(path)!r} is not a graflow_nb secret (it should hold {2 * SECRET_BYTES} or more hex digits); "
            f"remove it to have a new one made, or point {ENV_VAR} at another file"
        )
    return secret


def _make(path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(SECRET_BYTES) + "\n")
            out.flush()
            os.fsync(out.fileno())
        _publish(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _publish(temp: pathlib.Path, path: pathlib.Path) -> None:
    """Give the finished ``temp`` the secret's name, unless a secret is there already.

    A hard link fails if another process made the secret first (that one is kept).
    Pyodide has no hard links (no ``os.link``), and one process alone uses its file
    system: there a rename after a look is enough."""
    link = getattr(os, "link", None)
    if link is None:
        if not path.exists():
            os.replace(temp, path)
        return
    try:
        link(temp, path)
    except FileExistsError:
        pass  # another process made it first: that one is the secret


def key_id(secret: bytes) -> str:
    """A public name of ``secret``: equal for equal secrets, and reveals nothing of it."""
    return hmac.new(secret, b"graflow_nb key id", hashlib.sha256).hexdigest()[:16]


def canonical(value: Any) -> bytes:
    """The one byte string a JSON value signs as."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sign(secret: bytes, value: Any) -> str:
    return hmac.new(secret, canonical(value), hashlib.sha256).hexdigest()


def signed_by(secret: bytes, value: Any, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, value), signature)
