"""The opt-in alias: ``import graflow`` gives graflow_nb, for one process or kernel.

Off by default.  ``alias_graflow()`` (or ``%graflow alias`` in IPython, or
``graflow-nb run-script prog.py``) puts a finder first on ``sys.meta_path`` that
answers graflow 0.2.0's own module names (``graflow_names.MODULES``) with the
graflow_nb module of the same path: ``graflow.core.task`` *is*
``graflow_nb.core.task``, so classes, ``isinstance`` and exceptions are shared.  A
module graflow_nb leaves out (LLM, Redis, Docker, the web API, ...) is an
``ImportError`` saying what to use instead; any other ``graflow.*`` name is
``ModuleNotFoundError``, as it would be in graflow.

It refuses when the real graflow is already imported (two libraries under one
name would mix), and says in one line what it did.  An installed graflow that is not
imported yet is shadowed for this process only.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from ._version import __version__
from .core.workflow import graflow_timeouts
from .graflow_names import MODULES, refusal

PREFIX = "graflow"
TARGET = "graflow_nb"


class GraflowAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finder and loader for ``graflow`` and ``graflow.*`` (see the module docstring)."""

    def __init__(self) -> None:
        # alias name -> the real module's own spec, between create_module and exec_module
        self._specs: dict[str, Any] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PREFIX and not fullname.startswith(PREFIX + "."):
            return None
        relative = fullname[len(PREFIX) + 1:]
        message = refusal(relative)
        if message is not None:
            raise ImportError(f"{fullname} is not offered under the graflow alias: {message}", name=fullname)
        if relative not in MODULES:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: the graflow alias covers graflow 0.2.0's public "
                f"modules only (graflow, graflow.core.task, graflow.core.workflow, ...; see "
                f"graflow_nb.graflow_names.MODULES)",
                name=fullname,
            )
        is_package = relative == "" or any(name.startswith(relative + ".") for name in MODULES if relative)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=is_package)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(TARGET + spec.name[len(PREFIX):])
        # importlib writes the alias spec onto the module it gets; keep the real one.
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the real module ran when imported); give it back its own spec."""
        alias_spec = module.__spec__
        assert alias_spec is not None  # importlib set it to the alias spec just before this
        module.__spec__ = self._specs.pop(alias_spec.name)


def _real_graflow_loaded() -> str | None:
    """Where the real graflow was imported from, if it is in ``sys.modules``."""
    for name, module in list(sys.modules.items()):
        if (name == PREFIX or name.startswith(PREFIX + ".")) and not getattr(module, "__name__", "").startswith(TARGET):
            return getattr(module, "__file__", None) or name
    return None


def alias_active() -> bool:
    return any(isinstance(finder, GraflowAlias) for finder in sys.meta_path)


def alias_graflow(*, announce: Any = None) -> str:
    """Make ``import graflow`` (and graflow 0.2.0's submodules) resolve to graflow_nb in
    this process.  Returns the one line saying what it did, and writes it to
    ``announce`` (a file, default ``sys.stderr``, so a program's stdout stays its own;
    ``announce=False`` keeps quiet).  Raises ``RuntimeError`` if the real graflow is
    already imported."""
    if alias_active():
        line = "graflow_nb: the graflow alias is already on (import graflow gives graflow_nb)"
    else:
        real = _real_graflow_loaded()
        if real is not None:
            raise RuntimeError(
                f"cannot alias graflow to graflow_nb: the real graflow is already imported in this "
                f"process ({real}); modules in use can't be swapped. Restart the kernel or process "
                f"and turn the alias on before the first `import graflow`"
            )
        shadowed = importlib.util.find_spec(PREFIX) is not None
        sys.meta_path.insert(0, GraflowAlias())
        graflow_timeouts()  # a feedback timeout checkpoints and execute returns None, as in graflow
        line = (
            f"graflow_nb: `import graflow` now gives graflow_nb {__version__} for graflow 0.2.0's "
            f"{len(MODULES)} public modules, in this process only"
            + ("; the installed graflow is shadowed" if shadowed else "")
        )
    if announce is not False:
        print(line, file=sys.stderr if announce is None else announce)
    return line
