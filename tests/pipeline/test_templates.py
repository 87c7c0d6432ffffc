"""``${step.key}`` and ``${workflow.input}``: substituted at run time, never evaluated (51)."""

from __future__ import annotations

import pytest
from steps_under_test import LOG

from graflow_nb.pipeline import PipelineValidationError, TemplateError, load_pipeline
from graflow_nb.pipeline.templates import Ref, parse, resolve


def echo(step_id: str, **params):
    return {"id": step_id, "type": "python", "function": "steps_under_test:echo", "params": params}


def test_references_read_the_named_steps_output():
    """51: ${fetch.response} and ${an.result} resolve from those steps' outputs."""
    wf = load_pipeline(
        {
            "pipeline": [
                echo("fetch", response="rows: 3"),
                echo("an", result="${fetch.response}"),
                echo("combine", prompt="Analysis: ${an.result}; raw: ${fetch.response}"),
            ]
        }
    )
    assert wf.execute() == {"prompt": "Analysis: rows: 3; raw: rows: 3"}


def test_a_lone_template_keeps_the_value_type():
    wf = load_pipeline(
        {"pipeline": [echo("src", n=[1, 2], d={"k": True}), echo("use", n="${src.n}", d="${src.d}", all="${src}")]}
    )
    assert wf.execute() == {"n": [1, 2], "d": {"k": True}, "all": {"n": [1, 2], "d": {"k": True}}}


def test_an_embedded_template_is_formatted_as_text():
    wf = load_pipeline({"pipeline": [echo("src", n=3, d={"k": 1}), echo("use", text="n=${src.n} d=${src.d}")]})
    assert wf.execute() == {"text": 'n=3 d={"k": 1}'}


def test_list_indices_walk_into_lists():
    wf = load_pipeline({"pipeline": [echo("src", rows=[{"id": 7}, {"id": 9}]), echo("use", second="${src.rows.1.id}")]})
    assert wf.execute() == {"second": 9}


def test_templates_inside_nested_params_are_substituted():
    wf = load_pipeline(
        {"pipeline": [echo("src", v="x"), echo("use", deep={"list": ["${src.v}", {"k": "<${src.v}>"}]})]}
    )
    assert wf.execute() == {"deep": {"list": ["x", {"k": "<x>"}]}}


def test_workflow_inputs_come_from_the_initial_channel_or_their_default():
    document = {
        "inputs": {"region": {"default": "all"}, "limit": {}},
        "pipeline": [echo("use", region="${workflow.region}", limit="${workflow.limit}")],
    }
    wf = load_pipeline(document)
    assert wf.execute(initial_channel={"limit": 5}) == {"region": "all", "limit": 5}
    assert wf.execute(initial_channel={"limit": 5, "region": "eu"}) == {"region": "eu", "limit": 5}


def test_a_missing_workflow_input_fails_the_step_with_how_to_pass_it():
    wf = load_pipeline({"inputs": {"url": {}}, "pipeline": [echo("get", url="${workflow.url}")]})
    with pytest.raises(TemplateError, match=r"workflow input 'url' was not given: run with --input url=\.\.\."):
        wf.execute()


def test_a_missing_key_at_run_time_names_the_step_and_the_keys_there_are():
    wf = load_pipeline({"pipeline": [echo("src", a=1), echo("use", v="${src.b}")]})
    with pytest.raises(
        TemplateError, match=r"step 'use' \(\$\.pipeline\[1\]\): \$\{src\.b\}: src has no key 'b' \(its keys: 'a'\)"
    ):
        wf.execute()


def test_templates_are_never_evaluated_as_code():
    with pytest.raises(PipelineValidationError, match=r"malformed template"):
        load_pipeline({"pipeline": [echo("x", v="${__import__('os').getcwd()}")]})
    assert LOG.calls == []


def test_substituted_values_are_not_substituted_again():
    """A value that itself contains ${...} is data, not a template."""
    wf = load_pipeline({"pipeline": [echo("src", v="$${src.v}-literal"), echo("use", v="got ${src.v}")]})
    assert wf.execute() == {"v": "got ${src.v}-literal"}


def test_double_dollar_writes_a_literal_template():
    assert parse("cost $${x} and ${a.b}") == ["cost ${x} and ", Ref("a", ("b",))]
    assert resolve("$${not.a.template}", lambda root: None) == "${not.a.template}"


def test_templates_resolve_in_branches_from_the_step_before_the_block():
    wf = load_pipeline(
        {
            "pipeline": [
                echo("src", v=2),
                {"parallel": [echo("a", v="${src.v}"), echo("b", v="${src.v}")]},
                echo("join", a="${a.v}", b="${b.v}"),
            ]
        }
    )
    assert wf.execute() == {"a": 2, "b": 2}
