"""The error for a compiled package graflow_nb leaves out in Pyodide.

In Pyodide (JupyterLite) graflow_nb's wheel asks for no pandas, PyYAML or jsonschema:
they are compiled packages only Pyodide's CDN serves, and ``%pip install graflow_nb``
must work from a site's own files.  The kernel loads a package when a cell imports it,
but not when graflow_nb's own code does (``run.frames``, pipeline files), so there the
import fails with a bare "No module named 'pandas'".  ``loaded_by_a_cell`` turns that
into one error that says what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .programs import programs_run_here

# Import name -> what to install it as.
LEFT_OUT_IN_PYODIDE = {"pandas": "pandas", "yaml": "pyyaml", "jsonschema": "jsonschema"}


@contextmanager
def loaded_by_a_cell(what: str) -> Iterator[None]:
    """Run the block; in Pyodide, a missing package of ``LEFT_OUT_IN_PYODIDE`` raises a
    ModuleNotFoundError naming ``what`` needs it and how to load it."""
    try:
        yield
    except ModuleNotFoundError as error:
        name = (error.name or "").partition(".")[0]
        if programs_run_here() or name not in LEFT_OUT_IN_PYODIDE:
            raise
        raise ModuleNotFoundError(
            f"{what} needs {name}, which graflow_nb doesn't install in the browser (Pyodide): run "
            f"`import {name}` in a cell first (Pyodide then loads it, from its CDN), or "
            f"`%pip install {LEFT_OUT_IN_PYODIDE[name]}`",
            name=name,
        ) from error
