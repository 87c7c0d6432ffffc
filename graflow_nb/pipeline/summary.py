"""A run as plain JSON data: what ``graflow-nb run --json`` prints.

Results are made JSON-safe (tuples become lists, unknown objects their ``repr``), so
the summary always serialises; errors are ``"Type: message"`` strings.  A run that
succeeded although some task failed (``on_error: continue``) is ``degraded``.
"""

from __future__ import annotations

from typing import Any

from ..core.model.task import ParallelGroup


def json_safe(value: Any) -> Any:
    """``value`` with everything JSON cannot hold turned into lists or strings."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    return repr(value)


def describe_error(error: BaseException | None) -> str | None:
    return None if error is None else f"{type(error).__name__}: {error}"


def run_summary(wf: Any, run: Any = None) -> dict[str, Any]:
    """Status, results per task, counts and errors of ``run`` (default: the last run)."""
    run = run if run is not None else wf.last_run
    if run is None:
        raise ValueError(f"workflow {wf.name!r} has not been run yet")
    nodes = wf.graph.nodes
    finished = [tr for tr in run.finished_runs() if not isinstance(nodes.get(tr.task_id), ParallelGroup)]
    results = {tr.task_id: json_safe(tr.result) for tr in finished if tr.status == "succeeded"}
    errors = [
        {"task_id": tr.task_id, "session_id": tr.session_id, "error": describe_error(tr.error)}
        for tr in finished
        if tr.status == "failed"
    ]
    counts = {"succeeded": 0, "failed": 0, "cancelled": 0}
    for tr in finished:
        counts[tr.status] = counts.get(tr.status, 0) + 1
    counts["skipped"] = len(run.skipped)
    status = run.status
    if status == "succeeded" and errors:
        status = "degraded"
    ended = run.ended if run.ended is not None else run.started
    return {
        "workflow": wf.name,
        "session_id": run.root_session_id,
        "status": status,
        "duration_s": round(ended - run.started, 6),
        "results": results,
        "task_counts": counts,
        "errors": errors,
        "error": describe_error(run.error),
    }
