"""Pipeline files that are too deep, or carry numbers no run could honour, are refused
before anything runs, with one short error naming the file and the position (line and
column in text, the JSON path in a document)."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from steps_under_test import LOG, py

from graflow_nb.core.checks import MAX_GROUP_DEPTH
from graflow_nb.pipeline import PipelineValidationError, load_pipeline, pipeline_from_text
from graflow_nb.pipeline.depth import MAX_DOCUMENT_DEPTH, too_deep_in_text
from graflow_nb.pipeline.errors import json_path


def refused(call) -> PipelineValidationError:
    with pytest.raises(PipelineValidationError) as caught:
        call()
    error = caught.value
    assert type(error) is PipelineValidationError
    assert len(str(error)) <= 2000 and str(error).count("\n") < 25
    assert LOG.calls == [], "nothing may run when the file is invalid"
    return error


def only_issue(error: PipelineValidationError) -> tuple[str, str, str]:
    assert len(error.errors) == 1
    issue = error.errors[0]
    return issue.origin, issue.path, issue.message


def nested_blocks(depth: int) -> dict:
    """``depth`` parallel blocks, each holding the next and one step."""
    inner = py("leaf")
    for level in range(depth):
        inner = {"parallel": [inner, py(f"s{level}")]}
    return {"pipeline": [py("start"), inner]}


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_ten_megabytes_of_brackets_is_one_short_error_with_line_and_column(write, suffix):
    path = write("deep" + suffix, "[" * 10_000_000)
    error = refused(lambda: load_pipeline(path))
    assert only_issue(error) == (
        str(path),
        f"line 1, column {MAX_DOCUMENT_DEPTH + 1}",
        f"lists and mappings nest {MAX_DOCUMENT_DEPTH + 1} deep here; at most {MAX_DOCUMENT_DEPTH} levels "
        f"are read (a pipeline needs far fewer): flatten this part of the document",
    )


def block_yaml(depth: int) -> str:
    """``nested_blocks(depth)`` as block-style YAML (PyYAML's dumper itself recurses)."""
    lines = ["pipeline:", f"  - {json.dumps(py('start'))}"]
    for level in range(depth):
        pad = "  " * (2 * level + 1)
        lines.append(f"{pad}- parallel:")
        lines.append(f"{pad}    - {json.dumps(py(f's{level}'))}")
    lines.append(f"{'  ' * (2 * depth + 1)}- {json.dumps(py('leaf'))}")
    return "\n".join(lines) + "\n"


def test_block_yaml_is_what_nested_blocks_says():
    assert yaml.safe_load(block_yaml(3))["pipeline"][1]["parallel"][0] == py("s0")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_two_hundred_nested_parallel_blocks_in_a_file(write, suffix):
    text = json.dumps(nested_blocks(200)) if suffix == ".json" else block_yaml(200)
    path = write("blocks" + suffix, text)
    _, where, message = only_issue(refused(lambda: load_pipeline(path)))
    line, column, depth = too_deep_in_text(text, suffix[1:])
    assert where == f"line {line}, column {column}" and depth == MAX_DOCUMENT_DEPTH + 1
    assert (line == 1) is (suffix == ".json")
    assert message.startswith(f"lists and mappings nest {MAX_DOCUMENT_DEPTH + 1} deep here")


def test_a_too_deep_dict_names_a_shortened_json_path():
    _, where, message = only_issue(refused(lambda: load_pipeline(nested_blocks(200))))
    head = "$.pipeline[1]" + ".parallel[0]" * 4
    assert where.startswith(head + ".<")
    assert " more>" in where and where.endswith(".parallel[0]")
    assert len(where) < 300
    assert message.startswith(f"lists and mappings nest {MAX_DOCUMENT_DEPTH + 1} deep here")


def test_parallel_blocks_past_the_group_limit_name_the_block():
    _, where, message = only_issue(refused(lambda: load_pipeline(nested_blocks(MAX_GROUP_DEPTH + 1))))
    # The 33rd block sits 32 blocks down: ("pipeline", 1) then ("parallel", 0) 32 times.
    assert where == json_path(("pipeline", 1, *("parallel", 0) * MAX_GROUP_DEPTH))
    assert where == "$.pipeline[1].parallel[0].parallel[0].parallel[0].parallel[0].<46 more>" + ".parallel[0]" * 5
    assert message == (
        f"parallel blocks nest {MAX_GROUP_DEPTH + 1} deep here; at most {MAX_GROUP_DEPTH} levels are "
        f"allowed: flatten the inner blocks or run them one after another"
    )


def test_parallel_blocks_at_the_limit_run_every_step_once():
    wf = load_pipeline(nested_blocks(MAX_GROUP_DEPTH))
    wf.execute(session_id="P", max_workers=2)
    expected = {"start", "leaf", *(f"s{level}" for level in range(MAX_GROUP_DEPTH))}
    assert sorted(LOG.names()) == sorted(expected)
    assert max(rec.depth for rec in wf.last_run.sessions.values()) == MAX_GROUP_DEPTH
    assert wf.last_run.status == "succeeded"


def test_brackets_inside_strings_do_not_count_and_escapes_are_honoured():
    deep_text = json.dumps({"pipeline": [py("a", "echo", note="[" * 500 + '\\"' + "{" * 500)]})
    assert too_deep_in_text(deep_text, "json") is None
    wf = pipeline_from_text(deep_text)
    wf.execute()
    assert LOG.calls == [("echo", {"note": "[" * 500 + "\\\"" + "{" * 500})]


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("step", math.nan, "timeout must be a finite number of seconds, got nan"),
        ("step", math.inf, "timeout must be a finite number of seconds, got inf"),
        ("step", 0, "0 is too small: use a value > 0"),
        ("step", -1, "-1 is too small: use a value > 0"),
        ("step", "5", "expected a number, got the string '5'"),
        ("block", math.nan, "timeout must be a finite number of seconds, got nan"),
        ("block", -math.inf, "-inf is too small: use a value > 0"),
    ],
)
def test_timeouts_no_run_could_honour(where, value, message):
    step = py("a")
    if where == "step":
        document, path = {"pipeline": [{**step, "timeout": value}]}, "$.pipeline[0].timeout"
    else:
        document, path = {"pipeline": [{"parallel": [step, py("b")], "timeout": value}]}, "$.pipeline[0].timeout"
    _, found_path, found = only_issue(refused(lambda: load_pipeline(document)))
    assert found_path == path
    assert message in found


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_retries", -1, "-1 is too small: use a value >= 0"),
        ("max_retries", "2", "expected an integer, got the string '2'"),
        ("retry_delay", math.inf, "retry_delay must be a finite number of seconds, got inf"),
    ],
)
def test_retry_settings_no_run_could_honour(key, value, message):
    extra = {"max_retries": 1} if key == "retry_delay" else {}
    document = {"pipeline": [{**py("a"), **extra, key: value}]}
    _, path, found = only_issue(refused(lambda: load_pipeline(document)))
    assert path == f"$.pipeline[0].{key}"
    assert message in found


def test_whole_floats_count_as_integers_as_json_schema_says():
    document = {"pipeline": [{**py("a", "flaky", failures=1), "max_retries": 1.0}]}
    wf = load_pipeline(document)
    wf.execute()
    assert LOG.names() == ["a", "a"]


def test_a_thousand_problems_are_counted_not_printed():
    document = {"pipeline": [py("same") for _ in range(1001)]}
    error = refused(lambda: load_pipeline(document))
    assert len(error.errors) == 1000
    assert str(error).splitlines()[-1] == "  ... and 985 more (all of them are in .errors)"


def test_a_huge_template_is_reported_cut_short():
    document = {"pipeline": [py("a", "echo", note="${" + "n" * 100_000 + "}")]}
    _, path, message = only_issue(refused(lambda: load_pipeline(document)))
    assert path == "$.pipeline[0].params.note"
    assert message.startswith("unknown template reference ${nnnn")
    assert len(message) > 100_000  # the issue keeps it all; only the message is cut


def nested_fan_outs(depth: int) -> dict:
    """An edge file whose fan-outs nest ``depth`` deep: s -> (a0 | b0), a0 -> (a1 | b1),
    ..., each pair joined again on the way back."""
    nodes, edges, previous = [py("s")], [], "s"
    for level in range(depth):
        nodes += [py(f"a{level}"), py(f"b{level}")]
        edges += [{"from": previous, "to": f"a{level}"}, {"from": previous, "to": f"b{level}"}]
        previous = f"a{level}"
    for level in reversed(range(depth)):
        nodes.append(py(f"j{level}"))
        inner = f"j{level + 1}" if level + 1 < depth else f"a{depth - 1}"
        edges += [{"from": inner, "to": f"j{level}"}, {"from": f"b{level}", "to": f"j{level}"}]
    return {"nodes": nodes, "edges": edges}


def test_edge_files_at_the_fan_out_limit_run_and_past_it_are_refused():
    wf = load_pipeline(nested_fan_outs(MAX_GROUP_DEPTH))
    wf.execute(session_id="E", max_workers=2)
    assert len(LOG.names()) == 1 + 3 * MAX_GROUP_DEPTH == len(set(LOG.names()))
    assert max(rec.depth for rec in wf.last_run.sessions.values()) == MAX_GROUP_DEPTH
    LOG.reset()
    for depth in (MAX_GROUP_DEPTH + 1, 200):
        assert only_issue(refused(lambda depth=depth: load_pipeline(nested_fan_outs(depth))))[1:] == (
            "$.edges",
            f"fan-outs nest {MAX_GROUP_DEPTH + 1} deep or more (each becomes a parallel group inside the "
            f"one before); at most {MAX_GROUP_DEPTH} levels are allowed: join some branches before "
            f"fanning out again",
        )


@pytest.mark.slow
def test_an_edge_file_chain_longer_than_the_recursion_limit_runs_in_order():
    count = 1100
    document = {
        "nodes": [py(f"n{i}") for i in range(count)],
        "edges": [{"from": f"n{i}", "to": f"n{i + 1}"} for i in range(count - 1)],
    }
    wf = load_pipeline(document)
    wf.execute(max_steps=count)
    assert LOG.names() == [f"n{i}" for i in range(count)]


def test_a_missing_input_with_a_huge_name_fails_with_a_short_message():
    from graflow_nb.pipeline import TemplateError

    wf = load_pipeline({"pipeline": [py("a", "echo", x="${workflow." + "k" * 50_000 + "}")]})
    with pytest.raises(TemplateError) as caught:
        wf.execute()
    assert str(caught.value).startswith("step 'a' ($.pipeline[0]): workflow input 'kkk")
    assert len(str(caught.value)) <= 600 and LOG.calls == []
