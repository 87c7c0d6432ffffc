"""README.md's own examples and rules that no other test states as written: the
diamond example's code and printed output, per-key merge rules with a ``"*"``
fallback, callable merge strategies, and the teaching notebooks' promised shape."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from graflow_nb import MergeConflictError, task, workflow

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block of a markdown text as (language, body), in order."""
    blocks, language, body = [], None, []
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if language is None:
                language, body = line[3:].strip(), []
            else:
                blocks.append((language, "".join(body)))
                language = None
        elif language is not None:
            body.append(line)
    return blocks


def test_the_diamond_example_prints_what_the_readme_shows():
    blocks = fenced_blocks(README)
    first = next(i for i, (language, _) in enumerate(blocks) if language == "python")
    code = blocks[first][1]
    assert code.startswith("from graflow_nb import task, workflow\n")
    language, shown = blocks[first + 1]  # the block right after it: the session tree
    assert language == ""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert printed.getvalue() == "10\n" + shown


def test_the_async_twin_of_the_diamond_gives_the_same_result_and_session_tree():
    """The README's async diamond: two ``async def`` branches, the same 10 and the same
    tree as the sync example above it, and its branches waited at once."""
    blocks = fenced_blocks(README)
    sync_at = next(i for i, (language, _) in enumerate(blocks) if language == "python")
    tree = blocks[sync_at + 1][1]
    at = next(i for i, (language, body) in enumerate(blocks) if language == "python" and "async def transform_a" in body)
    code = blocks[at][1]
    namespace = {"__name__": "readme"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), namespace)
    assert printed.getvalue() == "10\n"
    run = namespace["wf"].last_run
    assert run.session_tree() + "\n" == tree
    a, b = (next(t for t in run.task_runs if t.task_id == name) for name in ("transform_a", "transform_b"))
    assert a.start < b.end and b.start < a.end  # the two awaits overlapped


def members_writing(values: dict[str, dict[str, object]], merge):
    """fork >> (members) >> sink, each member setting its keys; the sink returns the
    channel's values for every key any member wrote."""
    keys = sorted({k for writes in values.values() for k in writes})
    with workflow("per_key") as wf:
        @task
        def fork():
            return None

        def member(name: str):
            @task(name, inject_context=True)
            def body(ctx):
                for key, value in values[name].items():
                    if key == "counter":
                        ctx.get_channel().set(key, ctx.get_channel().get(key, 0) + value)
                    else:
                        ctx.get_channel().set(key, value)
            return body

        @task(inject_context=True)
        def sink(ctx):
            return {k: ctx.get_channel().get(k) for k in keys}

        members = [member(name) for name in values]
        group = members[0]
        for m in members[1:]:
            group = group | m
        fork >> group.with_execution(merge=merge) >> sink
    return wf


def test_a_dict_of_rules_per_key_with_a_star_for_every_other_key():
    values = {"a": {"counter": 2, "label": "from a"}, "b": {"counter": 5, "label": "from b"}}
    wf = members_writing(values, {"counter": "sum", "*": "overwrite"})
    assert wf.execute("fork", session_id="K") == {"counter": 7, "label": "from b"}
    # without the "*" the other keys keep the default rule: a conflict naming both members
    wf = members_writing(values, {"counter": "sum"})
    with pytest.raises(MergeConflictError) as raised:
        wf.execute("fork", session_id="K")
    assert raised.value.key == "label"
    assert "'a'" in str(raised.value) and "'b'" in str(raised.value)


def test_a_callable_as_one_keys_rule_and_as_the_groups_rule():
    values = {"a": {"tags": ["x"]}, "b": {"tags": ["y", "x"]}}
    calls = []

    def longest(parent_value, writes):
        calls.append((parent_value, writes))
        return max((v for _, v in writes), key=len)

    wf = members_writing(values, {"tags": longest})
    assert wf.execute("fork", session_id="C", initial_channel={"tags": ["seed"]}) == {"tags": ["y", "x"]}
    assert calls == [(["seed"], [("a", ["x"]), ("b", ["y", "x"])])]

    seen = []

    def whole_group(parent, branches):
        seen.append(list(branches))
        return {"tags": sorted({t for ch in branches.values() for t in ch.get("tags")})}

    wf = members_writing(values, whole_group)
    assert wf.execute("fork", session_id="C") == {"tags": ["x", "y"]}
    assert seen == [["a", "b"]]


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")), ids=lambda p: p.name)
def test_each_teaching_notebook_says_what_you_will_learn_and_ends_with_an_exercise(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    assert "**What you will learn**" in markdown[0]
    assert re.search(r"^## Exercise$", markdown[-1], flags=re.M), markdown[-1][:80]
    assert cells[-1]["cell_type"] == "code"  # a cell to do it in


def test_the_first_analysis_example_prints_what_the_readme_shows():
    """The README's second example: ``inject_context``, a DataFrame in the channel, and
    the widgets imported from the top, as it says."""
    blocks = fenced_blocks(README)
    at = next(i for i, (language, body) in enumerate(blocks) if language == "python" and "inject_context=True" in body)
    code = blocks[at][1]
    assert "ctx.get_channel().set(\"data\", frame)" in code and "pd.DataFrame" in code
    language, shown = blocks[at + 1]
    assert language == ""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert printed.getvalue() == shown
    first_screens = README[: README.index("## Documentation")]
    assert "from graflow_nb import DebuggerWidget, GraphView, HumanInputPanel, TaskInspector" in first_screens
    import graflow_nb

    assert all(getattr(graflow_nb, name) for name in ("DebuggerWidget", "GraphView", "HumanInputPanel", "TaskInspector"))
