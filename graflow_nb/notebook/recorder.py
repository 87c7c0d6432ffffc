"""The events of a workflow's latest run, kept for ``%graflow events``.

The engine builds no event objects unless someone listens, so the magics attach one
``LatestRunEvents`` to each workflow they handle (``wf.observers``).  It keeps only the
latest run: a notebook asks "what just happened", and a long session of re-runs must
not grow without bound.
"""

from __future__ import annotations

from typing import Any

from ..core.events import Event, EventKind
from ..observe.attached import attach_once


class LatestRunEvents:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        if event.kind == EventKind.RUN_STARTED:
            self.events = [event]
        else:
            self.events.append(event)  # list.append is atomic: branch threads call this

    def frame(self) -> Any:
        """One row per event: seconds since the run started, kind, session, task, details."""
        import pandas as pd

        events = list(self.events)
        start = events[0].time if events else 0.0
        rows = [
            {
                "t": round(e.time - start, 6),
                "kind": str(e.kind),
                "session": e.session_id,
                "task": e.task_id,
                "details": ", ".join(f"{k}={v!r}" for k, v in e.data.items()),
            }
            for e in events
        ]
        return pd.DataFrame(rows, columns=["t", "kind", "session", "task", "details"])


def recorder_for(workflow: Any) -> LatestRunEvents:
    """The workflow's recorder, attached on first use."""
    return attach_once(workflow, LatestRunEvents)
