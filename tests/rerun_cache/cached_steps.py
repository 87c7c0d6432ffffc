"""Functions a test pipeline calls as ``python`` steps; they count their calls in
``ran.RUNS`` (a module, so the count is no input of theirs)."""

from __future__ import annotations

import ran


def load(n):
    ran.RUNS["load"] += 1
    return list(range(n))


def total(values):
    ran.RUNS["total"] += 1
    return sum(values)
