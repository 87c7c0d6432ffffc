"""Test-suite root and suite-wide fixtures.

Its presence puts ``tests/`` on ``sys.path`` (pytest's default import mode adds each
conftest's folder), so every test folder can import the shared ``instruments`` module:
the events, barriers and gauges tests synchronise on instead of sleeping.

``dot``: the renders are tested with the real Graphviz ``dot``, which ``make test``
installs (or stops, naming the package).  A missing ``dot`` fails those tests with
that one line instead of skipping them, so a green run always means the renders ran.
"""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def dot() -> str:
    path = shutil.which("dot")
    if path is None:
        pytest.fail("Graphviz's 'dot' is missing: install the 'graphviz' system package (make test does)", pytrace=False)
    return path
