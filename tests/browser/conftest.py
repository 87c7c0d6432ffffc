"""JupyterLab in a real (headless) Chromium, driven by Playwright.

One JupyterLab server for the whole session: on 127.0.0.1, a free port, a random
token, serving a temporary copy of the teaching notebooks plus the small scenario
notebooks the tests write, with this venv's kernel.  Its config, data and settings
directories are temporary too, so no notebook is trusted (the trust database is
empty: what a person sees on first open) and nothing of the user's JupyterLab leaks
in.  The browser is Debian's ``chromium`` (Playwright's own browser download is not
used); without it every test here fails with one line saying what to install.

Everything waits on page state (Playwright's auto-waiting ``expect``), never on a
fixed sleep.  Screenshots go to ``build/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
START_TIMEOUT = 90  # seconds for JupyterLab to answer its first request on a loaded machine


def chromium_path() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("browser tests need Chromium: run `make test` as root (it apt-get installs 'chromium') "
                "or install the 'chromium' package", pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scenario(path: Path, *cells: str) -> None:
    """A notebook of code cells with this venv's ``python3`` kernel."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)


LOAD = "%load_ext graflow_nb"

SCENARIOS = {
    "live.ipynb": (
        LOAD,
        "%%graflow slowrun --run head --live --session-id L\n"
        "import time\n"
        "@task\n"
        "def head(): time.sleep(1.0)\n"
        "@task\n"
        "def left(): time.sleep(1.0)\n"
        "@task\n"
        "def right(): time.sleep(1.5)\n"
        "@task\n"
        "def tail(): time.sleep(0.5)\n"
        "head >> (left | right) >> tail\n",
    ),
    "debugger.ipynb": (
        LOAD,
        "%%graflow stepped --step --session-id 4821\n"
        "def fetch(): return 1\n"
        "def transform_a(fetch): return fetch * 2\n"
        "def transform_b(fetch): return fetch + 1\n"
        "def store(transform_a, transform_b): return transform_a + transform_b\n"
        "fetch >> (transform_a | transform_b) >> store\n",
    ),
    "asking.ipynb": (
        LOAD,
        "%%graflow asking --run --session-id Q\n"
        "@task(inject_context=True)\n"
        "def ask(ctx):\n"
        "    return ctx.request_approval('Ship it?')\n"
        "@task\n"
        "def after(ask):\n"
        "    return 'shipped' if ask else 'held back'\n"
        "ask >> after\n",
    ),
    "interrupt.ipynb": (
        LOAD,
        "%%graflow forever --run spin --session-id I\n"
        "import time\n"
        "@task\n"
        "def spin():\n"
        "    print('spinning', flush=True)\n"
        "    until = time.monotonic() + 60\n"
        "    while time.monotonic() < until:  # a Python loop: the interrupt must stop it\n"
        "        pass\n"
        "    print('the long task ended by itself', flush=True)\n",
        "print('the next cell ran')",
    ),
}


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """``(base_url, token, notebook_dir)`` of a running JupyterLab; stopped at the end."""
    home = tmp_path_factory.mktemp("lab")
    notebooks = home / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for name, cells in SCENARIOS.items():
        scenario(notebooks / name, *cells)
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    # No "get notified about news?" toast over the notebooks.
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    # Every cell rendered, not only those near the viewport, so a test can count outputs.
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    port, token = free_port(), secrets.token_hex(16)
    log = (home / "lab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
            "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None", "--allow-root",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=notebooks, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(server, f"{base}/api/status?token={token}", home / "lab.log")
        yield base, token, notebooks
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_until_up(server: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited ({server.returncode}) before answering: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)  # poll again: the server is not listening yet
    pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_path()
    expect.set_options(timeout=60_000)  # a bound for a loaded machine; each wait ends as soon as the page agrees
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.failed_call = report.failed
    return report


@pytest.fixture
def page(browser, request):
    """A fresh browser tab; a failing test leaves ``failed-<test>.png`` beside the screenshots."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    opened = context.new_page()
    yield opened
    if getattr(request.node, "failed_call", False):
        shot(opened, f"failed-{request.node.name}")
    context.close()


@pytest.fixture
def open_notebook(lab, page):
    """Open ``name`` in JupyterLab and wait until its first cell is on screen."""
    base, token, _ = lab

    def open_(name: str) -> object:
        page.goto(f"{base}/lab/tree/{name}?reset&token={token}")  # reset: no tab of an earlier test comes back
        page.locator(".jp-Notebook .jp-Cell").first.wait_for()
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell")
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # the notebook, not the file list
        return page

    return open_


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def run_all(page, name: str) -> None:
    """Run every cell of notebook ``name`` once it is the current tab and has a kernel
    session (JupyterLab queues the cells until the kernel is ready)."""
    page.wait_for_function(
        "(name) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " return w && w.context && w.context.path === name && w.sessionContext && w.sessionContext.session; }",
        arg=name,
    )
    # not awaited: the command's promise settles only when the last cell has finished
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
