"""The pipeline-file commands exactly as README.md writes them, run in a scratch
directory: ``wf.to_pipeline("out.yaml")`` and ``graflow-nb render examples/etl_dag.json
-o dag.svg`` (the installed console script, in a real subprocess)."""

from __future__ import annotations

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
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "etl_dag.json", tmp_path / "examples" / "etl_dag.json")
    script = Path(sys.executable).with_name("graflow-nb")
    done = subprocess.run(
        [str(script), "render", "examples/etl_dag.json", "-o", "dag.svg"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
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
