"""``python -m graflow_nb.demo --out build``: run the two showcase workflows and draw them.

The diamond (``fetch >> (transform_a | transform_b) >> store``) is the bug graflow_nb
exists to fix: the sink must run once, not once per branch.  The nested example
(``a >> ((b >> (b1 | b2) >> bm) | c) >> d``) shows sessions forking inside sessions.
For each, the demo prints what ran and where, and writes the graph and session-tree
renders plus a JSON summary.  It doubles as a smoke check: the exit status is non-zero
if any task did not run exactly once, or if a promised file could not be written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import task, workflow
from .observe import MISSING_DOT, draw_graph, draw_sessions


def _sleeper(name: str, seconds: float) -> Any:
    def body() -> str:
        time.sleep(seconds)
        return name

    body.__name__ = name
    return task(body)


def diamond() -> Any:
    with workflow("diamond") as wf:
        fetch, transform_a, transform_b, store = (
            _sleeper(n, 0.05) for n in ("fetch", "transform_a", "transform_b", "store")
        )
        _ = fetch >> (transform_a | transform_b) >> store
    return wf


def nested() -> Any:
    with workflow("nested") as wf:
        a, b, b1, b2, bm, c, d = (_sleeper(n, 0.01) for n in ("a", "b", "b1", "b2", "bm", "c", "d"))
        _ = a >> ((b >> (b1 | b2) >> bm) | c) >> d
    return wf


EXAMPLES = {"diamond": (diamond, "fetch", "4821"), "nested": (nested, "a", "7")}


def run_counts(wf: Any) -> dict[str, int]:
    """Runs per graph node (groups included: a group run twice forks twice), in
    topological order; a node that never ran shows 0 rather than going missing."""
    counts = wf.last_run.task_counts()
    topo = wf.graph.topological_index()
    return {node_id: counts.get(node_id, 0) for node_id in sorted(wf.graph.nodes, key=topo.__getitem__)}


def summary(wf: Any) -> dict[str, Any]:
    """What the JSON file holds: only things two identical runs agree on (no times)."""
    run = wf.last_run
    sessions = [
        {
            "session_id": rec.session_id,
            "parent_id": rec.parent_id,
            "state": rec.state,
            "enqueued": rec.enqueued,
            "dequeued": rec.dequeued,
            "tasks_run": list(rec.tasks_run),
            "queued": rec.queued,
        }
        for rec in sorted(run.sessions.values(), key=lambda r: r.order_key)
    ]
    return {
        "workflow": wf.name,
        "session_id": run.root_session_id,
        "status": run.status,
        "counts": run_counts(wf),
        "sessions": sessions,
        "sequence": run.execution_sequence(),
    }


def write_outputs(wf: Any, out: Path) -> tuple[list[Path], list[str]]:
    """Write the renders and the summary; returns (paths written, problems)."""
    written: list[Path] = []
    problems: list[str] = []
    renders = {"graph": draw_graph(wf, wf.last_run), "sessions": draw_sessions(wf.last_run)}
    for kind, render in renders.items():
        for suffix in (".svg", ".dot"):
            path = out / f"{wf.name}_{kind}{suffix}"
            try:
                written.append(render.save(path))
            except RuntimeError as error:
                problems.append(f"{path}: {error}")
    path = out / f"{wf.name}_summary.json"
    path.write_text(json.dumps(summary(wf), indent=2) + "\n", encoding="utf-8")
    written.append(path)
    return written, problems


def run_example(name: str, out: Path) -> list[str]:
    """Run one example, print its report, write its files; returns what went wrong."""
    build, start, session_id = EXAMPLES[name]
    wf = build()
    began = time.perf_counter()
    wf.execute(start, session_id=session_id)
    wall = time.perf_counter() - began
    run = wf.last_run
    counts = run_counts(wf)
    print(f"== {name} (session {session_id}) ==")
    print("run counts: " + ", ".join(f"{task_id} {n}" for task_id, n in counts.items()))
    print("sessions:")
    print(run.session_tree())
    print("order: " + " -> ".join(run.execution_sequence()))
    print(f"wall: {wall:.3f} s")
    written, problems = write_outputs(wf, out)
    print("wrote:")
    for path in written:
        print(f"  {path}")
    print()
    problems += [f"{name}: {task_id} ran {n} times, expected 1" for task_id, n in counts.items() if n != 1]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graflow_nb.demo",
        description="Run the diamond and nested examples, print what ran, write their renders.",
    )
    parser.add_argument("--out", default="build", type=Path, help="directory for the renders (default: build)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for name in EXAMPLES:
        problems += run_example(name, args.out)
    if any(MISSING_DOT in p for p in problems):
        problems = [p for p in problems if MISSING_DOT not in p] + [f"SVG renders skipped: {MISSING_DOT}"]
    for problem in problems:
        print(f"demo: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
