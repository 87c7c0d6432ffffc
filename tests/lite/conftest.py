"""The JupyterLite site the tests here look at and open: built once per test run, from a
wheel of a copy of the checkout (``make lite-site``, the recipe ``make lite`` runs after
``make dist``), with no network, in the build/lite-venv that ``make lite-env`` (part of
``make test``) installs with the site's Pyodide runtime and wheels."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LITE_PYTHON = ROOT / "build" / "lite-venv" / "bin" / "python"


@pytest.fixture(scope="session")
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
