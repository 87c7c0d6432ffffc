"""What graflow_nb leaves out of its wheel in Pyodide (pandas, PyYAML, jsonschema: only
Pyodide's CDN serves them) fails, when graflow_nb's own code imports it, with one error
saying to import it in a cell first.  Pyodide is stood in for by ``sys.platform`` set
to "emscripten" and the package made unimportable."""

from __future__ import annotations

import sys

import pytest

import graflow_nb
from graflow_nb import task, workflow


def ran():
    with workflow("left_out") as wf:
        @task
        def only():
            return 1
    wf.execute("only", session_id="O")
    return wf


def without(monkeypatch, package: str, *modules: str) -> None:
    """``package`` can't be imported, and ``modules`` (which import it) load anew."""
    monkeypatch.setitem(sys.modules, package, None)
    for name in [m for m in sys.modules if m.startswith(modules)]:
        monkeypatch.delitem(sys.modules, name)


def test_in_pyodide_run_frames_without_pandas_says_to_import_it_in_a_cell(monkeypatch):
    wf = ran()
    without(monkeypatch, "pandas", "graflow_nb.observe.frames")
    monkeypatch.setattr(sys, "platform", "emscripten")
    with pytest.raises(ModuleNotFoundError) as raised:
        _ = wf.last_run.frames
    assert str(raised.value) == (
        "run.frames needs pandas, which graflow_nb doesn't install in the browser (Pyodide): run `import pandas` "
        "in a cell first (Pyodide then loads it, from its CDN), or `%pip install pandas`"
    )
    assert raised.value.name == "pandas"
    monkeypatch.setattr(sys, "platform", "linux")  # elsewhere the import's own error stands
    with pytest.raises(ModuleNotFoundError) as raised:
        _ = wf.last_run.frames
    assert raised.value.name == "pandas" and "Pyodide" not in str(raised.value)


def test_in_pyodide_pipeline_files_without_yaml_say_to_import_it_in_a_cell(monkeypatch):
    wf = ran()
    without(monkeypatch, "yaml", "graflow_nb.pipeline")
    monkeypatch.setattr(sys, "platform", "emscripten")
    with pytest.raises(ModuleNotFoundError, match=r"^graflow_nb.load_pipeline needs yaml, .*`import yaml` in a cell "
                       r"first .*`%pip install pyyaml`$"):
        _ = graflow_nb.load_pipeline
    with pytest.raises(ModuleNotFoundError, match=r"^wf.to_pipeline\(\) needs yaml, "):
        wf.to_pipeline()

