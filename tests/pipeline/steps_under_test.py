"""Functions the test pipelines call as ``python`` steps (``steps_under_test:name``),
plus a thread-safe call log and concurrency gauge the tests read afterwards."""

from __future__ import annotations

import threading
import time
from typing import Any

from instruments import WAIT

from graflow_nb import task
from graflow_nb.core.task import ParallelGroup


class Log:
    def __init__(self) -> None:
        # Guards every field; notified on each entry, for ``hold``.
        self._lock = threading.Condition()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls: list[tuple[str, Any]] = []
            self.times: dict[str, tuple[float, float]] = {}
            self.attempts: dict[str, int] = {}
            self.running = 0
            self.peak = 0
            self.release = threading.Event()  # what ``held`` steps wait for

    def enter(self, name: str, value: Any) -> float:
        with self._lock:
            self.calls.append((name, value))
            self.running += 1
            self.peak = max(self.peak, self.running)
            self._lock.notify_all()
        return time.perf_counter()

    def hold(self, meet: list[str], at_once: int) -> None:
        """Return once every step in ``meet`` has been called and ``at_once`` steps have
        been seen running together, so a step that holds here certainly overlapped
        them; fail saying what never happened."""

        def reached() -> bool:
            return set(meet) <= {n for n, _ in self.calls} and self.peak >= at_once

        with self._lock:
            if not self._lock.wait_for(reached, WAIT):
                missing = sorted(set(meet) - {n for n, _ in self.calls})
                raise AssertionError(f"never called: {missing}; peak {self.peak} of {at_once} wanted")

    def finished(self, name: str) -> bool:
        with self._lock:
            return name in self.times

    def leave(self, name: str, started: float) -> None:
        with self._lock:
            self.running -= 1
            self.times[name] = (started, time.perf_counter())

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def count(self, name: str) -> int:
        return self.names().count(name)

    def bump(self, key: str) -> int:
        with self._lock:
            self.attempts[key] = self.attempts.get(key, 0) + 1
            return self.attempts[key]


LOG = Log()


def record(
    name: str, value: Any = None, delay: float = 0.0, meet: list[str] = (), at_once: int = 1
) -> dict[str, Any]:
    """Log the call, hold until the steps ``meet`` have been called and ``at_once`` steps
    ran together (``Log.hold``), sleep ``delay``, return ``{"name", "value"}``."""
    started = LOG.enter(name, value)
    try:
        LOG.hold(list(meet), at_once)
        time.sleep(delay)
    finally:
        LOG.leave(name, started)
    return {"name": name, "value": value}


def held(name: str) -> dict[str, Any]:
    """Log the call and stay inside until the test sets ``LOG.release`` (after the run
    gave up on this step, say), so the step is certainly still running then."""
    started = LOG.enter(name, None)
    try:
        LOG.release.wait(WAIT)
    finally:
        LOG.leave(name, started)
    return {"name": name, "value": None}


def fail(name: str, message: str = "boom", delay: float = 0.0) -> None:
    started = LOG.enter(name, None)
    try:
        time.sleep(delay)
    finally:
        LOG.leave(name, started)
    raise ValueError(f"{name}: {message}")


def flaky(name: str, failures: int) -> dict[str, int]:
    """Fails the first ``failures`` calls for ``name``, then returns the attempt number."""
    attempt = LOG.bump(name)
    LOG.enter(name, attempt)
    if attempt <= failures:
        raise ConnectionError(f"{name}: attempt {attempt} failed")
    return {"attempt": attempt}


def square(x: int, delay: float = 0.0, at_once: int = 1) -> int:
    started = LOG.enter("square", x)
    try:
        LOG.hold([], at_once)
        time.sleep(delay)
    finally:
        LOG.leave(f"square-{x}", started)
    return x * x


def square_unless(x: int, bad: int) -> int:
    LOG.enter("square_unless", x)
    if x == bad:
        raise ValueError(f"item {x} is bad")
    return x * x


def echo(**params: Any) -> dict[str, Any]:
    started = LOG.enter("echo", params)
    LOG.leave("echo", started)  # counted as running only while it runs: peaks count overlap
    return params


def undo(what: Any = None) -> str:
    LOG.enter("undo", what)
    return f"undone {what}"


def concat(parts: list[Any]) -> str:
    return "+".join(str(p) for p in parts)


def shape(wf: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A workflow's graph as data: node kinds (groups with members in order) and edges."""
    nodes = {
        node_id: ("group", tuple(m.task_id for m in node.tasks)) if isinstance(node, ParallelGroup) else "task"
        for node_id, node in wf.graph.nodes.items()
    }
    return nodes, sorted(wf.graph.edges)


# Module-level tasks for to_pipeline: importable, so expressible as python steps.
@task
def fetch() -> dict[str, int]:
    return {"rows": 3}


@task
def double(fetch: dict[str, int]) -> int:
    return fetch["rows"] * 2


@task
def increment(fetch: dict[str, int]) -> int:
    return fetch["rows"] + 1


@task
def store(double: int, increment: int) -> int:
    return double + increment


@task
def scale(fetch: dict[str, int], factor: int) -> int:
    return fetch["rows"] * factor


def py(step_id: str, function: str = "record", **params: Any) -> dict[str, Any]:
    """A python step calling ``steps_under_test:function``; the logging ones get ``name=step_id``."""
    if function in ("record", "held", "fail", "flaky") and "name" not in params:
        params = {"name": step_id, **params}
    return {"id": step_id, "type": "python", "function": f"steps_under_test:{function}", "params": params}
