"""The pipeline-file commands exactly as docs/reference/pipeline-files.md writes them, in a scratch directory,
with the installed ``graflow-nb`` script in a real subprocess: ``wf.to_pipeline("out.yaml")``,
``graflow-nb render examples/etl_dag.json -o dag.svg``, and that page's pipeline block
beside ``graflow-nb validate`` and ``graflow-nb run ... --input region=eu --json --render run.svg``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from steps_under_test import double, fetch, increment, store

from graflow_nb import workflow
from graflow_nb.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[2]


def scratch_with_examples(tmp_path: Path) -> Path:
    (tmp_path / "examples").mkdir()
    for name in ("etl_pipeline.yaml", "etl_dag.json"):
        shutil.copy(ROOT / "examples" / name, tmp_path / "examples" / name)
    return tmp_path


def graflow_nb_cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("graflow-nb")
    return subprocess.run([str(script), *argv], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


# eu's orders in graflow_nb.pipeline.demo_steps: 10.0 and 32.5, taxed at 20 %
EU_REPORT = {"total": 42.5, "orders": 2, "regions": {"eu": 42.5}, "tax": 8.5}


def test_wf_to_pipeline_out_yaml_writes_a_file_that_loads_and_runs_the_same(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with workflow("diamond") as wf:
        fetch >> (double | increment) >> store
    wf.to_pipeline("out.yaml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.yaml"]
    document = yaml.safe_load((tmp_path / "out.yaml").read_text(encoding="utf-8"))
    assert document == {
        "name": "diamond",
        "pipeline": [
            {"id": "fetch", "type": "python", "function": "steps_under_test:fetch"},
            {"parallel": [
                {"id": "double", "type": "python", "function": "steps_under_test:double", "params": {"fetch": "${fetch}"}},
                {"id": "increment", "type": "python", "function": "steps_under_test:increment",
                 "params": {"fetch": "${fetch}"}},
            ]},
            {"id": "store", "type": "python", "function": "steps_under_test:store",
             "params": {"double": "${double}", "increment": "${increment}"}},
        ],
    }
    again = load_pipeline("out.yaml")
    assert again.execute() == 10
    assert again.last_run.task_counts() == {"fetch": 1, "ParallelGroup_1": 1, "double": 1, "increment": 1, "store": 1}


def test_graflow_nb_render_examples_etl_dag_json_o_dag_svg(tmp_path):
    scratch_with_examples(tmp_path)
    done = graflow_nb_cli(tmp_path, "render", "examples/etl_dag.json", "-o", "dag.svg")
    assert (done.returncode, done.stdout, done.stderr) == (0, "wrote dag.svg\n", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dag.svg", "examples"]
    svg = (tmp_path / "dag.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith(("<?xml", "<svg")) and svg.rstrip().endswith("</svg>")
    titles = [t.replace("&#45;&gt;", "->") for t in re.findall(r"<title>([^<]*)</title>", svg)]
    # the edge list's fan-out/fan-in became one parallel group; clean >> totals stays one branch
    assert sorted(titles) == sorted([
        "etl_dag", "extract", "clean", "totals", "regions", "sample", "report",
        "ParallelGroup_1/fork", "ParallelGroup_1/join",
        "extract->ParallelGroup_1/fork", "ParallelGroup_1/fork->clean", "ParallelGroup_1/fork->regions",
        "ParallelGroup_1/fork->sample", "clean->totals", "totals->ParallelGroup_1/join",
        "regions->ParallelGroup_1/join", "sample->ParallelGroup_1/join", "ParallelGroup_1/join->report",
    ])


def test_the_readme_pipeline_block_and_the_cli_run_agree(tmp_path, monkeypatch):
    cwd = scratch_with_examples(tmp_path)
    monkeypatch.chdir(cwd)
    wf = load_pipeline("examples/etl_pipeline.yaml")
    assert wf.execute(initial_channel={"region": "eu"}) == EU_REPORT
    in_python = wf.last_run.results()

    checked = graflow_nb_cli(cwd, "validate", "examples/etl_pipeline.yaml")
    assert (checked.returncode, checked.stdout, checked.stderr) == (
        0, "examples/etl_pipeline.yaml: ok (pipeline format, 5 steps, 1 parallel blocks)\n", "",
    )
    done = graflow_nb_cli(cwd, "run", "examples/etl_pipeline.yaml", "--input", "region=eu", "--json", "--render", "run.svg")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["workflow"], summary["status"]) == ("etl_pipeline", "succeeded")
    assert summary["results"]["report"] == EU_REPORT
    assert sorted(summary["results"]) == ["enrich", "extract", "regions", "report", "totals"]
    assert summary["results"] == {k: json.loads(json.dumps(in_python[k])) for k in summary["results"]}
    svg = (cwd / "run.svg").read_text(encoding="utf-8")
    titles = set(re.findall(r"<title>([^<]*)</title>", svg))
    assert {"extract", "totals", "regions", "enrich", "report"} <= titles
