"""``make lite``: a JupyterLite site of notebooks/ with graflow_nb's wheel bundled in it.

The test builds the wheel from a copy of the checkout and the site from that wheel
(``make lite-site``, the recipe ``make lite`` runs after ``make dist``) with no network,
in the build/lite-venv that ``make lite-env`` (part of ``make test``) installs, and
checks what the site serves: the wheel in its package index, every notebook in its
contents, the Pyodide kernel and ipywidgets' extension."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

import graflow_nb

ROOT = Path(__file__).resolve().parents[2]
LITE_PYTHON = ROOT / "build" / "lite-venv" / "bin" / "python"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if not (ROOT / "build" / "lite-venv" / ".installed").exists():
        pytest.fail("the JupyterLite build needs build/lite-venv: run `make lite-env`", pytrace=False)
    work = tmp_path_factory.mktemp("lite")
    source = work / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "CHANGELOG.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "graflow_nb", source / "graflow_nb", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [LITE_PYTHON, "-m", "build", "--wheel", "--no-isolation", "--outdir", work / "wheel", source],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = (work / "wheel").glob("*.whl")
    done = subprocess.run(
        ["make", "-s", "--no-print-directory", "lite-site", f"LITE_WHEEL={wheel}", f"LITE_OUT={work / 'site'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return work / "site"


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


def test_the_site_has_the_pyodide_kernel_and_the_widgets_extension(site):
    config = json.loads((site / "jupyter-lite.json").read_text())["jupyter-config-data"]
    extensions = {e["name"] for e in config["federated_extensions"]}
    assert {"@jupyterlite/pyodide-kernel-extension", "@jupyter-widgets/jupyterlab-manager"} <= extensions
    assert (site / "index.html").exists() and (site / "lab" / "index.html").exists()
