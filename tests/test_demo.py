"""``python -m graflow_nb.demo`` as a user runs it: a subprocess, files on disk."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.usefixtures("dot")

KINDS = ("graph.svg", "graph.dot", "sessions.svg", "sessions.dot", "summary.json")


def test_demo_writes_renders_and_every_task_runs_once(tmp_path):
    out = tmp_path / "build"
    proc = subprocess.run(
        [sys.executable, "-m", "graflow_nb.demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    for name, root, branch in (("diamond", "4821", "4821_transform_a"), ("nested", "7", "7_b_b1")):
        for kind in KINDS:
            path = out / f"{name}_{kind}"
            assert path.is_file(), path
            assert str(path) in proc.stdout
        summary = json.loads((out / f"{name}_summary.json").read_text())
        assert summary["counts"] and set(summary["counts"].values()) == {1}
        sessions = {s["session_id"]: s for s in summary["sessions"]}
        assert sessions[root]["state"] == "closed"
        assert sessions[branch]["state"] == "merged"
        assert (sessions[branch]["enqueued"], sessions[branch]["dequeued"]) == (1, 1)
        ET.parse(out / f"{name}_graph.svg")
        ET.parse(out / f"{name}_sessions.svg")
        assert f"cluster_{branch}" in (out / f"{name}_graph.dot").read_text()
    diamond = json.loads((out / "diamond_summary.json").read_text())
    assert diamond["sequence"] == ["fetch", "transform_a", "transform_b", "store"]
    assert "4821  closed  enqueued 2 dequeued 2" in proc.stdout


def test_demo_without_dot_still_writes_source_and_fails(tmp_path, monkeypatch):
    empty = tmp_path / "no-bin"
    empty.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "graflow_nb.demo", "--out", str(tmp_path / "build")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(empty)},
    )
    assert proc.returncode == 1
    assert "apt install graphviz" in proc.stderr
    assert (tmp_path / "build" / "diamond_graph.dot").is_file()
    assert not (tmp_path / "build" / "diamond_graph.svg").exists()
