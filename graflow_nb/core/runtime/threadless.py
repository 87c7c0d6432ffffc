"""Whether this Python may start threads, and the one error for what needs them.

Pyodide (JupyterLite, Python compiled to WebAssembly) has no threads: every
``Thread.start()`` raises "can't start new thread".  There a run starts none: groups
run on the sequential executor (``executors/sequential.py``), no worker pool is made,
the live view draws at task boundaries on the run's own thread, and what cannot work
without a thread of its own (a task's or group's ``timeout``, a cell run in the
background) says so in one ``ConfigError`` naming what asked for it.  The step
debugger holds sessions by unwinding them instead (``core.runtime.gate``); a run under
it starts no thread on any machine (``Run.threads``: ``wf.debug(threads=False)``).

``threads_available`` is read when a run starts (and by the notebook layer when it
would start a thread), not at import: a test sets ``sys.platform`` to "emscripten" to
run the whole thread-free path on any machine.
"""

from __future__ import annotations

import sys

from ..errors import ConfigError

# The ``sys.platform`` of Pyodide (and of any Emscripten-built CPython).
THREADLESS_PLATFORM = "emscripten"


def threads_available(platform: str | None = None) -> bool:
    """False where threads can't be started (``sys.platform == "emscripten"``)."""
    return (sys.platform if platform is None else platform) != THREADLESS_PLATFORM


def needs_threads(what: str, instead: str) -> ConfigError:
    """The error for ``what`` (naming its task or group), which needs a thread this
    Python can't start, or this run may not (``Run.threads``); ``instead`` says what to do."""
    if threads_available():
        return ConfigError(f"{what} needs a thread of its own, and this run starts none (threads=False): {instead}")
    return ConfigError(f"{what} needs a thread of its own, and this Python ({sys.platform}) can't start threads: {instead}")
