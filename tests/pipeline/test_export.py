"""``to_pipeline(wf)``: a workflow written back out as a pipeline document."""

from __future__ import annotations

import json

import pytest
import yaml
from steps_under_test import double, fetch, increment, py, scale, shape, store

from graflow_nb import RetryPolicy, TaskWrapper, parallel, task, workflow
from graflow_nb.pipeline import NotExpressibleError, load_pipeline, to_pipeline


def test_a_loaded_pipeline_writes_back_unchanged():
    document = {
        "name": "round_trip",
        "description": "d",
        "inputs": {"region": {"default": "all"}},
        "pipeline": [
            py("src", value="${workflow.region}"),
            {
                "id": "fan",
                "parallel": [
                    py("a"),
                    {"pipeline": [py("b"), {"parallel": [py("b1"), py("b2")], "max_concurrency": 1}, py("bm")]},
                    {**py("each", "square", x="${item}"), "batch": {"items": [1, 2], "parallel": True}},
                ],
                "on_error": "continue",
                "timeout": 30,
            },
            py("store", value="${a.value}"),
        ],
    }
    assert to_pipeline(load_pipeline(document)) == document


def test_an_edge_file_writes_back_as_the_blocks_it_means():
    wf = load_pipeline(
        {
            "name": "dag",
            "nodes": [py("f"), py("a"), py("v"), py("c")],
            "edges": [
                {"from": "f", "to": "a"},
                {"from": "f", "to": "v"},
                {"from": "a", "to": "c"},
                {"from": "v", "to": "c"},
            ],
        }
    )
    assert to_pipeline(wf) == {"name": "dag", "pipeline": [py("f"), {"parallel": [py("a"), py("v")]}, py("c")]}


def test_a_python_built_graph_becomes_python_steps_that_run_the_same():
    with workflow("diamond") as wf:
        fetch >> (double | increment) >> store
    assert wf.execute() == 10
    document = to_pipeline(wf)
    assert document == {
        "name": "diamond",
        "pipeline": [
            {"id": "fetch", "type": "python", "function": "steps_under_test:fetch"},
            {
                "parallel": [
                    {
                        "id": "double",
                        "type": "python",
                        "function": "steps_under_test:double",
                        "params": {"fetch": "${fetch}"},
                    },
                    {
                        "id": "increment",
                        "type": "python",
                        "function": "steps_under_test:increment",
                        "params": {"fetch": "${fetch}"},
                    },
                ]
            },
            {
                "id": "store",
                "type": "python",
                "function": "steps_under_test:store",
                "params": {"double": "${double}", "increment": "${increment}"},
            },
        ],
    }
    again = load_pipeline(document)
    assert shape(again) == shape(wf)
    assert again.execute() == 10


def test_bound_values_retries_and_inputs_are_written():
    with workflow("bound") as wf:
        scaled = scale(task_id="scaled", factor=4)
        again = scale(task_id="again")
        retried = TaskWrapper(
            "retried",
            increment.func,
            max_retries=2,
            retry_policy=RetryPolicy(2, initial_interval=0.5, backoff_factor=1),
            timeout=1.5,
        )
        fetch >> scaled >> again >> retried
    steps = to_pipeline(wf)["pipeline"]
    assert steps[1]["params"] == {"fetch": "${fetch}", "factor": 4}
    assert steps[2]["params"] == {"fetch": "${fetch}", "factor": "${workflow.factor}"}
    assert steps[3]["max_retries"] == 2 and steps[3]["retry_delay"] == 0.5
    assert steps[3]["timeout"] == 1.5


def test_plain_fan_out_and_fan_in_become_the_edge_format():
    with workflow("edges") as wf:
        fetch >> double
        fetch >> increment
        double >> store
        increment >> store
    document = to_pipeline(wf)
    assert [n["id"] for n in document["nodes"]] == ["fetch", "double", "increment", "store"]
    assert document["edges"] == [
        {"from": "fetch", "to": "double"},
        {"from": "fetch", "to": "increment"},
        {"from": "double", "to": "store"},
        {"from": "increment", "to": "store"},
    ]
    assert load_pipeline(document).execute() == 10


def test_writes_json_and_yaml_files(tmp_path):
    wf = load_pipeline({"name": "w", "pipeline": [py("a"), py("b")]})
    to_pipeline(wf, tmp_path / "w.json")
    to_pipeline(wf, tmp_path / "w.yaml")
    assert json.loads((tmp_path / "w.json").read_text()) == yaml.safe_load((tmp_path / "w.yaml").read_text())
    assert shape(load_pipeline(tmp_path / "w.yaml")) == shape(wf)
    with pytest.raises(ValueError, match="use a .json, .yaml or .yml file name"):
        to_pipeline(wf, tmp_path / "w.txt")


def test_a_notebook_function_is_not_expressible():
    with workflow("local") as wf:

        @task
        def local_step():
            return 1

        fetch >> local_step
    with pytest.raises(
        NotExpressibleError, match=r"task 'local_step': '.*local_step' is not importable .*move it to a module"
    ):
        to_pipeline(wf)


def test_a_task_taking_the_context_is_not_expressible():
    with workflow("ctx") as wf:
        TaskWrapper("with_ctx", fetch.func, inject_context=True)
    with pytest.raises(NotExpressibleError, match="task 'with_ctx' takes an injected context"):
        to_pipeline(wf)


def test_a_group_with_a_policy_files_cannot_name_is_not_expressible():
    with workflow("policy") as wf:
        fetch >> parallel(double, increment).with_execution(policy="best_effort") >> store
    with pytest.raises(NotExpressibleError, match="uses policy 'best_effort'"):
        to_pipeline(wf)
