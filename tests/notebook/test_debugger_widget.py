"""The debugger widget driven by Button.click(): every click goes through the Debugger
API, and the rows, pictures, channel inspector and merge explainer follow."""

from __future__ import annotations

import threading

import pytest
from instruments import wait_until

from graflow_nb import task, workflow
from graflow_nb.notebook import DebuggerWidget

pytestmark = pytest.mark.timeout(60)

A, B = "4821_transform_a", "4821_transform_b"


def diamond(calls: list[str], fail_store: bool = False):
    lock = threading.Lock()

    def hit(name: str) -> None:
        with lock:
            calls.append(name)

    with workflow("diamond") as wf:

        @task(inject_context=True)
        def fetch(ctx):
            hit("fetch")
            ctx.get_channel().set("rows", 3)
            return {"rows": 3}

        @task(inject_context=True)
        def transform_a(ctx, fetch):
            hit("transform_a")
            ctx.get_channel().set("seen_by_a", True)
            return fetch["rows"] * 2

        @task
        def transform_b(fetch):
            hit("transform_b")
            return fetch["rows"] + 1

        @task
        def store(transform_a, transform_b):
            hit("store")
            if fail_store:
                raise RuntimeError("disk full")
            return transform_a + transform_b

        fetch >> (transform_a | transform_b) >> store
    return wf


def statuses(widget: DebuggerWidget) -> dict[str, str]:
    return {s["session_id"]: s["status"] for s in widget.debugger.state()}


def test_clicking_through_the_diamond():
    calls: list[str] = []
    widget = DebuggerWidget(diamond(calls).debug("fetch", session_id="4821"))
    try:
        assert list(widget.rows) == ["4821"] and widget.graph.nodes["fetch"]["state"] == "held"
        assert widget.graph.nodes["sessions/4821"]["state"] == "open"
        assert not widget.rows["4821"].step_button.disabled

        widget.step_button.click()
        assert calls == ["fetch"] and "4821: ran fetch" in widget.status.value
        widget.step_button.click()
        assert list(widget.rows) == ["4821", A, B]
        assert statuses(widget) == {"4821": "waiting", A: "held", B: "held"}
        assert widget.rows["4821"].step_button.disabled  # a waiting parent can't be stepped

        widget.rows[B].step_button.click()  # only branch b
        assert calls == ["fetch", "transform_b"]
        assert statuses(widget) == {"4821": "waiting", A: "held", B: "done"}
        assert widget.merge.value == ""

        widget.rows[A].continue_button.click()  # a runs freely; the parent stops at the merge
        assert calls == ["fetch", "transform_b", "transform_a"]
        assert widget.debugger.state()[0]["stop"] == "merge"
        assert "merge ParallelGroup_1 into 4821" in widget.merge.value
        assert "set seen_by_a = True" in widget.merge.value
        assert "seen_by_a" in widget.channels.value and A in widget.channels.value

        widget.step_button.click()  # the merge
        assert statuses(widget) == {"4821": "held"} and widget.merge.value == ""
        assert widget.debugger.channel("4821")["seen_by_a"] is True

        widget.run_button.click()
        assert calls[-1] == "store" and widget.debugger.finished
        assert "the run ended (succeeded), result 10" in widget.status.value
        assert widget.step_button.disabled and widget.rows == {}

        widget.restart_button.click()
        assert statuses(widget) == {"4821": "held"} and "restarted: 4821 before fetch" in widget.status.value
        assert not widget.step_button.disabled
    finally:
        widget.debugger.close()


def test_breakpoint_pickers_and_continue():
    calls: list[str] = []
    widget = DebuggerWidget(diamond(calls).debug("fetch", session_id="4821"), pictures=False)
    try:
        assert widget.halt_before.options == ("fetch", "transform_a", "transform_b", "store")
        widget.halt_before.value = ("store",)
        assert widget.debugger.halt_before == {"store"}
        widget.continue_button.click()
        assert "4821 held before store (breakpoint)" in widget.status.value
        assert "store" not in calls and len(calls) == 3
        widget.halt_before.value = ()
        widget.halt_at_merge.value = ("(every group)",)
        assert widget.debugger.halt_at_merge == {"*"}
        widget.restart_button.click()
        widget.continue_button.click()
        assert "at merge of ParallelGroup_1" in widget.status.value
    finally:
        widget.debugger.close()


def test_a_session_row_can_step_one_branch_while_the_other_stays_held():
    calls: list[str] = []
    dbg = diamond(calls).debug("fetch", session_id="4821")
    widget = DebuggerWidget(dbg, pictures=False)
    try:
        dbg.step()
        dbg.step()
        widget.refresh()
        widget.rows[A].step_button.click()
        assert calls == ["fetch", "transform_a"]
        assert statuses(widget)[B] == "held" and widget.rows[A].step_button.disabled
    finally:
        dbg.close()


def test_errors_from_an_action_show_in_the_status_line():
    widget = DebuggerWidget(diamond([], fail_store=True).debug("fetch", session_id="4821"), pictures=False)
    try:
        widget.run_button.click()
        assert "RuntimeError: disk full" in widget.status.value and "color:#b00" in widget.status.value
    finally:
        widget.debugger.close()


def open_widget_ids() -> set[str]:
    """ipywidgets' table of every widget not closed yet (it keeps each one, and all
    that it reaches, until then)."""
    from ipywidgets.widgets.widget import _instances

    return set(_instances)


def widget_tree_ids(widget) -> set[str]:
    ids = {widget.model_id}
    for part in (*getattr(widget, "children", ()), getattr(widget, "layout", None), getattr(widget, "style", None)):
        if part is not None and getattr(part, "comm", None) is not None:
            ids |= widget_tree_ids(part)
    return ids


def test_closing_the_widget_closes_every_part_and_lets_the_run_go():
    import gc
    import weakref

    before = open_widget_ids()
    widget = DebuggerWidget(diamond([]).debug("fetch", session_id="4821"), pictures=False)
    widget.step_button.click()  # the fork: a row per branch session, drawn anew
    widget.run_button.click()
    run = weakref.ref(widget.debugger.run)
    parts = widget_tree_ids(widget)
    assert len(parts) > 20 and parts <= open_widget_ids()
    widget.close()
    assert open_widget_ids() == before  # rows replaced by the clicks were closed then, the rest now
    del widget
    # Nothing of the closed widget keeps the debugger, its workflow or its run (the
    # debugger's thread lets go of it a moment after the run ends).
    wait_until(lambda: gc.collect() >= 0 and run() is None, "the run to be freed", timeout=3)


def test_clicking_a_held_node_in_the_picture_steps_it_and_shift_toggles_a_breakpoint():
    calls: list[str] = []
    widget = DebuggerWidget(diamond(calls).debug("fetch", session_id="4821"))
    view = widget.graph
    try:
        view.click("store")  # not held: the inspector opens, nothing runs
        assert calls == [] and "store" in view.panel and "not run" in view.panel
        view.click("fetch")
        assert calls == ["fetch"] and "4821: ran fetch" in widget.status.value
        assert view.nodes["fetch"]["state"] == "succeeded" and view.nodes["ParallelGroup_1/fork"]["state"] == "held"
        view.click("ParallelGroup_1/fork")  # the fan-out: both branches open, held before their tasks
        assert view.nodes["transform_a"]["state"] == "held" and view.nodes["transform_b"]["state"] == "held"
        view.click("transform_b", shift=True)
        assert widget.debugger.halt_before == {"transform_b"} and view.nodes["transform_b"]["mark"] is True
        assert "breakpoint before transform_b on" in widget.status.value
        view.click("transform_a")
        assert calls == ["fetch", "transform_a"]
        view.click("transform_b", shift=True)
        assert widget.debugger.halt_before == frozenset() and "mark" not in view.nodes["transform_b"]
        view.click("transform_b", alt=True)  # continue its session: it runs to the fan-in
        assert calls == ["fetch", "transform_a", "transform_b"]
    finally:
        widget.debugger.close()
        widget.close()
