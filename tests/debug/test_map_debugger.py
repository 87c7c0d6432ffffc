"""The step debugger holds a map's items like any branch (issue 31): one item runs
on while the others stay held before their task."""

from __future__ import annotations

import pytest
from instruments import Calls

from graflow_nb import task, workflow
from graflow_nb.debug import Debugger

pytestmark = pytest.mark.timeout(30)


def doc_map(calls: Calls):
    with workflow("map-debug") as wf:

        @task
        def fetch():
            calls.hit("fetch")
            return ["a", "b", "c"]

        @task
        def summarize(doc):
            calls.hit(f"summarize {doc}")
            return doc.upper()

        @task
        def combine(summarize):
            calls.hit("combine")
            return "".join(summarize)

        fetch >> summarize.map(over="fetch") >> combine
    return wf


def held(dbg: Debugger) -> dict[str, str | None]:
    return {s["session_id"]: s["task"] for s in dbg.state() if s["status"] == "held"}


def test_the_debugger_runs_one_item_while_the_others_stay_held():
    calls = Calls()
    wf = doc_map(calls)
    with wf.debug("fetch", session_id="D") as dbg:
        dbg.step()  # fetch
        dbg.step()  # the map node forks its items' branches
        assert held(dbg) == {"D_summarize[0]": "summarize[0]", "D_summarize[1]": "summarize[1]",
                             "D_summarize[2]": "summarize[2]"}
        step = dbg.step("D_summarize[1]")
        assert step.session_id == "D_summarize[1]"
        assert calls.order == ["fetch", "summarize b"]  # only that item ran
        assert set(held(dbg)) == {"D_summarize[0]", "D_summarize[2]"}
        dbg.break_before("combine")
        dbg.continue_()
        assert sorted(calls.order) == sorted(["fetch", "summarize a", "summarize b", "summarize c"])
        assert held(dbg) == {"D": "combine"}
        assert dbg.run_to_end() == "ABC"
