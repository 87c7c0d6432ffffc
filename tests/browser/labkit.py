"""What the browser tests share: the scenario notebooks, Chromium's path, screenshots,
and running a notebook's cells in JupyterLab (the fixtures are in ``conftest``).

JupyterLab in a real (headless) Chromium, driven by Playwright.

One JupyterLab server for the browser tests: on 127.0.0.1, a free port, a random
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

import shutil
import socket
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
# The picture live view (what GRAFLOW_NB_WIDGETS=0 keeps; a kernel otherwise draws it
# with the GraphView widget, tried in test_graph_view_lab.py).
LOAD_PICTURES = "%load_ext graflow_nb\n%env GRAFLOW_NB_WIDGETS=0"

SCENARIOS = {
    "live.ipynb": (
        LOAD_PICTURES,
        "%%graflow slowrun --run head --live --session-id L\n"
        "import time\n"
        "@task\n"
        "def head(): time.sleep(2.0)  # the first frames come while head runs\n"
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
    "plain_asking.ipynb": (
        "from graflow_nb import task, workflow\n"
        "with workflow('approve') as wf:\n"
        "    @task(inject_context=True)\n"
        "    def ask(ctx):\n"
        "        return ctx.request_approval('Publish the report?')\n"
        "    @task\n"
        "    def report(ask):\n"
        "        raise ValueError('the report template is missing')\n"
        "    ask >> report\n"
        "paused = wf.execute('ask', session_id='P')\n"
        "paused\n",
    ),
    "busy.ipynb": (
        "import time\n"
        "from graflow_nb import task, workflow\n"
        "from graflow_nb.notebook import DebuggerWidget\n"
        "with workflow('busy') as wf:\n"
        "    @task\n"
        "    def load(): return 1\n"
        "    @task\n"
        "    def fit(load):\n"
        "        time.sleep(3.0)  # a model fit\n"
        "        return 0.45\n"
        "    @task\n"
        "    def ridge(load): return 0.1\n"
        "    @task\n"
        "    def compare(fit, ridge): return fit, ridge\n"
        "    load >> (fit | ridge) >> compare\n"
        "DebuggerWidget(wf.debug('load', session_id='B'), pictures=False)\n",
    ),
    "wide.ipynb": (
        "import time\n"
        "from graflow_nb import task, workflow\n"
        "with workflow('four_models_cross_validated') as wf:\n"
        "    @task\n"
        "    def load_diabetes_and_wine(): time.sleep(1.5)  # frames come while it runs\n"
        "    @task\n"
        "    def cross_validate_ridge_regression(load_diabetes_and_wine): time.sleep(0.5)\n"
        "    @task\n"
        "    def cross_validate_random_forest(load_diabetes_and_wine): time.sleep(0.5)\n"
        "    @task\n"
        "    def cross_validate_gradient_boosting(load_diabetes_and_wine): time.sleep(0.5)\n"
        "    @task\n"
        "    def cross_validate_support_vector_machine(load_diabetes_and_wine): time.sleep(0.5)\n"
        "    @task\n"
        "    def compare_the_four_models_in_one_frame(): return 'compared'\n"
        "    load_diabetes_and_wine >> (cross_validate_ridge_regression | cross_validate_random_forest\n"
        "        | cross_validate_gradient_boosting | cross_validate_support_vector_machine)"
        " >> compare_the_four_models_in_one_frame\n"
        "wf.execute('load_diabetes_and_wine', session_id='W', live=True)\n",
        "from graflow_nb import draw_run\ndraw_run(wf)\n",
        "from graflow_nb import DebuggerWidget\n"
        "DebuggerWidget(wf.debug('load_diabetes_and_wine', session_id='D'))\n",
    ),
}



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
