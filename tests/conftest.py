"""Test-suite root and suite-wide fixtures.

Its presence puts ``tests/`` on ``sys.path`` (pytest's default import mode adds each
conftest's folder), so every test folder can import the shared ``instruments`` module:
the events, barriers and gauges tests synchronise on instead of sleeping.

``dot``: the renders are tested with the real Graphviz ``dot``, which ``make test``
installs (or stops, naming the package).  A missing ``dot`` fails those tests with
that one line instead of skipping them, so a green run always means the renders ran.

``pytest_collection_finish``: the heap that exists once collection is done is frozen
out of the garbage collector's sight (see its docstring).

``real_ctrl_c``: for tests that send a real SIGINT to the main thread (see its docstring).
Their timeout is enforced from a thread of pytest-timeout's own: its default, a SIGALRM
handled on the main thread, would raise inside the very task the test stops, where the
engine takes it as that task's failure, so a Ctrl-C that never arrives would hang the
suite instead of failing this test with every thread's stack.
"""

from __future__ import annotations

import gc
import shutil
import signal

import pytest


@pytest.fixture(scope="session")
def dot() -> str:
    path = shutil.which("dot")
    if path is None:
        pytest.fail("Graphviz's 'dot' is missing: install the 'graphviz' system package (make test does)", pytrace=False)
    return path


@pytest.fixture
def real_ctrl_c():
    """A real Ctrl-C for this test: Python's own SIGINT handler in place, and no cyclic
    garbage collection on this test's threads while it runs.

    Python runs a SIGINT's handler wherever the main thread next executes bytecode, and
    a ``KeyboardInterrupt`` raised inside a finalizer (``__del__``, a weakref callback)
    is printed as "Exception ignored" and dropped.  In the whole suite the collector
    finalizes earlier tests' garbage (kernels, shells, sockets) on the main thread at
    any allocation, so a test's one Ctrl-C could land there and vanish: the run then
    never stops.  Collect that garbage first, then keep the collector off."""
    gc.collect()
    gc.disable()
    # Python installs its KeyboardInterrupt handler only when SIGINT was not ignored at
    # start, and a shell without job control starts background commands (`make test &`)
    # with SIGINT ignored: there a real Ctrl-C would do nothing at all.  A terminal or a
    # kernel has the handler; so does this test.
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        gc.enable()


def pytest_collection_modifyitems(items):
    for item in items:
        if "real_ctrl_c" in getattr(item, "fixturenames", ()):
            limit = item.get_closest_marker("timeout")
            seconds = limit.args[0] if limit is not None and limit.args else item.config.getini("timeout")
            item.add_marker(pytest.mark.timeout(seconds, method="thread"), append=False)


def pytest_collection_finish(session):
    """Once every test is collected, move what exists now (the imported libraries, the
    collected items) out of the collector's sight with ``gc.freeze()``.

    Every full collection otherwise walks that whole heap, and the suite runs many:
    IPython's ``%reset`` runs two (the notebook fixtures' shell resets before and after
    each test), pytest runs some, ``real_ctrl_c`` and the tests that check a run is freed
    run their own; in the whole suite each took up to half a second.  Nothing a test makes
    is frozen, so what it leaves unreachable is still collected, finalized and checked;
    the frozen objects are modules and collected items, which live until the end anyway."""
    gc.collect()
    gc.freeze()
