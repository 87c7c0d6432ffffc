"""The notebook section (examples/pipeline_files.ipynb) runs top to bottom as shipped."""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "pipeline_files.ipynb"


def test_the_pipeline_notebook_runs(monkeypatch, capsys):
    monkeypatch.chdir(NOTEBOOK.parent)
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    namespace: dict = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{NOTEBOOK.name} cell", "exec"), namespace)
    assert namespace["report"] == {"total": 42.5, "orders": 2, "regions": {"eu": 42.5}, "tax": 8.5}
    assert namespace["summary"]["status"] == "succeeded"
    assert "5 problems in pipeline:" in capsys.readouterr().out
