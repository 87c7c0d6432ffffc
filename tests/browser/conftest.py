"""The browser tests' fixtures: one JupyterLab server and one Chromium per module (stopped
before the rest of the suite runs, so they add no load to it), a
fresh tab per test (see ``labkit`` for what they share)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .labkit import ROOT, SCENARIOS, START_TIMEOUT, chromium_path, free_port, scenario, shot


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
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
    """Open ``name`` in JupyterLab and wait until its first cell is on screen.  After
    the test every kernel it started is shut down (through the server's REST API), so
    no test's kernel goes on using the machine's two cores."""
    base, token, _ = lab

    def open_(name: str) -> object:
        page.goto(f"{base}/lab/tree/{name}?reset&token={token}")  # reset: no tab of an earlier test comes back
        page.locator(".jp-Notebook .jp-Cell").first.wait_for()
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell")
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # the notebook, not the file list
        return page

    yield open_
    for kernel in _kernels(base, token):
        _api(base, token, "DELETE", f"/api/kernels/{kernel['id']}")


def _kernels(base: str, token: str) -> list:
    """The server's kernels.  Asked while a kernel the test's last page opened is still
    starting, the server can answer 500 (it builds every kernel's model to list them):
    ask again until it answers, for at most 30 s."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return _api(base, token, "GET", "/api/kernels")
        except urllib.error.HTTPError as error:
            if error.code != 500 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)  # poll again: the kernel is still starting


def _api(base: str, token: str, method: str, path: str) -> list:
    request = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = answer.read()
    return json.loads(body) if body else []
