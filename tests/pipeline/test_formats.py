"""Both file formats compile to the graph the Python operators build (BEHAVIOURS 49, 50, 53, 28)."""

from __future__ import annotations

import json

import pytest
import yaml
from steps_under_test import LOG, py, record, shape

from graflow_nb import ParallelGroup, TaskWrapper, parallel, workflow
from graflow_nb.pipeline import load_pipeline, pipeline_from_text, pipeline_schema


def python_built(wiring) -> object:
    """The same wiring made by hand with the operators, every task a no-op."""
    with workflow("by_hand") as wf:
        made: dict[str, TaskWrapper] = {}

        def t(name: str) -> TaskWrapper:
            if name not in made:
                made[name] = TaskWrapper(name, lambda: None)
            return made[name]

        wiring(t)
    return wf


def test_pipeline_with_parallel_block_is_the_operator_graph_and_joins_once():
    """49: fetch, {parallel: [an, vi, su]}, combine == fetch >> (an | vi | su) >> combine."""
    wf = load_pipeline(
        {"pipeline": [py("fetch"), {"parallel": [py("an", delay=0.05), py("vi"), py("su", delay=0.02)]}, py("combine")]}
    )
    expected = python_built(lambda t: t("fetch") >> (t("an") | t("vi") | t("su")) >> t("combine"))
    assert shape(wf) == shape(expected)
    wf.execute(session_id="S")
    assert LOG.count("combine") == 1
    assert LOG.names().index("combine") == len(LOG.names()) - 1
    assert sorted(LOG.names()) == ["an", "combine", "fetch", "su", "vi"]
    assert wf.last_run.execution_sequence() == ["fetch", "an", "vi", "su", "combine"]


def test_edge_format_fan_out_and_fan_in_become_a_parallel_block():
    """50: f->a, f->v, a->c, v->c: both a and v run, c runs once after both."""
    wf = load_pipeline(
        {
            "nodes": [py("f"), py("a", delay=0.05), py("v"), py("c")],
            "edges": [
                {"from": "f", "to": "a"},
                {"from": "f", "to": "v"},
                {"from": "a", "to": "c"},
                {"from": "v", "to": "c"},
            ],
        }
    )
    assert shape(wf) == shape(python_built(lambda t: t("f") >> (t("a") | t("v")) >> t("c")))
    wf.execute(session_id="S")
    assert LOG.count("a") == LOG.count("v") == LOG.count("c") == 1
    assert LOG.names()[-1] == "c"
    assert {s for s in wf.last_run.sessions} == {"S", "S_a", "S_v"}


def test_edge_format_branch_chain_runs_by_readiness_not_by_level():
    """28: A->B (slow), A->C->E: E starts before B finishes, and never before C."""
    wf = load_pipeline(
        {
            "nodes": [py("A"), py("B", meet=["E"]), py("C"), py("E")],  # B ends only once E ran
            "edges": [{"from": "A", "to": "B"}, {"from": "A", "to": "C"}, {"from": "C", "to": "E"}],
        }
    )
    assert shape(wf) == shape(python_built(lambda t: t("A") >> (t("B") | (t("C") >> t("E")))))
    wf.execute()
    assert LOG.times["E"][0] < LOG.times["B"][1]
    assert LOG.times["C"][1] <= LOG.times["E"][0]


def test_edge_format_tangled_part_runs_each_node_once_after_all_its_inputs():
    """A DAG that is not nested fan-out/fan-in (a->c, a->d, b->d) keeps its plain edges:
    still every node once, every join after all its predecessors."""
    edges = [("s", "a"), ("s", "b"), ("a", "c"), ("a", "d"), ("b", "d"), ("c", "t"), ("d", "t")]
    wf = load_pipeline({"nodes": [py(n) for n in "sabcdt"], "edges": [{"from": a, "to": b} for a, b in edges]})
    assert sorted(wf.graph.edges) == sorted(edges)
    wf.execute()
    names = LOG.names()
    assert sorted(names) == sorted("sabcdt")
    assert names.index("d") > max(names.index("a"), names.index("b"))
    assert names[-1] == "t"


def test_a_tangled_part_runs_concurrently_with_ready_parallel():
    """The engine's ready-node scheduler runs the plain edges by readiness: a and b overlap."""
    edges = [("s", "a"), ("s", "b"), ("a", "c"), ("a", "d"), ("b", "d"), ("c", "t"), ("d", "t")]
    wf = load_pipeline(
        {
            "nodes": [py(n, meet={"a": ["b"], "b": ["a"]}.get(n, [])) for n in "sabcdt"],  # a and b meet
            "edges": [{"from": a, "to": b} for a, b in edges],
        }
    )
    wf.execute(ready_parallel=True)
    assert sorted(LOG.names()) == sorted("sabcdt")
    assert LOG.peak == 2
    assert LOG.times["d"][0] >= max(LOG.times["a"][1], LOG.times["b"][1])


def test_edge_format_drops_edges_implied_by_a_longer_path():
    wf = load_pipeline(
        {
            "nodes": [py("f"), py("a"), py("c")],
            "edges": [{"from": "f", "to": "a"}, {"from": "a", "to": "c"}, {"from": "f", "to": "c"}],
        }
    )
    assert shape(wf) == shape(python_built(lambda t: t("f") >> t("a") >> t("c")))


def test_edge_format_independent_sources_start_together_as_a_block():
    wf = load_pipeline(
        {"nodes": [py("a"), py("b"), py("c")], "edges": [{"from": "a", "to": "c"}, {"from": "b", "to": "c"}]}
    )
    assert shape(wf) == shape(python_built(lambda t: (t("a") | t("b")) >> t("c")))
    wf.execute()
    assert LOG.names()[-1] == "c" and LOG.count("c") == 1


def test_nested_parallel_blocks_run_once_in_nested_sessions():
    """53: a parallel block inside a parallel block; session ids nest."""
    wf = load_pipeline(
        {
            "pipeline": [
                py("a"),
                {"parallel": [py("x"), {"id": "b", "parallel": [py("b1"), py("b2")]}]},
                py("d"),
            ]
        }
    )
    expected = python_built(
        lambda t: t("a") >> parallel(t("x"), parallel(t("b1"), t("b2")).set_group_name("b")) >> t("d")
    )
    assert shape(wf) == shape(expected)
    wf.execute(session_id="S")
    assert sorted(LOG.names()) == ["a", "b1", "b2", "d", "x"]
    assert {"S", "S_x", "S_b", "S_b_b1", "S_b_b2"} == set(wf.last_run.sessions)
    assert wf.last_run.sessions["S_b_b1"].parent_id == "S_b"


def test_branch_can_be_a_sub_pipeline():
    """a >> ((b >> (b1 | b2) >> bm) | c) >> d, written as a file."""
    wf = load_pipeline(
        {
            "pipeline": [
                py("a"),
                {"parallel": [{"pipeline": [py("b"), {"parallel": [py("b1"), py("b2")]}, py("bm")]}, py("c")]},
                py("d"),
            ]
        }
    )
    expected = python_built(lambda t: t("a") >> ((t("b") >> (t("b1") | t("b2")) >> t("bm")) | t("c")) >> t("d"))
    assert shape(wf) == shape(expected)
    wf.execute(session_id="S")
    names = LOG.names()
    assert sorted(names) == ["a", "b", "b1", "b2", "bm", "c", "d"]
    assert names.index("bm") > max(names.index("b1"), names.index("b2"))
    assert sorted(wf.last_run.sessions) == ["S", "S_b", "S_b_b1", "S_b_b2", "S_c"]


def test_max_concurrency_caps_branches_in_flight():
    """23 through a file: six branches, max_concurrency 2 -> two at once (each holds until
    two were seen together), never more."""
    members = [py(f"p{i}", at_once=2, delay=0.01) for i in range(6)]
    wf = load_pipeline({"pipeline": [{"parallel": members, "max_concurrency": 2}]})
    group = next(iter(wf.graph.groups()))
    assert type(group) is ParallelGroup and group.max_concurrency == 2
    wf.execute()
    assert LOG.peak == 2
    assert sorted(LOG.names()) == [f"p{i}" for i in range(6)]


def test_yaml_and_json_files_give_the_same_workflow(write):
    document = {"name": "same", "pipeline": [py("fetch"), {"parallel": [py("a"), py("b")]}, py("store")]}
    from_json = load_pipeline(write("p.json", document))
    from_yaml = load_pipeline(write("p.yaml", document))
    assert shape(from_json) == shape(from_yaml)
    assert from_json.name == from_yaml.name == "same"


def test_workflow_is_named_after_the_file_when_the_file_has_no_name(write):
    wf = load_pipeline(write("nightly_job.yml", {"pipeline": [py("only")]}))
    assert wf.name == "nightly_job"


def test_pipeline_from_text_takes_yaml_or_json():
    yaml_text = yaml.safe_dump({"pipeline": [py("a"), py("b")]})
    json_text = json.dumps({"pipeline": [py("a"), py("b")]})
    assert shape(pipeline_from_text(yaml_text, "cell")) == shape(pipeline_from_text(json_text))
    assert pipeline_from_text(yaml_text).execute() == record("b")


def test_the_schema_ships_with_the_package_and_accepts_the_examples():
    from pathlib import Path

    from jsonschema import Draft202012Validator

    schema = pipeline_schema()
    Draft202012Validator.check_schema(schema)
    examples = Path(__file__).resolve().parents[2] / "examples"
    for name in ("etl_pipeline.yaml", "etl_dag.json"):
        document = yaml.safe_load((examples / name).read_text())
        assert list(Draft202012Validator(schema).iter_errors(document)) == [], name


def test_step_result_is_the_task_result_under_its_own_id():
    """21: parallel steps returning the same keys never conflict; each keeps its own output."""
    wf = load_pipeline({"pipeline": [{"parallel": [py("a", value=1), py("b", value=2)]}]})
    _, ctx = wf.execute(ret_context=True)
    assert ctx.get_result("a") == {"name": "a", "value": 1}
    assert ctx.get_result("b") == {"name": "b", "value": 2}


@pytest.mark.parametrize("fmt", ["pipeline", "edges"])
def test_renders_like_any_workflow(fmt):
    from graflow_nb.observe import draw_graph

    if fmt == "pipeline":
        wf = load_pipeline({"pipeline": [py("f"), {"parallel": [py("a"), py("b")]}, py("c")]})
    else:
        wf = load_pipeline(
            {
                "nodes": [py("f"), py("a"), py("b"), py("c")],
                "edges": [
                    {"from": "f", "to": "a"},
                    {"from": "f", "to": "b"},
                    {"from": "a", "to": "c"},
                    {"from": "b", "to": "c"},
                ],
            }
        )
    wf.execute(session_id="S")
    source = draw_graph(wf, wf.last_run).source
    assert '"ParallelGroup_1/fork" -> a' in source
    assert '"ParallelGroup_1/join" -> c' in source


def test_a_loaded_pipeline_steps_in_the_debugger():
    wf = load_pipeline({"pipeline": [py("fetch"), {"parallel": [py("a"), py("b")]}, py("store")]})
    with wf.debug(session_id="S") as dbg:
        assert str(dbg.step()) == "S: ran fetch; now held before ParallelGroup_1"
        assert str(dbg.step()) == "S: forked S_a, S_b; now waiting for S_a, S_b"
        assert str(dbg.step("S_b")) == "S_b: ran b; now finished, not merged yet"
    assert LOG.names()[:2] == ["fetch", "b"]
