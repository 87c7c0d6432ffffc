"""A real IPython shell for the notebook tests, with the extension loaded.

``cell(source)`` runs a cell as Jupyter would and returns the ExecutionResult, what
was printed (tracebacks included) and the rich outputs that were displayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from IPython import get_ipython
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output


@dataclass
class Ran:
    result: Any
    text: str
    outputs: list[dict[str, Any]]

    @property
    def error(self) -> BaseException | None:
        return self.result.error_in_exec or self.result.error_before_exec

    def mimetypes(self) -> list[str]:
        return [m for data in self.outputs for m in data]


@pytest.fixture
def ip():
    start_ipython()
    shell = get_ipython()
    shell.run_line_magic("load_ext", "graflow_nb.notebook")
    shell.run_line_magic("reset", "-f")
    yield shell
    magics = shell.magics_manager.registry.get("GraflowMagics")
    if magics is not None:
        for debugger in magics.debuggers.values():
            debugger.close()
        magics.debuggers.clear()
        magics.last_name = None
    shell.run_line_magic("reset", "-f")


@pytest.fixture
def cell(ip):
    def run(source: str) -> Ran:
        with capture_output() as captured:
            result = ip.run_cell(source, store_history=True)
        return Ran(result, captured.stdout + captured.stderr, [o.data for o in captured.outputs])

    return run
