"""Bad input gets one clear error before anything runs.

Each case asserts the exact error type, that the message names the task, group,
argument or value at fault, that every message in the exception chain fits on a
screen, and that nothing ran: no task was called and no run (so no session) exists.
"""

from __future__ import annotations

import functools
import math
import traceback

import pytest

from graflow_nb import ParallelGroup, RetryPolicy, chain, parallel, task, workflow
from graflow_nb.core.checks import MAX_GROUP_DEPTH
from graflow_nb.core.context import GRAFLOW_MAX_CYCLES
from graflow_nb.exceptions import (
    ConfigError,
    CycleLimitExceededError,
    GraphCompilationError,
    ParallelGroupError,
    StepLimitExceededError,
)

SCREEN_CHARS, SCREEN_LINES = 2000, 25


def assert_fits_a_screen(error: BaseException) -> None:
    """Every message in the chain (causes and shown contexts) fits on a screen."""
    seen = error
    while seen is not None:
        text = str(seen)
        assert len(text) <= SCREEN_CHARS, f"{type(seen).__name__} message is {len(text)} chars"
        assert text.count("\n") < SCREEN_LINES
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)


def refused(kind: type[BaseException], call, *names: str) -> BaseException:
    with pytest.raises(kind) as info:
        call()
    error = info.value
    assert type(error) is kind, f"{type(error).__name__}: {error}"
    message = str(error)
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"
    assert_fits_a_screen(error)
    return error


class Calls(list):
    """Names of the task functions that were called."""

    def task(self, task_id: str, **options):
        def body(**_kwargs):
            self.append(task_id)
            return task_id

        return task(task_id, **options)(body)


@pytest.fixture
def calls() -> Calls:
    return Calls()


def diamond(calls: Calls):
    with workflow("bad_input") as wf:
        fetch, a, b, store = (calls.task(n) for n in ("fetch", "a", "b", "store"))
        _ = fetch >> (a | b) >> store
    return wf


# -- task ids and functions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kind", "names"),
    [
        (lambda: task(5), TypeError, ["task()", "5 (int)"]),
        (lambda: task(""), ValueError, ["task(id)", "''"]),
        (lambda: task(id=5), TypeError, ["task(id=...)", "5 (int)"]),
        (lambda: task(id=""), ValueError, ["task(id=...)"]),
        (lambda: task(id=None)(lambda: 1), TypeError, ["no name", "task('my_id')"]),
        (lambda: task(functools.partial(print, 1)), TypeError, ["partial", "no name"]),
        (lambda: task(type("Callable", (), {"__call__": lambda self: 1})()), TypeError, ["Callable", "no name"]),
        (lambda: task("a", id="b"), ValueError, ["'a'", "id='b'"]),
    ],
)
def test_task_ids_and_functions_without_a_usable_id_are_refused(make, kind, names):
    with workflow("ids") as wf:
        refused(kind, make, *names)
    assert wf.graph.nodes == {}


def test_a_class_is_a_task_named_after_it():
    with workflow("cls") as wf:
        class Made:
            def __init__(self):
                self.ok = True

        made = task(Made)
    assert made.task_id == "Made"
    assert type(wf.execute("Made")) is Made


def test_task_instance_with_a_keyword_the_function_does_not_take(calls):
    with workflow("instances") as wf:
        @task
        def scale(value, factor=2):
            calls.append("scale")
            return value * factor

        refused(TypeError, lambda: scale(task_id="x", bad=1), "task 'x'", "'bad'", "value, factor")
        refused(ValueError, lambda: scale(task_id="", value=1), "scale(task_id=...)", "''")
        refused(TypeError, lambda: scale(task_id=5, value=1), "scale(task_id=...)", "5 (int)")
        assert set(wf.graph.nodes) == {"scale"}
        bound = scale(task_id="y", value=3)
        assert wf.execute("y") == 6
    assert calls == ["scale"] and bound.task_id == "y"


def test_any_keyword_binds_to_a_function_taking_kwargs():
    with workflow("kwargs") as wf:
        @task
        def collect(**kwargs):
            return kwargs

        collect(task_id="c", anything=1)
        assert wf.execute("c") == {"anything": 1}


# -- numbers: timeouts, retries, cycles, concurrency -----------------------------------------

BAD_SECONDS = [
    ("1", TypeError),
    (True, TypeError),
    ([1], TypeError),
    (math.nan, ValueError),
    (math.inf, ValueError),
    (-math.inf, ValueError),
    (0, ValueError),
    (-1, ValueError),
]


@pytest.mark.parametrize(("value", "kind"), BAD_SECONDS)
def test_task_timeouts_that_are_not_finite_positive_seconds(value, kind):
    with workflow("timeouts") as wf:
        refused(kind, lambda: task("slow", timeout=value)(lambda: 1), "task 'slow'", "timeout")
    assert wf.graph.nodes == {}


@pytest.mark.parametrize(("value", "kind"), BAD_SECONDS)
def test_group_timeouts_that_are_not_finite_positive_seconds(value, kind, calls):
    wf = diamond(calls)
    group = wf.graph.nodes["ParallelGroup_1"]
    refused(kind, lambda: group.with_execution(timeout=value), "group 'ParallelGroup_1'", "timeout")
    assert group.timeout is None
    wf.execute("fetch")
    assert calls == ["fetch", "a", "b", "store"]


@pytest.mark.parametrize(
    ("options", "kind", "names"),
    [
        ({"max_retries": -1}, ValueError, ["max_retries must be an int >= 0, got -1"]),
        ({"max_retries": "2"}, TypeError, ["max_retries", "'2' (str)"]),
        ({"max_retries": 1.5}, TypeError, ["max_retries", "1.5 (float)"]),
        ({"max_cycles": 0}, ValueError, ["max_cycles must be an int >= 1, got 0"]),
        ({"max_cycles": "3"}, TypeError, ["max_cycles", "'3' (str)"]),
        ({"retry_policy": "twice"}, TypeError, ["retry_policy must be a RetryPolicy", "'twice'"]),
    ],
)
def test_task_counts_that_are_not_counts(options, kind, names):
    with workflow("counts") as wf:
        refused(kind, lambda: task("t", **options)(lambda: 1), "task 't'", *names)
    assert wf.graph.nodes == {}


def test_retry_policy_itself_refuses_negative_retries():
    refused(ValueError, lambda: RetryPolicy(max_retries=-1), "max_retries must be >= 0, got -1")


@pytest.mark.parametrize(
    ("options", "kind", "names"),
    [
        ({"max_concurrency": 0}, ValueError, ["max_concurrency must be an int >= 1, got 0"]),
        ({"max_concurrency": -2}, ValueError, ["max_concurrency", "-2"]),
        ({"max_concurrency": "2"}, TypeError, ["max_concurrency", "'2' (str)"]),
        ({"max_concurrency": 2.5}, TypeError, ["max_concurrency", "2.5 (float)"]),
        ({"max_concurrency": True}, TypeError, ["max_concurrency", "True (bool)"]),
        ({"backend_config": "abc"}, TypeError, ["backend_config must be a dict", "'abc' (str)"]),
        ({"backend_config": {"threads": 2}}, ValueError, ["'threads' is not known", "'thread_count'"]),
        ({"backend_config": {"thread_count": "2"}}, TypeError, ["backend_config['thread_count']", "'2'"]),
        ({"backend": "nope"}, ValueError, ["unknown backend 'nope'"]),
        ({"merge": {5: "sum"}}, ConfigError, ["keyed by channel key", "5 (int)"]),
        ({"merge": {"k": ["sum"]}}, ConfigError, ["unknown merge strategy ['sum']"]),
    ],
)
def test_group_settings_refused_by_with_execution(options, kind, names, calls):
    wf = diamond(calls)
    group = wf.graph.nodes["ParallelGroup_1"]
    refused(kind, lambda: group.with_execution(**options), "'ParallelGroup_1'", *names)
    assert (group.max_concurrency, group.backend_config, group.merge) == (None, {}, None)
    assert calls == [] and wf.last_run is None


# -- wiring: groups and non-tasks --------------------------------------------------------


def test_an_empty_group_is_refused():
    with workflow("empty") as wf:
        refused(ValueError, lambda: ParallelGroup([]), "needs at least one task")
        refused(ValueError, lambda: ParallelGroup([], name="mine"), "name='mine'")
        refused(TypeError, lambda: ParallelGroup(task("solo")(lambda: 1)), "takes a list of tasks")
    assert list(wf.graph.nodes) == ["solo"]


def test_non_tasks_in_operators_chain_and_parallel(calls):
    def plain():
        return 1

    with workflow("non_tasks") as wf:
        a = calls.task("a")
        refused(TypeError, lambda: a >> 5, "'a' >>", "5 (int) is not a task or group")
        refused(TypeError, lambda: a << "b", "'a' <<", "'b' (str)")
        refused(TypeError, lambda: a | plain, "'a' |", "decorate it with @task")
        refused(TypeError, lambda: chain(a, None), "'a' >>", "None (NoneType)")
        refused(TypeError, lambda: chain(7), "chain()", "7 (int)")
        refused(TypeError, lambda: parallel(a, 5), "parallel()", "5 (int)")
        refused(TypeError, lambda: ParallelGroup([a, object]), "ParallelGroup()", "decorate it with @task")
        assert wf.graph.edges == [] and wf.graph.groups() == []
    assert calls == []


def test_one_task_in_two_groups_is_refused_and_the_first_group_still_runs_once(calls):
    with workflow("two_groups") as wf:
        src, a, b, c = (calls.task(n) for n in ("src", "a", "b", "c"))
        first = a | b
        src >> first
        error = refused(ConfigError, lambda: a | c, "task 'a'", "group 'ParallelGroup_1'", "run once in each")
        refused(ConfigError, lambda: parallel(c, b), "task 'b'", "'ParallelGroup_1'")
        refused(ConfigError, lambda: ParallelGroup([c, c]), "task 'c' is already a member")
        assert [g.task_id for g in wf.graph.groups()] == ["ParallelGroup_1"]
        wf.execute("src", session_id="S")
    assert "ParallelGroup_" in str(error)
    assert sorted(calls) == ["a", "b", "src"]
    assert set(wf.last_run.sessions) == {"S", "S_a", "S_b"}


def test_a_group_cannot_contain_itself():
    with workflow("self") as wf:
        a, b, c = (task(n)(lambda: 1) for n in "abc")
        inner = a | b
        outer = ParallelGroup([inner, c])
        refused(ConfigError, lambda: inner.add_member(inner), "group 'ParallelGroup_1' cannot contain itself")
        refused(ConfigError, lambda: inner.add_member(outer), "group 'ParallelGroup_1' cannot contain itself")
    assert inner.member_ids == ["a", "b"] and outer.member_ids == ["ParallelGroup_1", "c"]
    assert set(wf.graph.nodes) == {"a", "b", "c", "ParallelGroup_1", "ParallelGroup_2"}


def _nested(depth: int, calls: Calls):
    """start >> group(group(... group(leaf, x1) ..., x{depth-1}), last): ``depth`` levels."""
    node = calls.task("leaf")
    for level in range(1, depth + 1):
        node = ParallelGroup([node, calls.task(f"x{level}")], name=f"G{level}")
    calls.task("start") >> node
    return node


def test_groups_nested_past_the_limit_are_refused_while_wiring(calls):
    with workflow("too_deep") as wf:
        top = _nested(MAX_GROUP_DEPTH, calls)
        assert top.depth == MAX_GROUP_DEPTH
        extra = calls.task("extra")
        refused(
            GraphCompilationError,
            lambda: ParallelGroup([top, extra], name="over"),
            "group 'over'",
            f"{MAX_GROUP_DEPTH + 1} deep",
            f"at most {MAX_GROUP_DEPTH}",
        )
    assert "over" not in wf.graph.nodes and len(wf.graph.groups()) == MAX_GROUP_DEPTH
    assert calls == []


def test_a_group_built_at_run_time_past_the_limit_is_refused_before_its_branch_opens(calls):
    """Depth reached through a chain (group -> task -> group at run time) is only
    known when the branch would open: refused there, nothing of the deeper group runs."""
    with workflow("deep_at_run_time") as wf:
        top = _nested(MAX_GROUP_DEPTH, calls)

        @task(inject_context=True)
        def spawn(ctx):
            calls.append("spawn")
            ctx.next_task(parallel(calls.task("too_deep_1"), calls.task("too_deep_2")))

        leaf = wf.graph.nodes["leaf"]
        leaf >> spawn
        error = refused(ParallelGroupError, lambda: wf.execute("start", session_id="S"), "G32")
    assert isinstance(error.__cause__, GraphCompilationError)
    assert f"{MAX_GROUP_DEPTH + 1} levels deep" in str(error.__cause__)
    assert "too_deep_1" not in calls and "too_deep_2" not in calls
    assert "spawn" in calls
    assert top.task_id == "G32" and wf.last_run.status == "failed"


def test_a_failure_32_groups_deep_is_one_short_error_with_a_two_link_chain(calls):
    with workflow("deep_failure") as wf:
        @task
        def leaf():
            raise ValueError("broke at the bottom")

        node = leaf
        for level in range(1, MAX_GROUP_DEPTH + 1):
            node = ParallelGroup([node, calls.task(f"x{level}")], name=f"G{level}")
        calls.task("start") >> node
        error = refused(ParallelGroupError, lambda: wf.execute("start", session_id="S", max_workers=2), "G32")
    assert type(error.__cause__) is ValueError and str(error.__cause__) == "broke at the bottom"
    assert error.__cause__.__cause__ is None
    assert isinstance(error.errors["G31"], ParallelGroupError)
    assert "first cause in task 'leaf': ValueError: broke at the bottom" in str(error)
    shown = "".join(traceback.format_exception(error))
    assert shown.count("The above exception was the direct cause") == 1
    assert len(shown) < 20_000
    deepest = [s for s, rec in wf.last_run.sessions.items() if rec.depth == MAX_GROUP_DEPTH]
    assert len(deepest) == 2 and wf.last_run.sessions[deepest[0]].state == "failed"


def test_a_wide_failure_lists_the_first_five_and_counts_the_rest():
    with workflow("wide_failure") as wf:
        members = []
        for i in range(200):
            @task(f"m{i}")
            def fail(i=i):
                raise RuntimeError(f"member {i} failed " + "x" * 500)

            members.append(fail)
        group = parallel(*members).with_execution(policy="continue")
        task("src")(lambda: 0) >> group
        error = refused(ParallelGroupError, lambda: wf.execute("src"), "Every task failed", "'m0'", "'m4'",
                        "and 195 more (see .errors)")
    assert "'m5'" not in str(error) and len(error.errors) == 200


# -- execute() settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "kind", "names"),
    [
        ({"max_steps": 0}, ValueError, ["max_steps must be an int >= 1, got 0"]),
        ({"max_steps": -5}, ValueError, ["max_steps", "-5"]),
        ({"max_steps": "10"}, TypeError, ["max_steps", "'10' (str)"]),
        ({"max_steps": True}, TypeError, ["max_steps", "True (bool)"]),
        ({"max_workers": 0}, ValueError, ["max_workers must be an int >= 1, got 0"]),
        ({"max_workers": "4"}, TypeError, ["max_workers", "'4' (str)"]),
        ({"max_workers": 2.0}, TypeError, ["max_workers", "2.0 (float)"]),
        ({"max_concurrency": 0}, ValueError, ["max_concurrency must be an int >= 1, got 0"]),
        ({"max_concurrency": [1]}, TypeError, ["max_concurrency", "[1] (list)"]),
        ({"default_max_cycles": 0}, ValueError, ["default_max_cycles must be an int >= 1, got 0"]),
        ({"default_max_retries": -1}, ValueError, ["default_max_retries must be an int >= 0, got -1"]),
        ({"initial_channel": [("k", 1)]}, TypeError, ["initial_channel must be a mapping", "(list)"]),
        ({"initial_channel": "k=1"}, TypeError, ["initial_channel must be a mapping", "'k=1' (str)"]),
        ({"initial_channel": {5: 1}}, TypeError, ["initial_channel keys must be strings", "5 (int)"]),
        ({"session_id": ""}, ValueError, ["execute(session_id=...)", "''"]),
        ({"session_id": 4821}, TypeError, ["execute(session_id=...)", "4821 (int)"]),
        ({"observers": print}, TypeError, ["observers=...", "list of callables"]),
        ({"observers": [5]}, TypeError, ["observers must be callables", "5 (int)"]),
        ({"default_policy": "sometimes"}, ValueError, ["unknown group policy 'sometimes'"]),
    ],
)
def test_execute_settings_refused_before_the_run_exists(options, kind, names, calls):
    wf = diamond(calls)
    refused(kind, lambda: wf.execute("fetch", **options), *names)
    assert calls == [] and wf.last_run is None and list(wf.runs) == []


def test_unknown_or_non_string_start_node(calls):
    wf = diamond(calls)
    refused(KeyError, lambda: wf.execute("fecth"), "'fecth'", "start at one of 'fetch'")
    refused(TypeError, lambda: wf.execute(5), "execute(start_node)", "5 (int)")
    assert calls == [] and wf.last_run is None


def test_odd_but_valid_session_ids_derive_branch_ids_as_usual(calls):
    wf = diamond(calls)
    wf.execute("fetch", session_id="a_b#2")
    assert list(wf.last_run.sessions) == ["a_b#2", "a_b#2_a", "a_b#2_b"]


def test_a_member_id_that_spells_a_nested_session_id_still_gets_its_own_session():
    with workflow("lookalike") as wf:
        a, b, c, a_b = (task(n)(lambda: 1) for n in ("a", "b", "c", "a_b"))
        _ = task("src")(lambda: 0) >> ((a >> (b | c)) | a_b)
        wf.execute("src", session_id="S")
    sessions = wf.last_run.sessions
    # The root forks S_a and S_a_b (member a_b) first; S_a's own group then finds
    # "S_a_b" taken and its member b gets "S_a_b#2".
    assert list(sessions) == ["S", "S_a", "S_a_b", "S_a_b#2", "S_a_c"]
    assert (sessions["S_a_b"].parent_id, sessions["S_a_b#2"].parent_id) == ("S", "S_a")
    assert sessions["S_a_b"].tasks_run == ["a_b"] and sessions["S_a_b#2"].tasks_run == ["b"]


# -- hostile values stay short in messages -------------------------------------------------


def test_a_huge_id_or_value_is_cut_short_in_messages():
    huge = "x" * 100_000
    with workflow("huge"):
        error = refused(ValueError, lambda: task(huge, timeout=-1)(lambda: 1), "timeout", "100002 chars")
        refused(TypeError, lambda: task("t", max_retries=huge)(lambda: 1), "max_retries", "chars) (str)")
    assert len(str(error)) < 300


def test_a_value_whose_repr_raises_is_still_named():
    class Hostile:
        def __repr__(self):
            raise RuntimeError("no repr for you")

    with workflow("hostile"):
        refused(TypeError, lambda: task("t", timeout=Hostile())(lambda: 1), "<Hostile object> (Hostile)")


# -- cycles ------------------------------------------------------------------------------


def test_max_cycles_bounds_a_plain_cycle_of_edges():
    runs = []
    with workflow("edge_loop") as wf:
        @task(max_cycles=2)
        def a():
            runs.append("a")

        @task
        def b():
            runs.append("b")

        a >> b >> a
        error = refused(CycleLimitExceededError, lambda: wf.execute("a", session_id="L"),
                        "task_id=a, cycle_count=2, max_cycles=2")
    assert (error.task_id, error.cycle_count, error.max_cycles) == ("a", 2, 2)
    assert runs == ["a", "b", "a", "b"]
    assert [r.task_id for r in wf.last_run.task_runs] == ["a", "b", "a", "b"]
    assert wf.last_run.status == "failed" and wf.last_run.sessions["L"].state == "failed"


@pytest.mark.parametrize("by_id", [False, True])
def test_max_cycles_bounds_a_goto_loop_by_task_or_by_id(by_id):
    runs = []
    with workflow("goto_loop") as wf:
        @task(inject_context=True, max_cycles=3)
        def poll(ctx):
            runs.append(ctx.cycle_count)
            ctx.next_task("poll" if by_id else poll, goto=True)

        refused(CycleLimitExceededError, lambda: wf.execute("poll"), "task_id=poll, cycle_count=3, max_cycles=3")
    assert runs == [1, 2, 3]


def test_default_max_cycles_bounds_every_task_without_its_own():
    runs = []
    with workflow("default_cycles") as wf:
        @task(inject_context=True)
        def again(ctx):
            runs.append(ctx.cycle_count)
            ctx.next_task(again, goto=True)

        refused(CycleLimitExceededError, lambda: wf.execute("again", default_max_cycles=4), "task_id=again")
    assert runs == [1, 2, 3, 4]


def test_without_a_limit_a_goto_loop_runs_until_max_steps():
    runs = []
    with workflow("unbounded_goto") as wf:
        @task(inject_context=True)
        def again(ctx):
            runs.append(1)
            ctx.next_task(again, goto=True)

        refused(StepLimitExceededError, lambda: wf.execute("again", max_steps=50), "max_steps=50")
    assert len(runs) == 50


def test_next_iteration_keeps_graflows_default_of_ten():
    seen = []
    with workflow("iterations") as wf:
        @task(inject_context=True)
        def step(ctx, data=None):
            seen.append(ctx.cycle_count)
            ctx.next_iteration()

        refused(CycleLimitExceededError, lambda: wf.execute("step"),
                f"task_id=step, cycle_count={GRAFLOW_MAX_CYCLES}, max_cycles={GRAFLOW_MAX_CYCLES}")
    assert seen == list(range(1, GRAFLOW_MAX_CYCLES + 1))


def test_a_group_in_a_loop_keeps_its_branch_ids_and_the_loop_stops_at_max_cycles():
    with workflow("group_loop") as wf:
        @task(inject_context=True, max_cycles=3)
        def head(ctx):
            return ctx.cycle_count

        a, b = task("a")(lambda: 1), task("b")(lambda: 2)

        @task(inject_context=True)
        def tail(ctx):
            ctx.next_task(head, goto=True)

        head >> (a | b) >> tail
        refused(CycleLimitExceededError, lambda: wf.execute("head", session_id="L"), "task_id=head")
    assert [s for s in wf.last_run.sessions if s.startswith("L_a")] == ["L_a", "L_a#2", "L_a#3"]


# -- next_task ---------------------------------------------------------------------------


def jump_by_id(name: str, target: str):
    """first (calls ``ctx.next_task(target)``) >> skipped, plus a task ``target``."""
    ran: list[str] = []
    with workflow(name) as wf:
        @task(inject_context=True)
        def first(ctx):
            ran.append("first")
            ctx.next_task(target)

        @task
        def skipped():
            ran.append("skipped")

        @task
        def target_task():
            ran.append("target")
            return "hit"

        first >> skipped
    return wf, ran


def test_next_task_resolves_an_id_to_the_graphs_task_and_jumps():
    wf, ran = jump_by_id("by_id", "target_task")
    assert wf.execute("first") == "hit"
    assert ran == ["first", "target"]


def test_next_task_with_an_unknown_id_or_a_non_task():
    wf, ran = jump_by_id("unknown_next", "nope")
    error = refused(ValueError, lambda: wf.execute("first", session_id="N"),
                    "next_task('nope')", "session 'N'", "known: 'first', 'skipped', 'target_task'")
    assert (error.task_id, error.session_id) == ("first", "N")
    assert ran == ["first"] and wf.last_run.status == "failed"

    with workflow("non_task_next") as wf:
        @task(inject_context=True)
        def bad(ctx):
            ctx.next_task(print)

        refused(TypeError, lambda: wf.execute("bad"), "next_task() takes a task", "decorate it with @task")


@pytest.mark.parametrize(("value", "kind"), [("30", TypeError), (math.nan, ValueError), (0, ValueError)])
def test_a_question_with_a_timeout_no_wait_could_honour(value, kind):
    with workflow("asking") as wf:
        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("ok?", timeout=value, default=False)

        refused(kind, lambda: wf.execute("ask", session_id="Q"), "task 'ask': request_feedback()", "timeout")
    assert wf.last_run.status == "failed" and wf.last_run.pending_inputs() == []
