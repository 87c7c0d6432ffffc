"""Plain functions wired with operators in %%graflow cells: the rewrite and the helper."""

from __future__ import annotations

import ast

import pytest

from graflow_nb import ParallelGroup, TaskWrapper, workflow
from graflow_nb.notebook.wiring import WIRE_NAME, as_task, rewrite_operators, wire


def f():
    return 1


def g(f):
    return f + 1


def test_operators_on_functions_make_tasks_and_reuse_them():
    with workflow("w") as wf:
        first = wire(">>", f, g)
        again = wire("|", f, g)
    assert isinstance(first.tasks[0], TaskWrapper) and first.tasks[0].func is f
    assert wf.graph.nodes["f"] is first.tasks[0]
    assert isinstance(again, ParallelGroup) and again.tasks[0] is wf.graph.nodes["f"]


def test_other_operands_keep_their_operators():
    assert wire("|", 6, 1) == 7 and wire("<<", 1, 3) == 8 and wire(">>", 64, 2) == 16
    assert wire("|", {1}, {2}) == {1, 2}
    assert wire("|", int, None) == (int | None)
    with pytest.raises(TypeError):
        wire(">>", f, 3)  # a function with a number is the ordinary (failing) operator


def test_a_lambda_is_refused_with_a_hint():
    with workflow("w"), pytest.raises(TypeError, match="give it a name with def"):
        wire(">>", f, lambda: 2)


def test_as_task_leaves_tasks_alone():
    with workflow("w"):
        t = as_task(f)
        assert as_task(t) is t and as_task(3) == 3


def test_the_rewrite_touches_only_shift_and_or():
    tree = rewrite_operators(ast.parse("a >> b\nc = a | b << d\nx = a + b\nfetch\n"))
    text = ast.unparse(tree)
    assert f"{WIRE_NAME}('>>', a, b)" in text
    assert f"c = {WIRE_NAME}('|', a, {WIRE_NAME}('<<', b, d))" in text
    assert "x = a + b" in text
    assert f"{WIRE_NAME}('include', fetch)" in text
