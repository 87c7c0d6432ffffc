"""Call counts the notebook-style tests' tasks bump: a module of its own, so a task
that counts reads a module (keyed by this file's bytes), not a global whose content
changes with every call."""

from collections import Counter

RUNS: Counter[str] = Counter()
