"""Every problem in a file is found before anything runs, and each names the file, the
JSON path and what to change (BEHAVIOURS 51, 52; issue #7 "Validation before anything runs")."""

from __future__ import annotations

import sys

import pytest
from steps_under_test import LOG, py

from graflow_nb.pipeline import PipelineValidationError, load_pipeline, pipeline_from_text, validate_pipeline


def problems(write, document, name: str = "pipeline.yaml") -> list[str]:
    path = write(name, document)
    with pytest.raises(PipelineValidationError) as caught:
        load_pipeline(path)
    assert LOG.calls == [], "nothing may run when the file is invalid"
    issues = caught.value.errors
    assert all(issue.origin == str(path) for issue in issues)
    return [f"{issue.path}: {issue.message}" for issue in issues]


def edges(*pairs: str) -> list[dict[str, str]]:
    return [{"from": p.split(">")[0], "to": p.split(">")[1]} for p in pairs]


def test_duplicate_ids(write):
    found = problems(write, {"pipeline": [py("fetch"), {"parallel": [py("fetch"), py("b")]}]})
    assert found == [
        "$.pipeline[1].parallel[0].id: duplicate id 'fetch' (first used at $.pipeline[0]): ids must be unique in a file"
    ]


def test_unknown_node_type(write):
    found = problems(write, {"pipeline": [{"id": "get", "type": "htttp", "params": {"url": "http://x"}}]})
    assert len(found) == 1
    assert found[0].startswith("$.pipeline[0].type: unknown step type 'htttp': did you mean 'http'? known types are ")


def test_unknown_template_reference_names_the_step_and_the_reference(write):
    """51: ${nope.x} is rejected before anything runs."""
    found = problems(write, {"pipeline": [py("fetch"), {"parallel": [py("an", value="${nope.x}"), py("vi")]}]})
    assert found == [
        "$.pipeline[1].parallel[0].params.value: unknown template reference ${nope.x}: no step 'nope' runs before "
        "this one (available here: fetch, workflow.<input>)"
    ]


def test_unknown_reference_suggests_a_close_id(write):
    found = problems(write, {"pipeline": [py("fetch"), py("use", value="${fecth.rows}")]})
    assert found == [
        "$.pipeline[1].params.value: unknown template reference ${fecth.rows}: no step 'fecth' runs before this one; "
        "did you mean 'fetch'?"
    ]


def test_reference_to_a_parallel_sibling(write):
    """52: one sibling in a parallel block may not read another."""
    found = problems(write, {"pipeline": [py("fetch"), {"parallel": [py("an"), py("vi", value="${an.result}")]}]})
    assert found == [
        "$.pipeline[1].parallel[1].params.value: ${an.result} reads parallel sibling 'an': both run at the same time "
        "in the block at $.pipeline[1], so its output does not exist yet; move 'an' before the block"
    ]


def test_reference_to_a_sibling_inside_a_sub_pipeline_branch(write):
    block = {"parallel": [{"pipeline": [py("a1"), py("a2")]}, {"pipeline": [py("b1"), py("b2", value="${a1}")]}]}
    found = problems(write, {"pipeline": [block]})
    assert found[0].startswith("$.pipeline[0].parallel[1].pipeline[1].params.value: ${a1} reads parallel sibling 'a1'")


def test_reference_to_a_later_step(write):
    found = problems(write, {"pipeline": [py("a", value="${b}"), py("b")]})
    assert found == [
        "$.pipeline[0].params.value: ${b}: step 'b' runs after this one; move it earlier, or this step later"
    ]


def test_reference_to_its_own_output(write):
    found = problems(write, {"pipeline": [py("a", value="${a.x}")]})
    assert found == [
        "$.pipeline[0].params.value: step 'a' cannot read its own output in ${a.x} (only its compensate can)"
    ]


def test_reference_to_a_parallel_block_id(write):
    found = problems(write, {"pipeline": [{"id": "grp", "parallel": [py("a"), py("b")]}, py("c", value="${grp}")]})
    assert found == [
        "$.pipeline[1].params.value: ${grp}: parallel block 'grp' has no output of its own; reference one of its "
        "steps (a, b)"
    ]


def test_edge_format_reference_to_a_step_that_is_not_upstream(write):
    document = {"nodes": [py("f"), py("a"), py("v", value="${a}"), py("c")], "edges": edges("f>a", "f>v", "a>c", "v>c")}
    found = problems(write, document, "dag.json")
    assert found == [
        "$.nodes[2].params.value: ${a}: step 'a' is not upstream of this step; add an edge path from 'a' to it"
    ]


def test_empty_parallel_block(write):
    """52"""
    found = problems(write, {"pipeline": [py("a"), {"parallel": []}]})
    assert found == ["$.pipeline[1].parallel: empty parallel block: put at least one step in it, or remove the block"]


def test_unknown_on_error(write):
    """52"""
    found = problems(write, {"pipeline": [{"parallel": [py("a"), py("b")], "on_error": "retry_all"}]})
    assert found == [
        "$.pipeline[0].on_error: unknown on_error 'retry_all': use fail_fast (the default), continue (alias ignore) "
        "or rollback"
    ]


def test_unknown_batch_on_error(write):
    step = {**py("each", "square", x="${item}"), "batch": {"items": [1], "on_error": "rollback"}}
    found = problems(write, {"pipeline": [step]})
    assert found == [
        "$.pipeline[0].batch.on_error: unknown on_error 'rollback': use fail_fast (the default), continue or ignore "
        "(rollback applies to parallel blocks only)"
    ]


def test_cycle_in_edges(write):
    document = {"nodes": [py("a"), py("b"), py("c")], "edges": edges("a>b", "b>c", "c>b")}
    found = problems(write, document, "dag.json")
    assert found == ["$.edges[2]: cycle b -> c -> b: a pipeline must not loop back; remove one of these edges"]


def test_edge_to_an_unknown_node(write):
    found = problems(write, {"nodes": [py("a"), py("b")], "edges": edges("a>bb")}, "dag.json")
    assert found == ["$.edges[0].to: edge names unknown node 'bb': did you mean 'b'?"]


def test_several_start_nodes_into_a_tangled_graph(write):
    document = {"nodes": [py(n) for n in "abcd"], "edges": edges("a>c", "a>d", "b>d")}
    found = problems(write, document, "dag.json")
    assert len(found) == 1
    assert found[0].startswith("$.edges: several start nodes (a, b) lead into a part of the graph that is not nested")


def test_unknown_key_with_the_usual_alias(write):
    found = problems(write, {"pipeline": [{"parallel": [py("a")], "max_concurrent": 2}]})
    assert found == ["$.pipeline[0].max_concurrent: unknown key 'max_concurrent': did you mean max_concurrency?"]


def test_missing_required_keys(write):
    found = problems(write, {"pipeline": [{"id": "a"}, {"type": "python", "function": "steps_under_test:undo"}]})
    assert found == ["$.pipeline[0]: missing required key 'type'", "$.pipeline[1]: missing required key 'id'"]


def test_entry_that_is_not_a_mapping(write):
    found = problems(write, {"pipeline": ["fetch"]})
    assert found == [
        "$.pipeline[0]: expected a step ({id, type, ...}) or a block ({parallel: [...]}), got the string 'fetch'"
    ]


def test_invalid_id(write):
    found = problems(write, {"pipeline": [py("my step")]})
    assert (
        found[0]
        == "$.pipeline[0].id: 'my step' is not a valid name: use letters, digits, '_' and '-', starting with a "
        "letter or '_'"
    )


def test_reserved_id(write):
    found = problems(write, {"pipeline": [py("workflow")]})
    assert found == ["$.pipeline[0].id: 'workflow' is reserved for ${workflow.<input>}: choose another id"]


def test_python_function_that_does_not_import(write):
    step = {"id": "a", "type": "python", "function": "no_such_module_xyz:run"}
    found = problems(write, {"pipeline": [step]})
    assert found[0].startswith(
        "$.pipeline[0].function: function 'no_such_module_xyz:run': cannot import module 'no_such_module_xyz'"
    )


def test_python_function_missing_from_its_module(write):
    found = problems(write, {"pipeline": [{"id": "a", "type": "python", "function": "steps_under_test:nope"}]})
    assert found == [
        "$.pipeline[0].function: function 'steps_under_test:nope': 'steps_under_test' has no attribute 'nope'"
    ]


def test_python_params_the_function_does_not_take(write):
    found = problems(write, {"pipeline": [py("a", "square", x=1, y=2)]})
    assert found == ["$.pipeline[0].params.y: square() has no parameter 'y' (it takes: at_once, delay, x)"]


def test_python_params_missing_a_required_argument(write):
    found = problems(write, {"pipeline": [py("a", "square")]})
    assert found == ["$.pipeline[0].params: square() needs parameter 'x': add it to params"]


def test_python_step_without_function(write):
    found = problems(write, {"pipeline": [{"id": "a", "type": "python"}]})
    assert found == ["$.pipeline[0]: a python step needs 'function': 'package.module:function'"]


def test_retry_delay_without_retries(write):
    found = problems(write, {"pipeline": [{**py("a"), "retry_delay": 0.5}]})
    assert found == ["$.pipeline[0].retry_delay: retry_delay needs max_retries (extra attempts) > 0 to mean anything"]


def test_negative_max_retries(write):
    found = problems(write, {"pipeline": [{**py("a"), "max_retries": -1}]})
    assert found == ["$.pipeline[0].max_retries: -1 is too small: use a value >= 0"]


def test_compensate_outside_a_rollback_block(write):
    step = {**py("a"), "compensate": {"type": "python", "function": "steps_under_test:undo"}}
    found = problems(write, {"pipeline": [{"parallel": [step, py("b")], "on_error": "continue"}]})
    assert found == [
        "$.pipeline[0].parallel[0].compensate: compensate runs only for a step that is a whole branch of a parallel "
        "block with on_error: rollback (the block undoes its succeeded branches); this step is not one"
    ]


def test_compensate_inside_a_sub_pipeline_branch(write):
    step = {**py("a2"), "compensate": {"type": "python", "function": "steps_under_test:undo"}}
    branch = {"pipeline": [py("a1"), step]}
    found = problems(write, {"pipeline": [{"parallel": [branch, py("b")], "on_error": "rollback"}]})
    assert len(found) == 1
    assert found[0].startswith("$.pipeline[0].parallel[0].pipeline[1].compensate: compensate runs only for a step")


def test_batch_items_must_be_a_list_or_one_template(write):
    step = {**py("each", "square", x="${item}"), "batch": {"items": "1,2,3"}}
    found = problems(write, {"pipeline": [step]})
    assert found == [
        "$.pipeline[0].batch.items: batch items must be a list or one template giving a list, like '${fetch.files}'; "
        "got '1,2,3'"
    ]


def test_batch_item_name_clashing_with_a_step(write):
    step = {**py("each", "square", x="${src}"), "batch": {"items": "${src.rows}", "as": "src"}}
    found = problems(write, {"pipeline": [py("src"), step]})
    assert found == [
        "$.pipeline[1].batch.as: batch item name 'src' is also a step id or reserved: choose another 'as' name"
    ]


def test_batch_concurrency_without_parallel(write):
    step = {**py("each", "square", x="${item}"), "batch": {"items": [1, 2], "max_concurrency": 2}}
    found = problems(write, {"pipeline": [step]})
    assert found == [
        "$.pipeline[0].batch.max_concurrency: max_concurrency limits a parallel batch: add parallel: true, or remove it"
    ]


def test_batch_item_name_is_unknown_outside_its_step(write):
    step = {**py("each", "square", x="${item}"), "batch": {"items": [1, 2]}}
    found = problems(write, {"pipeline": [step, py("after", value="${item}")]})
    assert found[0].startswith("$.pipeline[1].params.value: unknown template reference ${item}")


def test_shell_step_without_cmd(write):
    found = problems(write, {"pipeline": [{"id": "sh", "type": "shell", "params": {"cwd": "/tmp"}}]})
    assert found == ["$.pipeline[0].params: missing required key 'cmd'"]


def test_shell_true_needs_a_command_string(write):
    step = {"id": "sh", "type": "shell", "params": {"cmd": ["ls", "-l"], "shell": True}}
    found = problems(write, {"pipeline": [step]})
    assert found == [
        "$.pipeline[0].params.cmd: shell: true runs a command string: give cmd as one string, or drop shell: true"
    ]


def test_http_url_must_be_http(write):
    found = problems(write, {"pipeline": [{"id": "get", "type": "http", "params": {"url": "file:///etc/passwd"}}]})
    assert found == [
        "$.pipeline[0].params.url: url 'file:///etc/passwd' must start with http:// or https:// (got scheme 'file')"
    ]


def test_http_unknown_method(write):
    found = problems(
        write, {"pipeline": [{"id": "get", "type": "http", "params": {"url": "http://x", "method": "FETCH"}}]}
    )
    assert found == [
        "$.pipeline[0].params.method: 'FETCH' is not allowed here: use one of GET, POST, PUT, PATCH, DELETE, HEAD, "
        "OPTIONS"
    ]


def test_malformed_template(write):
    found = problems(write, {"pipeline": [py("a", value="${a b}")]})
    assert found[0].startswith("$.pipeline[0].params.value: malformed template ${a b}")


def test_unclosed_template(write):
    found = problems(write, {"pipeline": [py("a", value="${a.b")]})
    assert found[0].startswith("$.pipeline[0].params.value: unclosed template in '${a.b'")


def test_undeclared_workflow_input(write):
    found = problems(write, {"inputs": {"url": {}}, "pipeline": [py("a", value="${workflow.ur}")]})
    assert found == [
        "$.pipeline[0].params.value: unknown workflow input in ${workflow.ur}: declare 'ur' under 'inputs' "
        "(declared: url)"
    ]


def test_both_formats_at_once(write):
    found = problems(write, {"pipeline": [py("a")], "nodes": [py("b")], "edges": []})
    assert found == ["$: use either 'pipeline' (steps in order) or 'nodes' with 'edges', not both"]


def test_neither_format(write):
    found = problems(write, {"name": "x"})
    assert found == ["$: nothing to run: give 'pipeline': [steps...] or 'nodes': [...] with 'edges': [{from, to}]"]


def test_yaml_syntax_error_names_line_and_column(write):
    found = problems(write, "pipeline:\n  - id: a\n    type: [python\n")
    assert len(found) == 1 and found[0].startswith("line 4, column 1: YAML syntax error:")


def test_json_syntax_error_names_line_and_column(write):
    found = problems(write, '{"pipeline": [\n  {"id": "a",}\n]}', "bad.json")
    if sys.version_info >= (3, 13):  # Python 3.13's json names the trailing comma itself
        assert found == ["line 2, column 13: JSON syntax error: Illegal trailing comma before end of object"]
    else:
        assert found == ["line 2, column 14: JSON syntax error: Expecting property name enclosed in double quotes"]


def test_repeated_yaml_key(write):
    found = problems(write, "pipeline:\n  - id: a\n    id: b\n    type: python\n")
    assert found == ["line 3, column 5: YAML syntax error: key 'id' appears twice in one mapping; keep one"]


def test_all_problems_are_reported_at_once_in_document_order(write):
    document = {
        "pipeline": [
            py("a"),
            {"parallel": []},
            {"parallel": [py("x", value="${y.z}"), py("y")], "on_error": "explode"},
            {"id": "a", "type": "pyton"},
            py("c", value="${nope.x}"),
        ]
    }
    path = write("many.yaml", document)
    with pytest.raises(PipelineValidationError) as caught:
        load_pipeline(path)
    text = str(caught.value)
    assert text.startswith("6 problems in pipeline:\n")
    paths = [issue.path for issue in caught.value.errors]
    assert paths == [
        "$.pipeline[1].parallel",
        "$.pipeline[2].on_error",
        "$.pipeline[2].parallel[0].params.value",
        "$.pipeline[3].id",
        "$.pipeline[3].type",
        "$.pipeline[4].params.value",
    ]
    assert all(line.startswith(f"  {path}: ") for line in text.splitlines()[1:])


def test_validate_pipeline_checks_without_building(write):
    pipeline = validate_pipeline(write("ok.json", {"pipeline": [py("a"), {"parallel": [py("b"), py("c")]}]}))
    assert [s for s in pipeline.steps] == ["a", "b", "c"]
    assert pipeline.format == "pipeline"


def test_text_from_a_cell_is_named_in_messages():
    with pytest.raises(
        PipelineValidationError,
        match=r"^1 problem in pipeline:\n  my-cell: \$\.pipeline\[0\]: missing required key 'type'",
    ):
        pipeline_from_text("pipeline:\n  - id: a\n", "my-cell")


def test_a_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pipeline(tmp_path / "nope.yaml")
