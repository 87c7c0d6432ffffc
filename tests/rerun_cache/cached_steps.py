"""Functions a test pipeline calls as ``python`` steps; they count their calls in
``ran.RUNS`` (a module, so the count is no input of theirs)."""

from __future__ import annotations

from pathlib import Path

import ran


def load(n):
    ran.RUNS["load"] += 1
    return list(range(n))


def total(values):
    ran.RUNS["total"] += 1
    return sum(values)


def checked(values, broken_flag):
    """Fails while the file ``broken_flag`` exists (what a resume test fixes between runs)."""
    ran.RUNS["checked"] += 1
    if Path(broken_flag).exists():
        raise ValueError("not yet")
    return [v * 10 for v in values]
