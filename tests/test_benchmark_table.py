"""``make bench``'s table (benchmarks/table.py) and its reference engine: the verdict of
a row is the ratio of two medians from the same report, and the bare chain engine the
table cites runs the same chain the benchmark's engine does, each task once, in order."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import least_engine  # noqa: E402
import table  # noqa: E402


def test_the_least_engine_runs_the_chain_once_each_in_order():
    calls: list[int] = []

    def make(i: int):
        return lambda: calls.append(i) or i * i

    graph: dict[str, least_engine.LeastTask] = {}
    tasks = [least_engine.LeastTask(f"t{i}", make(i), graph) for i in range(5)]
    assert list(graph) == ["t0", "t1", "t2", "t3", "t4"]
    tasks[0] >> tasks[1]
    assert tasks[0].successors == [tasks[1]]

    results = least_engine.build_and_run(300, lambda: "x")
    assert list(results) == [f"t{i}" for i in range(300)] and set(results.values()) == {"x"}


def test_a_row_is_judged_on_the_ratio_of_medians_and_the_reference_line_follows():
    workloads = {
        "chain-1000": {
            "us_per_task": {"median": 9.0, "min": 8.0, "samples": [9.0]},
            "floor_us_per_task": {"median": 0.3, "min": 0.3, "samples": [0.3]},
            "least_engine_us_per_task": {"median": 1.5, "min": 1.4, "samples": [1.5]},
            "least_engine_over_floor": 5.0,
        },
        "nested": {
            "wall_s": {"median": 0.0510, "min": 0.05, "samples": [0.051]},
            "floor_wall_s": {"median": 0.0505, "min": 0.05, "samples": [0.0505]},
        },
    }
    text = table.report_text(workloads)
    lines = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert lines["chain-1000, per task (build + run)"].endswith("| 30.00x | <= 5x | missed by 500% |")
    assert lines["nested (5 levels of 10 ms)"].endswith("| 1.01x | <= 1.02x | met |")
    assert lines["fanout-64 of 20 ms sleeps"].endswith("| not run |")
    assert text.splitlines()[-1] == (
        "Reference: a bare Python chain engine (benchmarks/least_engine.py: an object per task, an edge per `>>`, "
        "a record per step, nothing else) costs 1.5 us per task, 5x the plain calls timed beside it."
    )
    workloads["chain-100000"] = {"least_engine_us_per_task": {"median": 3.0, "min": 2.9, "samples": [3.0]}}
    assert table.report_text(workloads).endswith(
        "5x the plain calls timed beside it; at 100,000 tasks 3 us per task, 2.00x its cost at 1,000."
    )
