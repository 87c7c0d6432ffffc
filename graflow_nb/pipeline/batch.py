"""``batch:``: one step over many items, inside one task.

The items run one after another, or with ``parallel: true`` on a thread pool of
``max_concurrency`` threads (default: one per item, at most 32).  Whatever finishes
first, the output keeps input order::

    {"results": [{"item", "original_index", "result"}, ...],   # successes only
     "errors": [{"index", "item", "error"}, ...],              # "Type: message" strings
     "batch_metadata": {"total", "succeeded", "failed", "skipped"}}

so it is plain data that serialises to JSON.  ``on_error: fail_fast`` (default) starts
no new item after a failure and then fails the step with ``BatchError`` (its ``batch``
attribute holds this output); ``continue`` / ``ignore`` record the failure and go on.

The step's ``max_retries`` / ``retry_delay`` apply to each item: a flaky item is tried
again on its own, without re-running the items that worked.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .errors import BatchError
from .model import Step

DEFAULT_MAX_THREADS = 32
_SKIPPED: Any = object()


def _attempts(step: Step, call: Callable[[Any, int], Any], item: Any) -> Any:
    attempt = 1
    while True:
        try:
            return call(item, attempt)
        except Exception:
            if attempt > step.max_retries:
                raise
            attempt += 1
            if step.retry_delay:
                time.sleep(step.retry_delay)


def run_items(
    step: Step, items: list[Any], call: Callable[[Any, int], Any], cancelled: Callable[[], bool]
) -> dict[str, Any]:
    """Run ``call(item, attempt)`` for every item; see the module docstring for the output."""
    batch = step.batch
    stop = threading.Event()
    outcomes: list[Any] = [_SKIPPED] * len(items)

    def job(index: int) -> None:
        if stop.is_set() or cancelled():
            return
        try:
            outcomes[index] = ("ok", _attempts(step, call, items[index]))
        except Exception as error:
            outcomes[index] = ("error", f"{type(error).__name__}: {error}")
            if batch.on_error == "fail_fast":
                stop.set()

    if batch.parallel and len(items) > 1:
        threads = min(batch.max_concurrency or DEFAULT_MAX_THREADS, len(items))
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"batch-{step.id}") as pool:
            futures = [pool.submit(contextvars.copy_context().run, job, index) for index in range(len(items))]
            for future in futures:
                future.result()
    else:
        for index in range(len(items)):
            job(index)

    output = _collect(items, outcomes)
    if output["errors"] and batch.on_error == "fail_fast":
        raise BatchError(step.id, output)
    return output


def _collect(items: list[Any], outcomes: list[Any]) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    skipped = 0
    for index, (item, outcome) in enumerate(zip(items, outcomes, strict=True)):
        if outcome is _SKIPPED:
            skipped += 1
        elif outcome[0] == "ok":
            results.append({"item": item, "original_index": index, "result": outcome[1]})
        else:
            errors.append({"index": index, "item": item, "error": outcome[1]})
    return {
        "results": results,
        "errors": errors,
        "batch_metadata": {
            "total": len(items),
            "succeeded": len(results),
            "failed": len(errors),
            "skipped": skipped,
        },
    }
