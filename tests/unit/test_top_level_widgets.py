"""The widgets a first analysis needs are importable from the top
(``from graflow_nb import DebuggerWidget``), and ``import graflow_nb`` alone still
loads no widget library: they load on first use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# the checkout under test: the one PYTHONPATH names, else this one
ROOT = os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parents[2])

NAMES = ("DebuggerWidget", "HumanInputPanel", "RunInputs", "TaskInspector", "BuilderWidget")


def test_widgets_import_from_the_top_and_load_ipywidgets_only_then(tmp_path):
    code = (
        "import sys, graflow_nb\n"
        "print('ipywidgets' in sys.modules)\n"
        f"from graflow_nb import {', '.join(NAMES)}\n"
        "import graflow_nb.notebook as nb\n"
        f"print(all(getattr(graflow_nb, n) is getattr(nb, n) for n in {NAMES!r}))\n"
        f"print(set({NAMES!r}) <= set(graflow_nb.__all__))\n"
        "print('ipywidgets' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT}
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "True", "True"]
