"""Plain functions wired with ``>>``, ``<<`` and ``|`` in a ``%%graflow`` cell become tasks.

    def fetch(): ...          # a plain function, no @task
    %%graflow etl
    fetch >> (clean | enrich) >> store

How: the cell body is parsed and every ``a >> b``, ``a << b`` and ``a | b`` is rewritten
to ``_graflow_wire(">>", a, b)``.  ``wire`` turns a plain Python function into a task
(id = its name) only when the other operand is a task or a function too; anything else
(ints, sets, ``int | None`` annotations) gets the ordinary operator.  A function or
task named alone on a top-level line joins the workflow as a node with no edges
(``_graflow_wire("include", fetch)``), so a one-task workflow can be written too.

Why rewrite operators instead of temporarily rebinding the namespace's functions to
tasks for the duration of the cell: rewriting also covers functions defined *in the
same cell* and functions reached through attributes or containers (``steps[0] >>
steps[1]``), and it never changes what a name in the user's namespace refers to, so
``fetch()`` still calls the plain function after the cell.  The one task made for a
function is reused wherever the function is wired again (the graph remembers it), so
``fetch >> a`` and ``fetch >> b`` share one node.
"""

from __future__ import annotations

import ast
import operator
from types import FunctionType
from typing import Any

from ..core.model.scope import running_session
from ..core.model.task import Executable, Task, TaskWrapper
from ..core.workflow import current_workflow

WIRE_NAME = "_graflow_wire"

_SYMBOLS = {ast.RShift: ">>", ast.LShift: "<<", ast.BitOr: "|"}
_OPERATORS = {">>": operator.rshift, "<<": operator.lshift, "|": operator.or_}


class _RewriteOperators(ast.NodeTransformer):
    def visit_Module(self, node: ast.Module) -> ast.Module:
        self.generic_visit(node)
        for statement in node.body:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Name):
                call = ast.Call(
                    func=ast.Name(WIRE_NAME, ast.Load()),
                    args=[ast.Constant("include"), statement.value],
                    keywords=[],
                )
                statement.value = ast.copy_location(call, statement.value)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        symbol = _SYMBOLS.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(
            func=ast.Name(WIRE_NAME, ast.Load()),
            args=[ast.Constant(symbol), node.left, node.right],
            keywords=[],
        )
        return ast.copy_location(call, node)


def rewrite_operators(tree: ast.Module) -> ast.Module:
    """``a >> b`` -> ``_graflow_wire(">>", a, b)`` everywhere in ``tree`` (in place)."""
    return ast.fix_missing_locations(_RewriteOperators().visit(tree))


def is_plain_function(obj: Any) -> bool:
    return type(obj) is FunctionType


def wire(symbol: str, left: Any, right: Any = None) -> Any:
    """``left <symbol> right``, with plain functions taken as tasks when wiring tasks."""
    if symbol == "include":
        return include(left)
    kinds = (_kind(left), _kind(right))
    if "function" in kinds and None not in kinds:
        left, right = as_task(left), as_task(right)
    return _OPERATORS[symbol](left, right)


def include(obj: Any) -> Any:
    """Add a lone function or task to the current workflow as a node; returns ``obj``."""
    if is_plain_function(obj) or isinstance(obj, (TaskWrapper, Task)):
        node = as_task(obj)
        workflow = current_workflow()
        if workflow.graph.nodes.get(node.task_id) is not node:
            workflow.register(node)
    return obj


def _kind(obj: Any) -> str | None:
    if isinstance(obj, Executable):
        return "task"
    if is_plain_function(obj):
        return "function"
    return None


def as_task(obj: Any) -> Any:
    """The task for a plain function in the current workflow (made on first use)."""
    if not is_plain_function(obj):
        return obj
    name = obj.__name__
    if name == "<lambda>":
        raise TypeError("a lambda cannot be wired as a task: give it a name with def, or use task('id')(lambda: ...)")
    existing = _known_node(name)
    if isinstance(existing, TaskWrapper) and existing.func is obj:
        return existing
    return TaskWrapper(name, obj, register_to_context=False)


def _known_node(task_id: str) -> Any:
    workflow = current_workflow()
    running = running_session()
    if running is not None and running.graph is workflow.graph:
        try:
            return running.lookup(task_id)
        except KeyError:
            return None
    return workflow.graph.nodes.get(task_id)
