"""graflow_nb's import layering, read from the source (ast), so it stays kept.

Counted: every import a reader follows — at module level, inside functions, under
``if TYPE_CHECKING:`` (an annotation is still knowledge of the other module), and
modules loaded by name (``import_module("graflow_nb.x")``, ``sys.modules["graflow_nb.x"]``).

The rules:

- no import circle anywhere in graflow_nb;
- core's floors, bottom up (README "Layout"): ground (errors, events, checks,
  user_frames, hooks) imports only ground; ``data`` imports ground and data; ``model``
  imports ground, data and model; ``runtime`` imports ground, data, model and runtime,
  never the front door (workflow), snapshot, checkpoint or anything outside core;
- core never loads anything of graflow_nb outside core (``graflow_nb.distributed``
  registers itself with core's executor registry instead), by import or by string.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import graflow_nb

PACKAGE = Path(graflow_nb.__file__).parent
CORE = "core"

# Each core module's floor.  A folder is a floor; the modules at core's root are named.
GROUND = {"core.errors", "core.events", "core.checks", "core.user_frames", "core.hooks"}
FLOORS_BY_FOLDER = {
    "core.model": "model", "core.data": "data", "core.cache": "cache", "core.runtime": "runtime",
    "core.snapshot": "snapshot",
}
# What each floor may import inside core (besides itself).
MAY_IMPORT = {
    "ground": {"ground"},
    "data": {"ground", "data"},
    "model": {"ground", "data", "model"},
    "cache": {"ground", "data", "model", "cache"},
    "runtime": {"ground", "data", "model", "runtime"},
}


def floor(module: str) -> str:
    """``module``'s floor: "ground", a folder's floor, or "top" (the front door,
    checkpoints and the thin faces for graflow's module names, which may import any
    floor below them)."""
    if module in GROUND:
        return "ground"
    for folder, name in FLOORS_BY_FOLDER.items():
        if module == folder or module.startswith(folder + "."):
            return name
    return "top"


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(module: str) -> bool:
    base = PACKAGE.joinpath(*module.split(".")) if module else PACKAGE
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _targets(node: ast.ImportFrom | ast.Import, package: str) -> list[str]:
    """The graflow_nb modules (relative to graflow_nb) an import statement loads."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        return [n.removeprefix("graflow_nb.") for n in names if n.startswith("graflow_nb.")]
    if node.level:
        parts = package.split(".") if package else []
        up = parts[: len(parts) - (node.level - 1)]
        base = ".".join(up + ([node.module] if node.module else []))
    elif node.module == "graflow_nb" or (node.module or "").startswith("graflow_nb."):
        base = node.module.removeprefix("graflow_nb").lstrip(".")  # type: ignore[union-attr]
    else:
        return []
    submodules = [f"{base}.{a.name}".lstrip(".") for a in node.names if _exists(f"{base}.{a.name}".lstrip("."))]
    return submodules or [base]


def _loaded_by_name(node: ast.AST) -> ast.AST | None:
    """The name in ``import_module(name)``, ``__import__(name)`` or ``sys.modules[name]``."""
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        return node.args[0] if called in ("import_module", "__import__") else None
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "modules":
        return node.slice
    return None


def _named(node: ast.AST, package: str) -> str | None:
    """A module named by a string: ``"graflow_nb.x.y"``, or ``__name__ + ".x"`` in a package."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("graflow_nb."):
        module = node.value.removeprefix("graflow_nb.")
        return module if _exists(module) else None
    if (
        isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.left, ast.Name)
        and node.left.id == "__name__" and isinstance(node.right, ast.Constant) and isinstance(node.right.value, str)
    ):
        module = f"{package}{node.right.value}".lstrip(".")
        return module if _exists(module) else None
    return None


def _imports(source: str, module: str, is_package: bool) -> set[str]:
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(_targets(node, package))
        elif (name := _loaded_by_name(node)) is not None and (named := _named(name, package)) is not None:
            found.add(named)
    found.discard(module)
    return found


@functools.cache
def package_imports() -> dict[str, set[str]]:
    """Every graflow_nb module (relative name, "" for graflow_nb itself) and what it imports."""
    return {
        _name(p): _imports(p.read_text(encoding="utf-8"), _name(p), p.name == "__init__.py")
        for p in sorted(PACKAGE.rglob("*.py"))
    }


def _edges(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    """Every import is an edge: a submodule that imports a name from its own package's
    ``__init__`` depends on it as on any module (pipeline/steps' old loop was one)."""
    return imports


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


def test_the_walker_counts_every_kind_of_import() -> None:
    source = (
        "import importlib, sys\n"
        "from typing import TYPE_CHECKING\n"
        "from . import errors, checks\n"
        "import graflow_nb.observe\n"
        "if TYPE_CHECKING:\n    from .workflow import WorkflowContext\n"
        "class A:\n    def f(self):\n        from ..debug import Debugger\n        from .snapshot import take\n"
        "        return importlib.import_module('graflow_nb.distributed')\n"
        "vars(sys.modules['graflow_nb.core.checkpoint'])\n"
    )
    assert _imports(source, "core.anything", is_package=False) == {
        "core.errors", "core.checks", "observe", "core.workflow", "debug", "core.snapshot.take", "distributed",
        "core.checkpoint",
    }
    assert _imports("vars(sys.modules[__name__ + '.core.workflow'])", "", is_package=True) == {"core.workflow"}


def test_cycle_finder_reports_a_circle_it_is_given() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_circle() -> None:
    edges = _edges(package_imports())
    found = _cycle(edges)
    assert found is None, " -> ".join(found or [])


def _wrong_floor(layer: str, imports: dict[str, set[str]] | None = None) -> list[tuple[str, str]]:
    allowed = MAY_IMPORT[layer]
    return sorted(
        (m, t) for m, ts in _edges(imports if imports is not None else package_imports()).items()
        if m.startswith(CORE) and floor(m) == layer for t in ts if t.startswith(CORE) and floor(t) not in allowed
    )


def _upward(imports: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((m, t) for m, ts in imports.items() if m.startswith(CORE) for t in ts if not t.startswith(CORE))


def test_each_rule_catches_what_it_forbids() -> None:
    """The rules below, given today's imports with one forbidden import added, fail."""
    today = package_imports()
    for module, target, layer in [
        ("core.errors", "core.model.task", "ground"),
        ("core.data.channel", "core.model.graph", "data"),
        ("core.model.task", "core.runtime.session", "model"),
        ("core.runtime.engine", "core.workflow", "runtime"),
        ("core.runtime.run", "core.checkpoint", "runtime"),
        ("core.runtime.groups.coordinator", "core.snapshot.take", "runtime"),
    ]:
        assert (module, target) not in _wrong_floor(layer), "the rule is broken today already"
        broken = {**today, module: today[module] | {target}}
        assert (module, target) in _wrong_floor(layer, broken)
    assert _upward({**today, "core.runtime.executors.base": {"distributed"}}) == [("core.runtime.executors.base", "distributed")]
    assert _cycle(_edges({**today, "core.errors": {"core.workflow"}})) is not None


def test_ground_imports_only_ground() -> None:
    wrong = _wrong_floor("ground")
    assert not wrong, f"ground -> above: {wrong}"


def test_data_imports_only_ground_and_data() -> None:
    wrong = _wrong_floor("data")
    assert not wrong, f"data -> model/runtime/top: {wrong}"


def test_model_imports_only_ground_data_and_model() -> None:
    wrong = _wrong_floor("model")
    assert not wrong, f"model -> runtime/top: {wrong}"


def test_runtime_never_imports_the_front_door_snapshot_or_checkpoint() -> None:
    wrong = _wrong_floor("runtime")
    assert not wrong, f"runtime -> workflow/snapshot/checkpoint/faces: {wrong}"


def test_every_floor_is_used() -> None:
    """A floor no module sits on would make its rule pass without checking anything."""
    modules = [m for m in package_imports() if m.startswith(CORE)]
    assert {floor(m) for m in modules} >= {"ground", "model", "data", "runtime", "snapshot", "top"}


def test_core_loads_nothing_above_itself() -> None:
    upward = _upward(package_imports())
    assert not upward, f"core -> layers above it: {upward}"


def test_only_the_session_loop_and_the_task_attempt_are_over_60_lines() -> None:
    """Core's hot path is written out in two functions (engine._loop, engine._run_task);
    everything else reads in one screen."""
    long = sorted(
        f"{_name(path)}.{node.name}"
        for path in sorted((PACKAGE / CORE).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60
    )
    assert long == ["core.runtime.engine._loop", "core.runtime.engine._run_task"]
