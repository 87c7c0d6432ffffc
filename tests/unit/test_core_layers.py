"""graflow_nb/core's import layering, read from the source (ast), so it stays kept.

Counted: every import that runs, at module level and inside functions.  Imports under
``if TYPE_CHECKING:`` never run (annotations only), so they are not edges.  The rules:
no import circle inside core; the model (what a workflow is) imports only the model and
the shared value modules below it, never the runtime; core reaches the rest of
graflow_nb at all (the layers above fill core's slots from graflow_nb/__init__).
"""

from __future__ import annotations

import ast
from pathlib import Path

import graflow_nb.core

CORE = Path(graflow_nb.core.__file__).parent
MODEL = {"task", "graph", "decorators", "model", "model.scope"}
# Plain values and checks the model is built from; they import neither model nor runtime.
SHARED = {"checks", "errors", "backends", "merge", "policies", "retry", "user_frames", "channel", "isolation", "events"}


def _name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _exists(module: str) -> bool:
    base = CORE.parent.joinpath(*module.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _targets(node: ast.ImportFrom | ast.Import, package: str) -> list[str]:
    """The graflow_nb modules (relative to graflow_nb) an import statement loads."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        return [n.removeprefix("graflow_nb.") for n in names if n.startswith("graflow_nb.")]
    if node.level:
        up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        base = ".".join(up + ([node.module] if node.module else []))
    elif node.module and node.module.startswith("graflow_nb."):
        base = node.module.removeprefix("graflow_nb.")
    else:
        return []
    submodules = [f"{base}.{a.name}".lstrip(".") for a in node.names if _exists(f"{base}.{a.name}".lstrip("."))]
    return submodules or [base]


def _imports(source: str, module: str, is_package: bool) -> set[str]:
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                visit(list(node.orelse))
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.update(t for t in _targets(node, package) if t != module)
            visit(list(ast.iter_child_nodes(node)))

    visit([ast.parse(source, module)])
    return found


def core_imports() -> dict[str, set[str]]:
    return {
        _name(p): _imports(p.read_text(encoding="utf-8"), _name(p), p.name == "__init__.py")
        for p in sorted(CORE.rglob("*.py"))
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle inside ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_walker_sees_function_level_imports_and_skips_type_checking() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import run as run_module, checks\n"
        "import graflow_nb.observe\n"
        "if TYPE_CHECKING:\n    from .context import ExecutionContext\nelse:\n    from .errors import GraflowError\n"
        "class A:\n    def f(self):\n        from ..debug import Debugger\n        from .snapshot import take\n"
    )
    assert _imports(source, "core.engine", is_package=False) == {
        "core.run", "core.checks", "observe", "core.errors", "debug", "core.snapshot.take",
    }
    assert "core.task" in core_imports()["core.decorators"]


def test_cycle_finder_reports_a_circle_it_is_given() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_core_has_no_import_circle() -> None:
    inside = {m: {t for t in ts if t.startswith("core")} for m, ts in core_imports().items()}
    # A submodule's import of its own package's __init__ is Python loading it, not an edge back.
    inside = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in inside.items()}
    assert _cycle(inside) is None, " -> ".join(_cycle(inside) or [])


def _imports_outside(layer: set[str], allowed: set[str]) -> list[tuple[str, str]]:
    """Imports from a module of ``layer`` to a core module not in ``allowed``."""
    ok = {f"core.{m}" for m in allowed}
    imports = core_imports()
    return sorted(
        (m, t) for m, ts in imports.items() if m.removeprefix("core.") in layer for t in ts
        if t.startswith("core") and t not in ok
    )


def test_model_imports_no_runtime() -> None:
    wrong = _imports_outside(MODEL, MODEL | SHARED)
    assert not wrong, f"model -> runtime imports: {wrong}"


def test_shared_modules_import_neither_model_nor_runtime() -> None:
    wrong = _imports_outside(SHARED, SHARED)
    assert not wrong, f"shared -> model/runtime imports: {wrong}"


def test_core_imports_nothing_above_itself() -> None:
    upward = {(m, t) for m, ts in core_imports().items() for t in ts if not t.startswith("core")}
    assert not upward, f"core -> layers above it: {sorted(upward)}"
