"""The step debugger: hold every session of a run before its next task, move them one
at a time, and look at a fan-in before it merges.  Pure Python (no notebook imports);
``graflow_nb.notebook`` puts widgets on top of it.  With threads the run goes on a
thread of its own (``debugger``); without (Pyodide, or ``wf.debug(threads=False)``)
each move steps it on the calling thread (``unwinding``).

>>> from graflow_nb import task, workflow
>>> with workflow("doc_debug") as wf:
...     @task
...     def fetch(): return 1
...     @task
...     def a(fetch): return fetch + 1
...     @task
...     def b(fetch): return fetch + 2
...     _ = fetch >> (a | b)
>>> with wf.debug("fetch", session_id="S") as dbg:
...     print(dbg.step())
...     print(dbg.step())
...     print(dbg.step("S_b"))
...     print(dbg.state())
S: ran fetch; now held before ParallelGroup_1
S: forked S_a, S_b; now waiting for S_a, S_b
S_b: ran b; now finished, not merged yet
S      waiting  in ParallelGroup_1        queue: -
  S_a  held     before a                  queue: -
  S_b  done     finished, not merged yet  queue: -
"""

from .breakpoints import Breakpoints
from .debugger import DEFAULT_TIMEOUT, Debugger, DebuggerFinished
from .gate import DebugGate, DebuggerTimeout
from .merge_preview import BranchDelta, MergePreview, preview_merge
from .views import Halt, SessionStates, Step

__all__ = [
    "Breakpoints", "BranchDelta", "DEFAULT_TIMEOUT", "DebugGate", "Debugger", "DebuggerFinished",
    "DebuggerTimeout", "Halt", "MergePreview", "SessionStates", "Step", "preview_merge",
]
