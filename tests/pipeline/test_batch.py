"""``batch:``: one step over many items, results in input order, errors as data (54, 55)."""

from __future__ import annotations

import json

import pytest
from steps_under_test import LOG, py

from graflow_nb.pipeline import BatchError, load_pipeline


def batched(step_id: str, function: str, batch: dict, **params) -> dict:
    return {**py(step_id, function, **params), "batch": batch}


def test_parallel_batch_keeps_input_order_and_resolves_the_item_name():
    """54: items [3, 1, 2], as x, parallel, max_concurrency 2."""
    step = batched(
        "sq", "square", {"items": [3, 1, 2], "as": "x", "parallel": True, "max_concurrency": 2}, x="${x}", at_once=2
    )
    wf = load_pipeline({"pipeline": [step]})
    out = wf.execute()
    assert out["results"] == [
        {"item": 3, "original_index": 0, "result": 9},
        {"item": 1, "original_index": 1, "result": 1},
        {"item": 2, "original_index": 2, "result": 4},
    ]
    assert out["errors"] == []
    assert out["batch_metadata"] == {"total": 3, "succeeded": 3, "failed": 0, "skipped": 0}
    assert LOG.peak == 2


def test_batch_items_can_come_from_an_earlier_step_and_feed_a_later_one():
    document = {
        "pipeline": [
            py("src", "echo", rows=[{"n": 2}, {"n": 5}]),
            batched("sq", "square", {"items": "${src.rows}", "as": "row"}, x="${row.n}"),
            py("sum", "echo", results="${sq.results}", meta="${sq.batch_metadata.succeeded}"),
        ]
    }
    out = load_pipeline(document).execute()
    assert [r["result"] for r in out["results"]] == [4, 25]
    assert out["meta"] == 2


def test_continue_records_a_failing_item_as_plain_data():
    """55: item 1 fails -> results holds the successes, errors == [{index: 1, item, error}]."""
    step = batched("sq", "square_unless", {"items": [1, 2, 3], "on_error": "continue"}, x="${item}", bad=2)
    out = load_pipeline({"pipeline": [step]}).execute()
    assert [r["original_index"] for r in out["results"]] == [0, 2]
    assert out["errors"] == [{"index": 1, "item": 2, "error": "ValueError: item 2 is bad"}]
    assert out["batch_metadata"] == {"total": 3, "succeeded": 2, "failed": 1, "skipped": 0}
    assert json.loads(json.dumps(out)) == out


def test_ignore_is_continue():
    step = batched("sq", "square_unless", {"items": [1, 2], "on_error": "ignore", "parallel": True}, x="${item}", bad=1)
    out = load_pipeline({"pipeline": [step]}).execute()
    assert out["errors"] == [{"index": 0, "item": 1, "error": "ValueError: item 1 is bad"}]


def test_fail_fast_stops_starting_items_and_fails_the_step_with_the_record():
    step = batched("sq", "square_unless", {"items": [1, 2, 3, 4]}, x="${item}", bad=2)
    wf = load_pipeline({"pipeline": [step, py("after")]})
    with pytest.raises(
        BatchError, match=r"batch step 'sq': 1 of 4 item\(s\) failed; first: item 1 \(2\): ValueError: item 2 is bad"
    ) as caught:
        wf.execute()
    assert caught.value.batch["batch_metadata"] == {"total": 4, "succeeded": 1, "failed": 1, "skipped": 2}
    assert [x for name, x in LOG.calls if name == "square_unless"] == [1, 2]
    assert LOG.count("after") == 0


def test_retries_apply_to_each_item_on_its_own():
    step = {**batched("f", "flaky", {"items": ["a", "b"], "as": "key"}, name="${key}", failures=1), "max_retries": 1}
    out = load_pipeline({"pipeline": [step]}).execute()
    assert [r["result"] for r in out["results"]] == [{"attempt": 2}, {"attempt": 2}]
    assert LOG.attempts == {"a": 2, "b": 2}


def test_items_that_are_not_a_list_fail_clearly():
    document = {
        "pipeline": [
            py("src", "echo", rows="not a list"),
            batched("sq", "square", {"items": "${src.rows}"}, x="${item}"),
        ]
    }
    with pytest.raises(TypeError, match=r"step 'sq': batch items '\$\{src.rows\}' gave a str, not a list"):
        load_pipeline(document).execute()


def test_an_empty_batch_is_fine():
    out = load_pipeline({"pipeline": [batched("sq", "square", {"items": [], "parallel": True}, x="${item}")]}).execute()
    assert out == {
        "results": [],
        "errors": [],
        "batch_metadata": {"total": 0, "succeeded": 0, "failed": 0, "skipped": 0},
    }


def test_a_batch_step_inside_a_parallel_block():
    document = {
        "pipeline": [
            py("src", "echo", xs=[1, 2, 3]),
            {"parallel": [batched("sq", "square", {"items": "${src.xs}", "parallel": True}, x="${item}"), py("other")]},
        ]
    }
    wf = load_pipeline(document)
    _, ctx = wf.execute(ret_context=True)
    assert [r["result"] for r in ctx.get_result("sq")["results"]] == [1, 4, 9]
