"""``graflow-nb run | validate | render``: output, progress lines and exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from steps_under_test import py

from graflow_nb.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_example_pipeline_runs_from_the_command_line():
    """CI: ``graflow-nb run examples/etl_pipeline.yaml --json`` in a fresh interpreter."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "graflow_nb.cli",
            "run",
            str(EXAMPLES / "etl_pipeline.yaml"),
            "--json",
            "--input",
            "region=eu",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "succeeded"
    assert summary["results"]["report"] == {"total": 42.5, "orders": 2, "regions": {"eu": 42.5}, "tax": 8.5}
    assert summary["task_counts"] == {"succeeded": 5, "failed": 0, "cancelled": 0, "skipped": 0}
    lines = done.stderr.splitlines()
    finished = [line.split()[2] for line in lines if line.startswith("[")]
    assert finished[0] == "extract" and finished[-1] == "report"
    assert sorted(finished[1:-1]) == ["enrich", "regions", "totals"]
    assert lines[0].startswith("[1/5]") and lines[-1].startswith("[5/5]")


def test_the_example_dag_runs_and_renders(tmp_path):
    svg = tmp_path / "run.svg"
    done = subprocess.run(
        [sys.executable, "-m", "graflow_nb.cli", "run", str(EXAMPLES / "etl_dag.json"), "--render", str(svg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("etl_dag: succeeded in ")
    assert "(6 succeeded, 0 failed, 0 skipped)" in done.stdout
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_progress_lines_name_each_task_status_and_session(write):
    path = write("p.yaml", {"pipeline": [py("a"), {"parallel": [py("b"), py("c")]}, py("d")]})
    code, out, err = cli("run", str(path), "--session-id", "S")
    assert code == 0
    rows = [line.split() for line in err.splitlines()]
    assert rows[0][:3] == ["[1/4]", "ok", "a"] and rows[0][-1] == "S"
    assert {(r[2], r[-1]) for r in rows[1:3]} == {("b", "S_b"), ("c", "S_c")}
    assert rows[3][:4] == ["ok", "ParallelGroup_1", "(parallel", "block)"]
    assert rows[4][:3] == ["[4/4]", "ok", "d"]
    assert out.startswith("p: succeeded in ")


def test_a_failed_run_exits_1_and_reports_the_error(write):
    path = write("fails.yaml", {"pipeline": [py("a"), py("b", "fail")]})
    code, out, err = cli("run", str(path), "--json")
    assert code == 1
    summary = json.loads(out)
    assert summary["status"] == "failed"
    assert summary["errors"] == [{"task_id": "b", "session_id": summary["session_id"], "error": "ValueError: b: boom"}]
    assert "FAILED b" in " ".join(err.split())


def test_a_degraded_run_still_exits_0(write):
    path = write(
        "degraded.yaml", {"pipeline": [{"parallel": [py("a"), py("b", "fail")], "on_error": "continue"}, py("c")]}
    )
    code, out, _ = cli("run", str(path), "--json")
    assert code == 0
    assert json.loads(out)["status"] == "degraded"


def test_inputs_are_json_when_they_parse_and_text_otherwise(write):
    step = {
        "id": "e",
        "type": "python",
        "function": "steps_under_test:echo",
        "params": {"n": "${workflow.n}", "s": "${workflow.s}"},
    }
    path = write("inputs.yaml", {"pipeline": [step]})
    code, out, _ = cli("run", str(path), "--json", "--input", "n=3", "--input", "s=eu-west")
    assert code == 0
    assert json.loads(out)["results"]["e"] == {"n": 3, "s": "eu-west"}


def test_a_missing_required_input_exits_2_before_running(write):
    path = write("needs.yaml", {"inputs": {"url": {}}, "pipeline": [py("a", value="${workflow.url}")]})
    code, _, err = cli("run", str(path))
    assert code == 2
    assert "missing required input(s): url; pass --input NAME=VALUE" in err


def test_a_malformed_input_is_a_usage_error(write, capsys):
    path = write("p.yaml", {"pipeline": [py("a")]})
    code, _, _ = cli("run", str(path), "--input", "novalue")
    assert code == 2
    assert "--input expects name=value, got 'novalue'" in capsys.readouterr().err


def test_validate_ok_and_invalid(write):
    good = write("good.json", {"pipeline": [py("a"), {"parallel": [py("b"), py("c")]}]})
    code, out, _ = cli("validate", str(good))
    assert (code, out) == (0, f"{good}: ok (pipeline format, 3 steps, 1 parallel blocks)\n")
    bad = write("bad.yaml", {"pipeline": [py("a"), {"parallel": []}, py("a", value="${nope}")]})
    code, out, err = cli("validate", str(bad))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "3 problems in pipeline:",
        f"  {bad}: $.pipeline[1].parallel: empty parallel block: put at least one step in it, or remove the block",
        f"  {bad}: $.pipeline[2].id: duplicate id 'a' (first used at $.pipeline[0]): ids must be unique in a file",
        f"  {bad}: $.pipeline[2].params.value: unknown template reference ${{nope}}: no step 'nope' runs before this "
        "one (available here: a, workflow.<input>)",
    ]


def test_validate_a_missing_file_exits_2(tmp_path):
    code, _, err = cli("validate", str(tmp_path / "none.yaml"))
    assert code == 2 and "does not exist" in err


def test_render_writes_the_graph(tmp_path):
    target = tmp_path / "graph.dot"
    code, out, _ = cli("render", str(EXAMPLES / "etl_pipeline.yaml"), "-o", str(target))
    assert code == 0 and out == f"wrote {target}\n"
    assert '"branches/fork" -> totals' in target.read_text()


def test_render_to_an_unknown_format_fails(tmp_path):
    code, _, err = cli("render", str(EXAMPLES / "etl_dag.json"), "-o", str(tmp_path / "graph.gif"))
    assert code == 1 and "use a .svg, .png or .dot file name" in err


@pytest.mark.parametrize("argv", [[], ["explode"], ["run"]])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "usage: graflow-nb" in capsys.readouterr().err


def test_ready_parallel_runs_a_tangled_edge_file(write):
    edges = [("s", "a"), ("s", "b"), ("a", "c"), ("a", "d"), ("b", "d")]
    path = write("tangled.json", {"nodes": [py(n) for n in "sabcd"], "edges": [{"from": a, "to": b} for a, b in edges]})
    code, out, err = cli("run", str(path), "--ready-parallel", "--json")
    assert code == 0, err
    assert json.loads(out)["task_counts"]["succeeded"] == 5


def test_a_failed_run_leaves_a_checkpoint_that_resume_continues_after_the_file_is_fixed(write, tmp_path):
    from steps_under_test import LOG

    document = {"pipeline": [py("a"), {"parallel": [py("b"), py("c", "fail")], "max_concurrency": 1}, py("d")]}
    path = write("fix.yaml", document)
    code, out, _ = cli("run", str(path), "--session-id", "F", "--checkpoint-dir", str(tmp_path / "ck"))
    assert code == 1
    checkpoint = tmp_path / "ck" / "F.pkl"
    assert f"checkpoint: {checkpoint}" in out
    assert [name for name, _ in LOG.calls] == ["a", "b", "c"]

    LOG.reset()
    document["pipeline"][1]["parallel"][1] = py("c")  # the fix: same step id, working code
    write("fix.yaml", document)
    code, out, _ = cli("resume", str(path), str(checkpoint), "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["status"] == "succeeded" and summary["errors"] == []
    assert [name for name, _ in LOG.calls] == ["c", "d"]  # a and b did not run again

    document["pipeline"].append(py("e"))
    write("fix.yaml", document)
    code, _, err = cli("resume", str(path), str(checkpoint))
    assert code == 2 and "added tasks: 'task:e'" in err and "'d' >> 'e'" in err
