"""Calls counted across processes: a task body on a Dask worker can't append to a list
in the test's process, so each call writes a file into a folder the test reads."""

from __future__ import annotations

import os
import uuid


def called(folder, name):
    (folder / f"{name}-{uuid.uuid4().hex}").write_text(str(os.getpid()))


def calls(folder):
    """{task: [process ids]} of the calls so far; the folder is emptied."""
    seen: dict[str, list[int]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and "-" in path.name:
            seen.setdefault(path.name.rsplit("-", 1)[0], []).append(int(path.read_text()))
            path.unlink()
    return seen
