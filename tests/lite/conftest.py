"""The JupyterLite site the tests here look at and open: built once per test run, from a
wheel of a copy of the checkout (``make lite-site``, the recipe ``make lite`` runs after
``make dist``), with no network, in the build/lite-venv that ``make lite-env`` (part of
``make test``) installs with the site's Pyodide runtime and wheels; and served once, on
127.0.0.1, for every notebook the browser tests open in it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser.labkit import free_port

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


@pytest.fixture(scope="session")
def served(site: Path):
    """The base URL of the site, served as static files by ``python -m http.server`` on
    127.0.0.1 until the test run ends.  Its ``jupyter-lite.json`` gets
    ``exposeAppInBrowser`` (in the test's copy only) so the tests can read the notebook's
    model."""
    config_path = site / "jupyter-lite.json"
    config = json.loads(config_path.read_text())
    config["jupyter-config-data"]["exposeAppInBrowser"] = True
    config_path.write_text(json.dumps(config))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", str(site)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/jupyter-lite.json", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"the site's server on {base} did not answer", pytrace=False)
                time.sleep(0.2)  # poll again: the server is not listening yet
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)
