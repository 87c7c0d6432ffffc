"""A pipeline step for the command-line checkpoint tests."""

from __future__ import annotations

import os


def step(flag: str, name: str) -> str:
    """Fails while the file ``flag`` exists (the bug a person fixes before resuming)."""
    if os.path.exists(flag):
        raise RuntimeError(f"{name}: {flag} is up")
    return name
