"""``map:`` on a pipeline step: one branch session per item (issue 31), while
``batch:`` keeps running every item inside one task."""

from __future__ import annotations

import pytest
from steps_under_test import LOG, py

from graflow_nb import ParallelGroupError
from graflow_nb.pipeline import PipelineValidationError, load_pipeline


def mapped(step_id: str, function: str, spec: dict, **params) -> dict:
    return {**py(step_id, function, **params), "map": spec}


def test_a_map_step_runs_each_item_in_its_own_branch_session_and_keeps_order():
    document = {
        "pipeline": [
            py("src", "echo", rows=[{"n": 3}, {"n": 1}, {"n": 2}]),
            mapped("sq", "square", {"items": "${src.rows}", "as": "row", "max_concurrency": 2}, x="${row.n}", at_once=2),
            py("total", "echo", squares="${sq}"),
        ]
    }
    wf = load_pipeline(document)
    assert wf.execute(session_id="P") == {"squares": [9, 1, 4]}
    run = wf.last_run
    assert [s for s, rec in run.sessions.items() if rec.group_id == "sq"] == ["P_sq[0]", "P_sq[1]", "P_sq[2]"]
    assert run.sessions["P_sq[1]"].tasks_run == ["sq[1]"]
    assert LOG.peak == 2


def test_a_failing_item_fails_the_map_naming_it_and_continue_hands_on_none():
    step = mapped("sq", "square_unless", {"items": [1, 2, 3]}, x="${item}", bad=2)
    with pytest.raises(ParallelGroupError, match=r"sq\[1\]"):
        load_pipeline({"pipeline": [step]}).execute()
    step = mapped("sq", "square_unless", {"items": [1, 2, 3], "on_error": "continue"}, x="${item}", bad=2)
    assert load_pipeline({"pipeline": [step]}).execute() == [1, None, 9]


def test_batch_keeps_its_meaning_next_to_map():
    document = {
        "pipeline": [
            {**py("sq", "square", x="${item}"), "batch": {"items": [2, 3]}},
            mapped("again", "square", {"items": "${sq.results}", "as": "r"}, x="${r.result}"),
        ]
    }
    wf = load_pipeline(document)
    assert wf.execute(session_id="B") == [16, 81]
    sessions = wf.last_run.sessions
    assert sessions["B"].tasks_run == ["sq", "again"]  # the batch ran its items inside its one task
    assert [s for s, rec in sessions.items() if rec.group_id == "again"] == ["B_again[0]", "B_again[1]"]


def test_map_and_batch_on_one_step_and_a_bad_on_error_are_refused_by_place():
    both = {**mapped("sq", "square", {"items": [1]}, x="${item}"), "batch": {"items": [1]}}
    with pytest.raises(PipelineValidationError, match=r"not both"):
        load_pipeline({"pipeline": [both]})
    bad = mapped("sq", "square", {"items": [1], "on_error": "rollback"}, x="${item}")
    with pytest.raises(PipelineValidationError, match=r"\$\.pipeline\[0\]\.map\.on_error: unknown on_error 'rollback'"):
        load_pipeline({"pipeline": [bad]})
    unknown = mapped("sq", "square", {"items": "${nowhere}"}, x="${item}")
    with pytest.raises(PipelineValidationError, match=r"map\.items.*nowhere"):
        load_pipeline({"pipeline": [unknown]})


def test_a_map_step_writes_back_out_as_it_was_read():
    document = {"pipeline": [py("src", "echo", rows=[1, 2]), mapped("sq", "square", {"items": "${src.rows}"}, x="${item}")]}
    wf = load_pipeline(document)
    assert wf.to_pipeline()["pipeline"] == document["pipeline"]
