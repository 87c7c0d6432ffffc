"""Run one workflow many times in this (fresh) process, the way a long-lived kernel
would, and print what stayed alive after run ``FIRST`` and after the last run.

    python growth_probe.py SCENARIO [RUNS]      (test_kernel_growth.py runs it)

Each run returns a 100 KB result and makes another 100 KB value, so a run that stays
alive shows in memory as well as in the object counts.  Printed as one JSON line:
``{"at": {"50": {...}, "500": {...}}, "published": n}``, each point holding the live
``Run``, ``ExecutionContext`` and ``SessionRecord`` objects, and how many of each
belong to no run a workflow keeps (``stray``: ``wf.runs`` keeps the last ``KEPT_RUNS``
by design, here ``KEPT``), the bytes tracemalloc traces, and the process's RSS before
and after ``malloc_trim`` (glibc keeps freed heap pages until then).

A point is measured once the process is at rest: a thread that is about to let go of
a run it just finished (a worker going idle, the live view's renderer leaving) gets up
to ``SETTLE_SECONDS``, less than the pool's ``KEEPALIVE_SECONDS``, so a parked thread
that holds a run still counts.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import io
import json
import os
import sys
import time
import tracemalloc
from typing import Any

FIRST = 50
KEPT = 1
SETTLE_SECONDS = 1.0
SIZE = 100_000
BODY = f"""
@task
def fetch():
    return b"r" * {SIZE}

@task
def left(fetch):
    return len(fetch)

@task
def right():
    return bytes({SIZE})

@task
def store(left):
    return left + 1

fetch >> (left | right) >> store
"""
SHELL_SCENARIOS = ("shell-live", "shell-live-final", "magic-live", "magic-step", "inspector", "debugger-widget")


def quiet_shell() -> Any:
    """A real InteractiveShell (what a kernel's shell is, minus the wire) with the
    extension loaded, whose display publisher counts what it is given and keeps none."""
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Counting(DisplayPublisher):
        published = 0

        def publish(self, data: Any, metadata: Any = None, source: Any = None, **kwargs: Any) -> None:
            Counting.published += 1

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.display_pub = Counting()
    shell.run_line_magic("load_ext", "graflow_nb.notebook")
    return shell


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(scenario: str, runs: int) -> dict[str, Any]:
    shell = quiet_shell() if scenario in SHELL_SCENARIOS else None

    import graflow_nb.observe  # noqa: F401  (installs the live view, as importing graflow_nb does)
    from graflow_nb import task, workflow

    # Each workflow keeps only its last run (``wf.last_run``): then any run held from
    # elsewhere shows, where the default 20 kept runs would hide a holder of a recent one.
    sys.modules["graflow_nb.core.workflow"].KEPT_RUNS = KEPT  # the module: core's ``workflow`` is the function
    from graflow_nb.core.context import ExecutionContext
    from graflow_nb.core.events import EventLog
    from graflow_nb.core.run import Run, SessionRecord
    from graflow_nb.observe import record

    body = BODY.replace("return len(fetch)", "raise ValueError(len(fetch))") if scenario == "failures" else BODY
    if shell is not None:
        shell.run_cell_magic("graflow", "grow --no-render", body)
        wf = shell.user_ns["grow"]
    else:
        with workflow("grow") as wf:
            exec(body, {"task": task})
    if scenario in ("record", "failures"):
        record(wf)
    if scenario == "debugger-restart":
        kept_debugger = wf.debug()

    def once() -> None:
        if scenario in ("plain", "record"):
            wf.execute()
        elif scenario == "live":
            wf.execute(live=True)
        elif scenario == "observers":
            wf.execute(observers=[EventLog(), lambda event: None])
        elif scenario == "failures":  # a task fails: recorded, live, and under the debugger
            for attempt in (lambda: wf.execute(live=True), lambda: wf.debug().run_to_end()):
                try:
                    attempt()
                except Exception as error:  # the group's error, naming the failed member
                    assert "ValueError: 100000" in str(error), error
                else:
                    raise SystemExit("the failing task did not fail")
        elif scenario == "ready":
            wf.execute(ready_parallel=True)
        elif scenario == "debugger":
            dbg = wf.debug()
            dbg.step()
            dbg.run_to_end()
        elif scenario == "debugger-restart":
            kept_debugger.step()
            kept_debugger.run_to_end()
            kept_debugger.restart()
        elif scenario == "shell-live":
            wf.execute(live={"final": False})
        elif scenario == "shell-live-final":
            wf.execute(live=True)
        elif scenario == "magic-live":
            shell.run_line_magic("graflow", "run grow --live")
        elif scenario == "magic-step":
            widget = shell.run_line_magic("graflow", "step grow")
            widget.step_button.click()
            widget.run_button.click()
        elif scenario == "inspector":
            from graflow_nb.notebook import TaskInspector

            wf.execute()
            inspector = TaskInspector(wf, pictures=False)
            inspector.select("fetch")
            inspector.close()
        elif scenario == "debugger-widget":
            from graflow_nb.notebook import DebuggerWidget

            widget = DebuggerWidget(wf.debug(), pictures=False)
            widget.step_button.click()
            widget.run_button.click()
            widget.close()
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")

    def kept() -> set[int]:
        workflows = [o for o in gc.get_objects() if type(o).__name__ == "WorkflowContext"]
        return {id(run) for w in workflows for run in w.runs}

    def measure() -> dict[str, Any]:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            gc.collect()
            alive = [o for o in gc.get_objects() if type(o) is Run]
            stray = sum(1 for run in alive if id(run) not in kept())
            if not stray or time.monotonic() > deadline:
                break
            del alive
            time.sleep(0.02)
        objects = gc.get_objects()
        kept_now = kept()
        contexts = [o for o in objects if type(o) is ExecutionContext]
        records = [o for o in objects if type(o) is SessionRecord]
        kept_records = {id(r) for run in alive if id(run) in kept_now for r in run.sessions.values()}
        point = {
            "runs": len(alive),
            "stray": stray,
            "contexts": len(contexts),
            "stray_contexts": sum(1 for c in contexts if id(c.run) not in kept_now),
            "records": len(records),
            "stray_records": sum(1 for r in records if id(r) not in kept_records),
            "traced": tracemalloc.get_traced_memory()[0],
            "rss_mb": round(rss_mb(), 1),
        }
        del alive, objects, contexts, records
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        point["rss_trimmed_mb"] = round(rss_mb(), 1)
        return point

    tracemalloc.start()
    at = {}
    for n in range(1, runs + 1):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            once()  # the magic's summary line and the plain live view's, once a run
        if n in (FIRST, runs):
            at[str(n)] = measure()
    published = shell.display_pub.published if shell is not None else 0
    return {"at": at, "published": published}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 500)))
