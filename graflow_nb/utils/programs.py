"""Whether this Python can run Graphviz's ``dot``, told without starting it.

Read by the renders (``observe.render``), which then never try ``dot`` where no
program can start, and by the Jupyter kernel's display hooks (``graflow_nb``), which
then draw every picture with the GraphView widget, in the browser; neither may import
graphviz just to ask.
"""

from __future__ import annotations

import shutil
import sys

# The ``sys.platform`` of Pyodide (JupyterLite): no program can be started there
# (``subprocess`` raises OSError "emscripten does not support processes").
NO_PROGRAMS_PLATFORM = "emscripten"


def programs_run_here() -> bool:
    """False in Pyodide, where ``subprocess`` can start nothing."""
    return sys.platform != NO_PROGRAMS_PLATFORM


def dot_runs_here() -> bool:
    """False in Pyodide or when no ``dot`` is on the PATH."""
    return programs_run_here() and shutil.which("dot") is not None
