"""What each task attempt printed and logged, kept per attempt and tagged with its session.

Sixty-four branches that each ``print`` write into one cell output, interleaved line
by line.  The graph view's inspector shows each attempt's own output instead.

No engine change is needed and nothing is added to the per-task path of a run that
does not ask: observers are called synchronously on the thread that runs the task
(``core.events``), so an ``OutputCapture`` observer marks the worker thread on
``TASK_STARTED`` and unmarks it on ``TASK_FINISHED`` / ``TASK_FAILED``.  While any
capture is listening, ``sys.stdout`` and ``sys.stderr`` are wrapped by a tee that
copies what a marked thread writes into that attempt's buffer and passes everything
on unchanged (the cell still shows it), and a logging handler does the same for log
records that reach the root logger.  The wrap is taken off when the last listening
run ends.

Limits: tasks that run in another process (the Dask backend) are not captured here;
output written by threads a task starts itself is not attributed to it.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from ..core.events import Event, EventKind
from ..core.model.scope import running_session
from .attached import attach_once, attached

MAX_CHARS = 100_000  # kept per attempt; the rest is counted, not kept

_local = threading.local()
_lock = threading.Lock()
_active = 0
_saved: tuple[Any, Any] | None = None
_handler: logging.Handler | None = None


class AttemptOutput:
    """One attempt's captured text (stdout, stderr and log lines, in arrival order)."""

    def __init__(self, task_id: str, session_id: str, attempt: int, owner: Any = None):
        self.owner = owner  # the OutputCapture keeping it
        self.task_id = task_id
        self.session_id = session_id
        self.attempt = attempt
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def add(self, text: str) -> None:
        if self.size >= MAX_CHARS:
            self.dropped += len(text)
            return
        self.parts.append(text)
        self.size += len(text)

    @property
    def text(self) -> str:
        tail = f"\n... ({self.dropped} more characters not kept)" if self.dropped else ""
        return "".join(self.parts) + tail


class _Tee:
    """A stream that copies a marked thread's writes into its attempt's buffers."""

    def __init__(self, inner: Any):
        self.inner = inner

    def write(self, text: str) -> Any:
        for sink in getattr(_local, "sinks", ()):
            sink.add(text)
        return self.inner.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _LogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sinks = getattr(_local, "sinks", ())
        if sinks:
            line = f"[{record.levelname}] {record.name}: {record.getMessage()}\n"
            for sink in sinks:
                sink.add(line)


def _listen() -> None:
    global _active, _saved, _handler
    with _lock:
        _active += 1
        if _active == 1:
            _saved = (sys.stdout, sys.stderr)
            sys.stdout, sys.stderr = _Tee(sys.stdout), _Tee(sys.stderr)
            _handler = _LogHandler()
            logging.getLogger().addHandler(_handler)


def _stop_listening() -> None:
    global _active, _saved, _handler
    with _lock:
        if _active == 0:
            return
        _active -= 1
        if _active == 0 and _saved is not None:
            # Only unwrap what is still ours (a cell may have replaced the streams since).
            if isinstance(sys.stdout, _Tee):
                sys.stdout = _saved[0]
            if isinstance(sys.stderr, _Tee):
                sys.stderr = _saved[1]
            _saved = None
            if _handler is not None:
                logging.getLogger().removeHandler(_handler)
                _handler = None


class OutputCapture:
    """An observer keeping each attempt's output of the runs it sees, by
    ``(root session, session, task, attempt)``; ``of(run, task_id)`` reads them."""

    def __init__(self) -> None:
        self.outputs: dict[tuple[str, str, str, int], AttemptOutput] = {}
        self._listening: set[str] = set()

    def __call__(self, event: Event) -> None:
        kind = event.kind
        if kind is EventKind.RUN_STARTED:
            self._listening.add(event.session_id)
            _listen()
        elif kind is EventKind.RUN_FINISHED:
            if event.session_id in self._listening:
                self._listening.discard(event.session_id)
                _stop_listening()
        elif kind is EventKind.TASK_STARTED:
            ctx = running_session()
            root = ctx.run.root_session_id if ctx is not None else event.session_id
            key = (root, event.session_id, event.task_id or "", int(event.data.get("attempt", 1)))
            sink = self.outputs.get(key)
            if sink is None:
                sink = self.outputs[key] = AttemptOutput(key[2], key[1], key[3], self)
            # One attempt per thread at a time for each capture: an attempt that ended
            # without a finish event (it paused for input) stops collecting here.
            others = tuple(s for s in getattr(_local, "sinks", ()) if s.owner is not self)
            _local.sinks = (*others, sink)
        elif kind is EventKind.TASK_FINISHED or kind is EventKind.TASK_FAILED:
            sinks = getattr(_local, "sinks", ())
            _local.sinks = tuple(s for s in sinks if not (s.task_id == event.task_id
                                                          and s.session_id == event.session_id))

    def close(self) -> None:
        """Stop listening now (a run that never finished must not keep the streams wrapped)."""
        for _ in list(self._listening):
            _stop_listening()
        self._listening.clear()

    def of(self, run: Any, task_id: str) -> list[AttemptOutput]:
        """The captured attempts of ``task_id`` in ``run``, in session then attempt order."""
        root = run.root_session_id
        return [out for (r, _s, t, _a), out in self.outputs.items() if r == root and t == task_id]


def capture_output(workflow: Any) -> OutputCapture:
    """Keep what each attempt of ``workflow``'s later runs prints and logs (once: a
    second call returns the same capture); a ``GraphView`` of the workflow finds it."""
    return attach_once(workflow, OutputCapture)


def capture_of(workflow: Any) -> OutputCapture | None:
    """The ``OutputCapture`` listening to ``workflow``'s runs, if any."""
    return attached(workflow, OutputCapture)
