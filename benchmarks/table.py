"""The issue's table from a ``run.py`` report: each graflow_nb figure beside its floor.

    python benchmarks/table.py REPORT.json      # or: run.py --table

A row names the workload and field holding graflow_nb's number, and either the field
holding the floor measured in the same run (the verdict is on the ratio of the two
medians) or a fixed limit (the live view's slowdown).  To add a row, append a ``Row``
to ``ROWS``; a row whose workload did not run prints as "not run".
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    label: str
    workload: str
    field: str  # graflow_nb's number (a stats dict's median, or a plain value)
    unit: str  # how the numbers print: "x sleep", "us", "ms", "MiB", "%"
    goal: float  # the ratio (or, with no floor, the value) must be <= goal
    floor_workload: str = ""  # where the floor is; empty: ``goal`` is a plain limit
    floor_field: str = ""
    scale: float = 1.0  # value x scale is printed in ``unit``
    also: str = ""  # a field of the workload that must be true too (e.g. a readable picture)


ROWS: list[Row] = [
    Row("fanout-256 of 20 ms sleeps, default settings", "fanout-256", "ratio", "x sleep", 1.10, "fanout-256", "floor_ratio"),
    Row("fanout-64 of 20 ms sleeps", "fanout-64", "ratio", "x sleep", 1.05, "fanout-64", "floor_ratio"),
    Row("nested (5 levels of 10 ms)", "nested", "wall_s", "ms", 1.02, "nested", "floor_wall_s", 1000),
    Row("fanout-trivial-1000, per branch", "fanout-trivial-1000", "us_per_branch", "us", 1.3, "fanout-trivial-1000", "floor_us_per_branch"),
    Row("chain-1000, per task (build + run)", "chain-1000", "us_per_task", "us", 5.0, "chain-1000", "floor_us_per_task"),
    Row("fanout-trivial-1000, peak RSS added", "fanout-trivial-1000", "rss_delta_mib", "MiB", 1.5, "fanout-trivial-1000", "floor_rss_delta_mib"),
    # scale: per-task cost flat from 1,000 to 100,000 (the "floor" is the small run's cost)
    Row("chain-100000, per task, vs chain-1000", "chain-100000", "us_per_task", "us", 1.25, "chain-1000", "us_per_task"),
    Row("fanout-trivial-10000, per branch, vs 1000", "fanout-trivial-10000", "us_per_branch", "us", 1.25, "fanout-trivial-1000", "us_per_branch"),
    Row("map-trivial-10000, per item, vs the same fan-out with |", "map-trivial-10000", "us_per_item", "us", 1.25, "map-trivial-10000", "group_us_per_member"),
    Row("fanout-1000 of 20 ms sleeps, wall", "fanout-1000", "ratio", "x sleep", 1.10, "fanout-1000", "floor_ratio"),
    Row("live view on fanout-1000, slowdown (groups fold)", "fanout-1000-live", "slowdown_pct", "%", 10.0, also="picture_folded"),
    # async tasks (issue 24): one loop, no thread per waiting branch
    Row("async-fanout-10000 of 1 s awaits, vs asyncio.gather", "async-fanout-10000", "wall_s", "s", 1.5, "async-fanout-10000", "gather_wall_s"),
    Row("async-fanout-10000, peak threads", "async-fanout-10000", "peak_threads", "threads", 31),
    # the re-run cache (issue 26): keying and keeping every task of a run that hits nothing
    Row("chain-1000 of ~50 us tasks, an empty cache vs none", "rerun-cached", "work_miss_us_per_task", "us", 1.10,
        "rerun-cached", "work_plain_us_per_task"),
    # ... and as an absolute cost per task: under 12 us is under 10% for tasks of 120 us and more
    Row("re-run cache, keys and keeping per task of ~50 us", "rerun-cached", "work_miss_cost_us_per_task", "us", 12.0),
]


def median(value: Any) -> float:
    return float(value["median"] if isinstance(value, dict) else value)


def judge(row: Row, workloads: dict[str, Any]) -> dict[str, Any]:
    """One row's numbers and verdict: ``met`` is None when a workload did not run."""
    out: dict[str, Any] = {"row": row.label, "goal": row.goal, "unit": row.unit}
    source = workloads.get(row.workload)
    floor_source = workloads.get(row.floor_workload) if row.floor_workload else {}
    if source is None or floor_source is None or row.field not in source:
        return out | {"met": None}
    value = median(source[row.field]) * row.scale
    out["value"] = round(value, 3)
    if row.floor_workload:
        floor = median(floor_source[row.floor_field]) * row.scale
        out["floor"] = round(floor, 3)
        out["ratio"] = round(value / floor, 3) if floor else None
        measured = out["ratio"]
    else:
        measured = value
    met = measured is not None and measured <= row.goal
    if row.also:
        out[row.also] = bool(source.get(row.also))
        met = met and out[row.also]
    return out | {"met": met}


def judge_all(workloads: dict[str, Any]) -> list[dict[str, Any]]:
    return [judge(row, workloads) for row in ROWS]


def render(verdicts: list[dict[str, Any]]) -> str:
    """A Markdown table: workload, floor, graflow_nb, ratio, goal, verdict."""
    lines = ["| workload | hand-written floor | graflow_nb | ratio | goal | verdict |", "|---|---|---|---|---|---|"]
    for v in verdicts:
        unit = v["unit"]
        if v["met"] is None:
            lines.append(f"| {v['row']} | | | | | not run |")
            continue
        floor = f"{v['floor']:g} {unit}" if "floor" in v else ""
        ratio = f"{v['ratio']:.2f}x" if v.get("ratio") is not None else ""
        goal = f"<= {v['goal']:g}x" if "floor" in v else f"< {v['goal']:g} {unit}"
        if v["met"]:
            verdict = "met"
        else:
            measured = v.get("ratio") if "floor" in v else v["value"]
            over = (measured / v["goal"] - 1) * 100 if measured is not None else float("nan")
            verdict = f"missed by {over:.0f}%" if over > 0 else "missed"
            for key in ("picture_folded",):
                if key in v and not v[key]:
                    verdict += " (picture not folded)"
        lines.append(f"| {v['row']} | {floor} | {v['value']:g} {unit} | {ratio} | {goal} | {verdict} |")
    return "\n".join(lines)


def references(workloads: dict[str, Any]) -> str:
    """Lines under the table: figures that say what a goal can be measured against."""
    chain = workloads.get("chain-1000") or {}
    if "least_engine_over_floor" not in chain:
        return ""
    least = median(chain["least_engine_us_per_task"])
    text = (
        f"\nReference: a bare Python chain engine (benchmarks/least_engine.py: an object per task, an edge "
        f"per `>>`, a record per step, nothing else) costs {least:g} us per task, "
        f"{chain['least_engine_over_floor']:g}x the plain calls timed beside it"
    )
    big = workloads.get("chain-100000") or {}
    if "least_engine_us_per_task" in big:
        least_big = median(big["least_engine_us_per_task"])
        text += f"; at 100,000 tasks {least_big:g} us per task, {least_big / least:.2f}x its cost at 1,000"
    return text + "."


def report_text(workloads: dict[str, Any]) -> str:
    """The table with its reference lines, as ``make bench`` prints it."""
    return render(judge_all(workloads)) + references(workloads)


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as fh:
        report = json.load(fh)
    print(report_text(report["workloads"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
