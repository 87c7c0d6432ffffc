"""The timeline: lanes per session in tree order, a bar per task attempt, read back
from its SVG (times vary between runs; the structure must not)."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from drawings import SVG, diamond, fanout, nested
from instruments import EventWaiter

from graflow_nb import ParallelGroupError, RetryPolicy, task, workflow
from graflow_nb.core.events import EventKind
from graflow_nb.observe import draw_timeline


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def lanes(root: ET.Element) -> list[str]:
    return [el.get("data-session") for el in root.iter(f"{SVG}rect") if el.get("class") == "lane"]


def bars(root: ET.Element, cls: str = "bar") -> list[tuple[str, str, str, str]]:
    return [
        (el.get("data-task"), el.get("data-session"), el.get("data-status"), el.get("data-attempt"))
        for el in root.iter(f"{SVG}rect")
        if el.get("class") == cls
    ]


def test_diamond_lanes_and_bars():
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    timeline = draw_timeline(wf.last_run)
    root = parse(timeline._repr_svg_())
    assert lanes(root) == ["4821", "4821_transform_a", "4821_transform_b"]
    assert bars(root) == [
        ("fetch", "4821", "succeeded", "1"),
        ("transform_a", "4821_transform_a", "succeeded", "1"),
        ("transform_b", "4821_transform_b", "succeeded", "1"),
        ("store", "4821", "succeeded", "1"),
    ]
    assert bars(root, "group") == [("ParallelGroup_1", "4821", "succeeded", "1")]
    lane_y = {el.get("data-session"): float(el.get("y")) for el in root.iter(f"{SVG}rect") if el.get("class") == "lane"}
    by_task = {el.get("data-task"): el for el in root.iter(f"{SVG}rect") if el.get("class") == "bar"}
    for task_id, session in (("fetch", "4821"), ("transform_b", "4821_transform_b")):
        assert lane_y[session] <= float(by_task[task_id].get("y")) < lane_y[session] + 22
    assert float(by_task["fetch"].get("x")) < float(by_task["transform_a"].get("x")) < float(by_task["store"].get("x"))
    ticks = [el.text for el in root.iter(f"{SVG}text") if el.get("class") == "tick-label"]
    assert ticks[0].endswith(" ms") and float(ticks[0].removesuffix(" ms")) == 0
    bundle = timeline._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "image/png", "text/plain"}
    assert bundle["text/plain"] == "timeline of run 4821 (succeeded): 5 task attempts in 3 sessions"


def test_same_run_structure_twice():
    def structure():
        wf = nested()
        wf.execute("a", session_id="7")
        root = parse(draw_timeline(wf.last_run).svg)
        return lanes(root), bars(root), bars(root, "group")

    first = structure()
    assert first == structure()
    assert first[0] == ["7", "7_b", "7_b_b1", "7_b_b2", "7_c"]


def test_failures_and_retries_are_bars_of_their_own():
    attempts = []
    events = EventWaiter()
    with workflow("flaky") as wf:

        @task(max_retries=2, retry_policy=RetryPolicy(max_retries=2, initial_interval=0.0, backoff_factor=1.0))
        def flaky():
            attempts.append(1)
            if len(attempts) < 2:
                raise ConnectionError("try again")
            return "ok"

        @task
        def broken():
            events.wait_for(EventKind.TASK_FINISHED, "R_flaky", "flaky")  # flaky retried and succeeded first
            raise ValueError("no")

        @task
        def start():
            return 0

        _ = start >> (flaky | broken)
    with pytest.raises(ParallelGroupError):
        wf.execute("start", session_id="R", max_workers=2, observers=[events])
    root = parse(draw_timeline(wf.last_run).svg)
    assert lanes(root) == ["R", "R_flaky", "R_broken"]
    assert bars(root) == [
        ("start", "R", "succeeded", "1"),
        ("flaky", "R_flaky", "failed", "1"),
        ("flaky", "R_flaky", "succeeded", "2"),
        ("broken", "R_broken", "failed", "1"),
    ]
    assert bars(root, "group") == [("ParallelGroup_1", "R", "failed", "1")]
    titles = [re.sub(r" in [0-9.]+ m?s on \S+$", " in T on THREAD", el.text) for el in root.iter(f"{SVG}title")]
    assert titles == [
        "start (attempt 1) succeeded in T on THREAD",
        "ParallelGroup_1 (attempt 1) failed in T on THREAD",
        "flaky (attempt 1) failed in T on THREAD",
        "flaky (attempt 2) succeeded in T on THREAD",
        "broken (attempt 1) failed in T on THREAD",
    ]


def test_many_sessions_are_cut_with_a_note():
    wf = fanout(80)
    wf.execute("source", session_id="M")
    root = parse(draw_timeline(wf.last_run, max_lanes=10).svg)
    assert lanes(root) == ["M", *(f"M_t{i}" for i in range(9))]
    assert [b[0] for b in bars(root)] == ["source", *(f"t{i}" for i in range(9)), "sink"]
    assert [el.text for el in root.iter(f"{SVG}text") if el.get("class") == "more"] == [
        "... 71 more sessions (draw_timeline(run, max_lanes=None) draws every lane)"
    ]
    every = parse(draw_timeline(wf.last_run, max_lanes=None).svg)
    assert lanes(every) == ["M", *(f"M_t{i}" for i in range(80))]
    assert bars(every) == [("source", "M", "succeeded", "1")] + [
        (f"t{i}", f"M_t{i}", "succeeded", "1") for i in range(80)
    ] + [("sink", "M", "succeeded", "1")]
    assert [el.text for el in every.iter(f"{SVG}text") if el.get("class") == "more"] == []


def test_source_is_pinned_neato_and_png_needs_only_graphviz(tmp_path):
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    timeline = draw_timeline(wf.last_run)
    assert timeline.digraph.engine == "neato"
    assert 'pos="' in timeline.source and "!" in timeline.source
    assert timeline.save(tmp_path / "t.svg").read_text() == timeline.svg
    if shutil.which("neato"):
        assert timeline.save(tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_timeline_shows_without_dot(monkeypatch, tmp_path):
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    monkeypatch.setenv("PATH", str(tmp_path))
    timeline = draw_timeline(wf.last_run)
    root = parse(timeline._repr_svg_())  # drawn without dot: the SVG is written directly
    assert lanes(root) == ["4821", "4821_transform_a", "4821_transform_b"]
    assert [b[0] for b in bars(root)] == ["fetch", "transform_a", "transform_b", "store"]
    with pytest.raises(RuntimeError, match="apt install graphviz"):
        timeline.save(tmp_path / "t.png")


def test_draw_timeline_refuses_a_workflow():
    with pytest.raises(TypeError, match="run record"):
        draw_timeline(diamond())


def test_ticks_fall_on_round_numbers():
    from graflow_nb.observe.timeline import _tick_label, _ticks

    step, ticks = _ticks(0.065)
    assert step == 0.01 and len(ticks) == 7
    assert [_tick_label(t, step) for t in ticks[:3]] == ["0 ms", "10 ms", "20 ms"]
    step, ticks = _ticks(12.0)
    assert step == 2 and [_tick_label(t, step) for t in ticks[:2]] == ["0 s", "2 s"]
    step, _ = _ticks(0.0008)
    assert _tick_label(step, step) == "0.1 ms"
