"""Test-suite root and suite-wide fixtures.

Its presence puts ``tests/`` on ``sys.path`` (pytest's default import mode adds each
conftest's folder), so every test folder can import the shared ``instruments`` module:
the events, barriers and gauges tests synchronise on instead of sleeping.

``dot``: the renders are tested with the real Graphviz ``dot``, which ``make test``
installs (or stops, naming the package).  A missing ``dot`` fails those tests with
that one line instead of skipping them, so a green run always means the renders ran.

``quiet_gc``: for tests that send a real SIGINT to the main thread (see its docstring).
"""

from __future__ import annotations

import gc
import shutil

import pytest


@pytest.fixture(scope="session")
def dot() -> str:
    path = shutil.which("dot")
    if path is None:
        pytest.fail("Graphviz's 'dot' is missing: install the 'graphviz' system package (make test does)", pytrace=False)
    return path


@pytest.fixture
def quiet_gc():
    """No cyclic garbage collection on this test's threads while it runs.

    Python runs a SIGINT's handler wherever the main thread next executes bytecode, and
    a ``KeyboardInterrupt`` raised inside a finalizer (``__del__``, a weakref callback)
    is printed as "Exception ignored" and dropped.  In the whole suite the collector
    finalizes earlier tests' garbage (kernels, shells, sockets) on the main thread at
    any allocation, so a test's one Ctrl-C could land there and vanish: the run then
    never stops.  Collect that garbage first, then keep the collector off."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
