"""``make lite``: a JupyterLite site of notebooks/ with graflow_nb's wheel bundled in it.

The test builds the wheel from a copy of the checkout and the site from that wheel
(``make lite-site``, the recipe ``make lite`` runs after ``make dist``) with no network,
in the build/lite-venv that ``make lite-env`` (part of ``make test``) installs, and
checks what the site serves: the wheel in its package index, every notebook in its
contents, the Pyodide kernel and the widgets' extensions, and the Pyodide runtime with
the packages the kernel and graflow_nb load (tests/lite/test_in_the_browser.py opens
it in Chromium)."""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest

import graflow_nb

from .conftest import ROOT

pytestmark = pytest.mark.slow


def test_the_site_serves_graflow_nbs_wheel_in_its_package_index(site):
    index = json.loads((site / "pypi" / "all.json").read_text())
    wheel = f"graflow_nb-{graflow_nb.__version__}-py3-none-any.whl"
    assert [r["filename"] for v in index["graflow-nb"]["releases"].values() for r in v] == [wheel]
    with zipfile.ZipFile(site / "pypi" / wheel) as bundled:
        names = bundled.namelist()
    # This checkout's code: the thread-free path Pyodide needs is in it.
    assert "graflow_nb/core/runtime/threadless.py" in names
    assert "graflow_nb/core/runtime/executors/sequential.py" in names


def test_the_site_lists_every_notebook(site):
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 10
    listed = json.loads((site / "api" / "contents" / "all.json").read_text())["content"]
    assert sorted(c["name"] for c in listed if c["type"] == "notebook") == notebooks
    for name in notebooks:
        assert (site / "files" / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()


def test_the_site_has_the_pyodide_kernel_and_the_widgets_extensions(site):
    config = json.loads((site / "jupyter-lite.json").read_text())["jupyter-config-data"]
    extensions = {e["name"] for e in config["federated_extensions"]}
    assert {"@jupyterlite/pyodide-kernel-extension", "@jupyter-widgets/jupyterlab-manager", "anywidget"} <= extensions
    assert (site / "index.html").exists() and (site / "lab" / "index.html").exists()


def test_the_site_serves_the_pyodide_runtime_and_what_the_kernel_and_graflow_nb_load(site):
    settings = json.loads((site / "jupyter-lite.json").read_text())["jupyter-config-data"]["litePluginSettings"]
    assert settings["@jupyterlite/pyodide-kernel-extension:kernel"]["pyodideUrl"] == "./static/pyodide/pyodide.mjs"
    runtime = site / "static" / "pyodide"
    for name in ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip"):
        assert (runtime / name).stat().st_size > 0, name
    packages = json.loads((runtime / "pyodide-lock.json").read_text())["packages"]
    # What the kernel loads as it starts (micropip; ipython and jedi with their
    # dependencies) and what graflow_nb needs from the lock: files of the site, each
    # with the sha256 Pyodide checks it against.
    local = {"micropip", "ipython", "jedi", "parso", "traitlets", "pygments", "decorator", "executing", "asttokens",
             "matplotlib-inline", "prompt-toolkit", "pure-eval", "six", "stack-data", "wcwidth", "cloudpickle",
             "typing-extensions"}
    for name in local:
        entry = packages[name]
        wheel = runtime / entry["file_name"]
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == entry["sha256"], name
    # Pyodide's compiled packages stay on its CDN (a page that can reach it loads them there).
    assert packages["pandas"]["file_name"].startswith("https://cdn.jsdelivr.net/pyodide/v314.0.6/full/pandas-")
    assert {k for k, e in packages.items() if not e["file_name"].startswith("https://")} == local
    index = json.loads((site / "pypi" / "all.json").read_text())
    assert {"graflow-nb", "comm", "ipywidgets", "jupyterlab-widgets", "anywidget", "psygnal", "graphviz"} <= set(index)
