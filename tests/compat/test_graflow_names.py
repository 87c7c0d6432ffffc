"""The rest of graflow's public API, each name used the way graflow programs use it.

Imported under graflow_nb's own paths (``graflow_nb.coordination.coordinator``...):
the alias maps graflow's names onto exactly these modules (tests/compat/test_alias.py).
"""

from __future__ import annotations

import threading

import pytest

from graflow_nb import ParallelGroupError, TaskExecutionContext, parallel, task, workflow
from graflow_nb.coordination.coordinator import CoordinationBackend
from graflow_nb.core.context import ExecutionContext
from graflow_nb.core.engine import WorkflowEngine
from graflow_nb.core.handler import TaskHandler
from graflow_nb.core.handlers.direct import DirectTaskHandler
from graflow_nb.core.handlers.group_policy import BestEffortGroupPolicy, StrictGroupPolicy
from graflow_nb.core.workflow import current_workflow_context


# -- CoordinationBackend ----------------------------------------------------------------
@pytest.mark.parametrize(
    "backend", [CoordinationBackend.THREADING, "threading", "THREADING", CoordinationBackend.DIRECT, "Direct", None]
)
def test_every_spelling_of_a_backend_is_accepted(backend):
    with workflow("spellings"):

        @task
        def a():
            return 1

        @task
        def b():
            return 2

        group = (a | b).with_execution(backend=backend)
    expected = "threading" if backend is None else str(getattr(backend, "value", backend)).lower()
    assert group.backend == expected


@pytest.mark.parametrize("backend", [CoordinationBackend.REDIS, "redis", "Redis"])
def test_redis_is_one_clear_error_pointing_to_dask(backend):
    with workflow("redis"):

        @task
        def a():
            return 1

        @task
        def b():
            return 2

        group = a | b
        with pytest.raises(ValueError) as refused:
            group.with_execution(backend=backend)
    message = str(refused.value)
    assert message.startswith(f"backend {str(getattr(backend, 'value', backend))!r} for group 'ParallelGroup_1' is not offered")
    assert 'backend="dask"' in message and "no Redis workers" in message
    assert group.backend == "threading"  # nothing changed


@pytest.mark.parametrize("backend", [3, object(), "multiprocessing"])
def test_unknown_backends_still_name_the_choices(backend):
    with workflow("unknown"):

        @task
        def a():
            return 1

        @task
        def b():
            return 2

        with pytest.raises(ValueError, match="choose one of threading, direct"):
            (a | b).with_execution(backend=backend)


# -- DIRECT: members one after another in the parent session ----------------------------
def direct_workflow(policy=None, fail=(), fail_fast=False):
    ran = []
    with workflow("direct") as wf:

        @task(inject_context=True)
        def start(ctx: TaskExecutionContext):
            ran.append(("start", ctx.session_id))
            ctx.get_channel().set("trail", ["start"])

        def member(name):
            @task(name, inject_context=True)
            def body(ctx: TaskExecutionContext):
                ran.append((name, ctx.session_id))
                trail = ctx.get_channel().get("trail")
                ctx.get_channel().set("trail", [*trail, name])
                if name in fail:
                    raise KeyError(f"{name} broke")
                return name.upper()

            return body

        m1, m2, m3 = member("m1"), member("m2"), member("m3")

        @task(inject_context=True)
        def m1_next(ctx: TaskExecutionContext):
            ran.append(("m1_next", ctx.session_id))

        @task(inject_context=True)
        def end(ctx: TaskExecutionContext):
            ran.append(("end", ctx.session_id))
            return ctx.get_channel().get("trail")

        start >> ((m1 >> m1_next) | m2 | m3).with_execution(
            backend=CoordinationBackend.DIRECT, policy=policy, fail_fast=fail_fast
        ) >> end
    return wf, ran


def test_direct_members_run_in_order_in_the_parent_session_and_the_successor_once():
    wf, ran = direct_workflow()
    assert wf.execute("start", session_id="P") == ["start", "m1", "m2", "m3"]
    assert ran == [("start", "P"), ("m1", "P"), ("m1_next", "P"), ("m2", "P"), ("m3", "P"), ("end", "P")]
    run = wf.last_run
    assert list(run.sessions) == ["P"]  # no branch sessions at all
    assert run.sessions["P"].tasks_run == ["start", "ParallelGroup_1", "m1", "m1_next", "m2", "m3", "end"]
    assert (run.sessions["P"].enqueued, run.sessions["P"].dequeued) == (6, 6)
    assert run.results()["m2"] == "M2"
    assert [(g.group_id, g.session_id, g.state) for g in run.groups] == [("ParallelGroup_1", "P", "succeeded")]


def test_direct_fail_fast_stops_at_the_first_failure_and_keeps_what_ran():
    wf, ran = direct_workflow(fail=("m2",), fail_fast=True)
    with pytest.raises(ParallelGroupError) as failed:
        wf.execute("start", session_id="P")
    error = failed.value
    assert [name for name, _ in ran] == ["start", "m1", "m1_next", "m2"]  # m3 never started, end never ran
    assert isinstance(error.errors["m2"], KeyError) and error.cancelled_tasks == ["m3"]
    # no isolation in the parent session: the failed member's write stays, as in graflow
    assert wf.last_run.root_context.channel.get("trail") == ["start", "m1", "m2"]
    assert wf.last_run.status == "failed"


def test_direct_strict_runs_every_member_and_lists_every_failure_as_graflow_does():
    wf, ran = direct_workflow(fail=("m1", "m3"))
    with pytest.raises(ParallelGroupError) as failed:
        wf.execute("start", session_id="P")
    error = failed.value
    assert [name for name, _ in ran] == ["start", "m1", "m2", "m3"]  # m1's chain stops, end never runs
    assert error.failed_tasks == [("m1", "'m1 broke'"), ("m3", "'m3 broke'")]
    assert error.successful_tasks == ["m2"] and error.cancelled_tasks == []


def test_direct_best_effort_runs_every_member_and_the_successor():
    wf, ran = direct_workflow(policy=BestEffortGroupPolicy(), fail=("m1",))
    assert wf.execute("start", session_id="P") == ["start", "m1", "m2", "m3"]
    # m1 failed, so its chain (m1_next) never ran; every other member did
    assert [name for name, _ in ran] == ["start", "m1", "m2", "m3", "end"]
    assert [g.state for g in wf.last_run.groups] == ["degraded"]


def test_a_direct_member_that_asks_for_input_resumes_without_rerunning_finished_members():
    ran = []
    with workflow("direct-ask") as wf:

        @task
        def first():
            ran.append("first")
            return 1

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext):
            ran.append("ask")
            return ctx.request_approval("go?")

        @task
        def last():
            ran.append("last")

        @task
        def after(ask):
            return ("after", ask)

        (first | ask | last).with_execution(backend="direct") >> after
        paused = wf.execute("ParallelGroup_1", session_id="D")
        assert paused.status == "paused" and [p.session_id for p in paused.pending] == ["D"]
        assert ran == ["first", "ask"]
        assert paused.resume("D", True) == ("after", True)
    assert ran == ["first", "ask", "ask", "last"]


def test_a_direct_group_has_no_timeout_to_give():
    with workflow("direct-timeout"):

        @task
        def a():
            return 1

        @task
        def b():
            return 2

        with pytest.raises(ValueError, match="backend 'direct' runs them one after another"):
            (a | b).with_execution(backend="direct", timeout=1.0)


# -- task.run() and direct calls ----------------------------------------------------------
def test_run_and_call_execute_a_task_outside_any_workflow():
    @task
    def add(x: int = 1, y: int = 2):
        return x + y

    @task(inject_context=True)
    def where(ctx: TaskExecutionContext):
        return (ctx.task_id, ctx.session_id)

    bound = add(task_id="bound", x=10)
    assert (add.run(), add(), add.run(5), add.run(y=5), bound.run(), bound.run(y=0)) == (3, 3, 7, 6, 12, 10)
    assert where.run() == ("where", "direct_call")


def test_positional_arguments_get_graflows_words_then_our_hint():
    @task
    def f(x):
        return x

    with pytest.raises(TypeError) as refused:
        f(1, 2)
    assert str(refused.value) == (
        "TaskWrapper instance creation does not support positional arguments. Please use keyword arguments "
        "only. Got 2 positional args. f(task_id='name', param=value) creates a task instance from task 'f'; "
        "call f.func(...) to run the plain function"
    )


# -- cycle_controller ----------------------------------------------------------------------
def test_cycle_controller_counts_each_tasks_runs_in_its_session():
    seen = []
    with workflow("cycles") as wf:

        @task(inject_context=True, max_cycles=4)
        def loop(ctx: TaskExecutionContext, data=None):
            controller = ctx.execution_context.cycle_controller
            seen.append((ctx.session_id, controller.get_cycle_count("loop"), controller.get_cycle_count("never"),
                         controller.can_execute("loop"), controller.get_max_cycles_for_node("loop")))
            if ctx.can_iterate():
                ctx.next_iteration()

        @task(inject_context=True)
        def other(ctx: TaskExecutionContext):
            seen.append((ctx.session_id, ctx.execution_context.cycle_controller.get_cycle_count("loop")))

        _ = loop | other
        wf.execute("ParallelGroup_1", session_id="C")
    assert [s for s in seen if s[0] == "C_other"] == [("C_other", 0)]  # a sibling's runs are its own
    loops = [s for s in seen if s[0] == "C_loop"]
    assert loops == [("C_loop", n, 0, n < 4, 4) for n in (1, 2, 3, 4)]
    assert wf.last_run.root_context.cycle_controller.cycle_counts == {"ParallelGroup_1": 1}


# -- custom handlers ------------------------------------------------------------------------
class Recording(TaskHandler):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def execute_task(self, task, context):
        with self._lock:
            self.calls.append((task.task_id, context.session_id))
        context.set_result(task.task_id, ("handled", task.run()))


def test_a_registered_handler_runs_its_tasks_in_every_session():
    handler = Recording()
    with workflow("handled") as wf:

        @task(handler="recording")
        def head():
            return "h"

        @task(handler="recording", inject_context=True)
        def member(ctx: TaskExecutionContext, head):
            return (head, ctx.session_id)

        @task
        def plain(head):
            return head

        @task
        def tail(member, plain):
            return (member, plain)

        head >> (member | plain) >> tail
    engine = WorkflowEngine()
    engine.register_handler("recording", handler)
    context = ExecutionContext.create(wf.graph, "head", session_id="H")
    assert engine.execute(context) == ((("handled", (("handled", "h"), "H_member"))), ("handled", "h"))
    assert sorted(handler.calls) == [("head", "H"), ("member", "H_member")]


def test_an_unregistered_handler_fails_its_task_naming_both():
    with workflow("unhandled") as wf:

        @task(handler="docker")
        def boxed():
            return 1

    engine = WorkflowEngine()
    engine.register_handler("recording", Recording())
    context = ExecutionContext.create(wf.graph, "boxed", session_id="U")
    with pytest.raises(ValueError) as refused:
        engine.execute(context)
    assert str(refused.value) == (
        "Unknown handler type: docker. Supported: direct, recording. (task 'boxed' asks for it; call "
        "WorkflowEngine().register_handler('docker', handler) and run with that engine; graflow_nb offers no "
        "Docker handler)"
    )
    assert (context.run.status, context.run.sessions["U"].state) == ("failed", "failed")
    # graflow's default handler name needs no registration
    with workflow("default-handler") as wf2:

        @task(handler="direct")
        def plain():
            return "ran"

    assert wf2.execute("plain") == "ran"


def test_a_handler_that_stores_an_exception_fails_the_task_with_it():
    class Storing(TaskHandler):
        def execute_task(self, task, context):
            context.set_result(task.task_id, LookupError(f"{task.task_id} found nothing"))

    with workflow("storing") as wf:

        @task(handler="storing")
        def search():
            return "never"

    engine = WorkflowEngine()
    engine.register_handler("storing", Storing())
    with pytest.raises(LookupError, match="search found nothing"):
        engine.execute(ExecutionContext.create(wf.graph, "search"))


def test_handlers_are_checked_when_registered():
    engine = WorkflowEngine()
    with pytest.raises(TypeError, match="has no execute_task"):
        engine.register_handler("x", object())
    with pytest.raises(TypeError, match="TaskHandler"):
        TaskHandler()  # type: ignore[abstract]
    engine.register_handler("direct", DirectTaskHandler())


def test_direct_task_handler_stores_what_the_function_returns():
    with workflow("direct-handler") as wf:

        @task(handler="direct", inject_context=True)
        def echo(ctx: TaskExecutionContext, word: str):
            return f"{word} from {ctx.session_id}"

    engine = WorkflowEngine()
    engine.register_handler("direct", DirectTaskHandler())
    context = ExecutionContext.create(wf.graph, "echo", session_id="E", initial_channel={"word": "hi"})
    assert engine.execute(context) == "hi from E"


# -- workflow context, next_task(group >> task), policies ----------------------------------
def test_current_workflow_context_is_the_enclosing_workflow():
    with workflow("outer") as outer:
        assert current_workflow_context() is outer
        with workflow("inner") as inner:
            assert current_workflow_context() is inner
        assert current_workflow_context() is outer


def test_next_task_with_a_chain_whose_head_is_a_group():
    ran = []
    with workflow("chain-head") as wf:

        @task
        def left():
            ran.append("left")
            return "L"

        @task
        def right():
            ran.append("right")
            return "R"

        @task
        def sink(left, right):
            ran.append("sink")
            return left + right

        @task(inject_context=True)
        def spawner(ctx: TaskExecutionContext):
            ran.append("spawner")
            ctx.next_task(parallel(left, right) >> sink)

        assert wf.execute("spawner", session_id="S") == "LR"
    assert ran[0] == "spawner" and sorted(ran[1:3]) == ["left", "right"] and ran[3:] == ["sink"]
    assert wf.last_run.task_counts() == {"spawner": 1, "ParallelGroup_1": 1, "left": 1, "right": 1, "sink": 1}


def test_group_policy_module_is_graflows_path_to_the_same_classes():
    from graflow_nb.core import policies

    assert StrictGroupPolicy is policies.StrictGroupPolicy and BestEffortGroupPolicy is policies.BestEffortGroupPolicy


# -- graflow's words, then ours ------------------------------------------------------------
def test_wiring_errors_start_with_graflows_words():
    from graflow_nb import chain
    from graflow_nb.core.task import SequentialTask

    with workflow("words"):

        @task
        def a():
            return 1

        with pytest.raises(TypeError) as operand:
            _ = a >> 5
        assert str(operand.value) == (
            "Can only combine with Task, TaskWrapper, SequentialTask, or ParallelGroup: <class 'int'>; "
            "'a' >>: 5 (int) is not a task or group"
        )
        with pytest.raises(ValueError, match="^chain requires at least one task"):
            chain()
        with pytest.raises(ValueError, match="^parallel requires at least two tasks, got 1"):
            parallel(a)
        with pytest.raises(ValueError, match="^SequentialTask requires at least one task$"):
            SequentialTask([])


def test_policy_failures_start_with_graflows_words():
    from graflow_nb.core.handlers.group_policy import AtLeastNGroupPolicy, CriticalGroupPolicy

    def failing(policy):
        with workflow("policy-words") as wf:

            @task
            def ok():
                return 1

            @task
            def bad():
                raise OSError("disk")

            (ok | bad).with_execution(policy=policy)
        with pytest.raises(ParallelGroupError) as failed:
            wf.execute("ParallelGroup_1", session_id="W")
        return str(failed.value)

    assert failing("strict").startswith("Parallel group ParallelGroup_1 failed: 1 task(s) failed")
    assert failing(AtLeastNGroupPolicy(min_success=2)).startswith("Only 1/2 tasks succeeded in group ParallelGroup_1")
    assert failing(CriticalGroupPolicy(critical_task_ids=["bad"])).startswith(
        "Critical tasks failed: ['bad'] in group ParallelGroup_1: 'bad' (session W_bad): OSError: disk"
    )


# -- typed channels --------------------------------------------------------------------------
def test_typed_channels_check_writes_and_filter_reads_as_graflows_do():
    from typing import TypedDict

    from graflow_nb.channels.typed import ChannelTypeRegistry, TypedChannel
    from graflow_nb.core.errors import ConfigError

    class Order(TypedDict):
        id: int
        item: str

    seen = {}
    with workflow("typed") as wf:

        @task(inject_context=True)
        def write(ctx: TaskExecutionContext):
            orders = ctx.get_typed_channel(Order)
            orders.send("o1", {"id": 1, "item": "tea"})
            with pytest.raises(TypeError, match="Message does not conform to Order"):
                orders.set("o2", {"id": "one", "item": "tea"})
            ctx.get_channel().set("junk", {"id": 2})
            seen["reads"] = (orders.receive("o1"), orders.get("junk"), orders.get("absent"), orders.exists("o2"))
            seen["counter"] = (orders.atomic_add("n", 2), orders.append("log", "a"), orders.prepend("log", "b"))
            with orders.lock("o1"):
                seen["locked"] = True

        wf.execute("write")
    assert seen == {
        "reads": ({"id": 1, "item": "tea"}, None, None, False),
        "counter": (2, 1, 2),
        "locked": True,
    }
    ChannelTypeRegistry.register("order", Order)
    channel = wf.last_run.root_context.channel
    assert ChannelTypeRegistry.create_channel(channel, "order").receive("o1") == {"id": 1, "item": "tea"}
    with pytest.raises(ConfigError, match="Message type 'nope' not registered"):
        ChannelTypeRegistry.create_channel(channel, "nope")
    with pytest.raises(ValueError, match="must be a TypedDict"):
        TypedChannel(channel, dict)


def test_the_step_debugger_steps_through_a_direct_group_inside_its_session():
    with workflow("dbg-direct") as wf:

        @task
        def src():
            return 1

        @task
        def a(src):
            return src + 1

        @task
        def b(src):
            return src + 2

        @task
        def end(a, b):
            return a + b

        src >> (a | b).with_execution(backend="direct") >> end
    with wf.debug("src", session_id="T", timeout=5) as dbg:
        nexts = []
        for _ in range(3):
            dbg.step()
            nexts.append(str(dbg.state()).split()[3])
        assert nexts == ["ParallelGroup_1", "a", "b"]
        assert dbg.run_to_end() == 5
    assert list(wf.last_run.sessions) == ["T"]


# -- every public name of graflow 0.2.0's modules ---------------------------------------------
# Read off the real graflow 0.2.0 (each module's __all__, else the classes and functions it
# defines): graflow_0_2_0_names.json.  What graflow_nb leaves out, and why:
LEFT_OUT = {
    ("coordination.coordinator", "TaskCoordinator"): "graflow's coordinator base (Redis/threads internals)",
    ("core.context", "create_execution_context"): "an internal helper with a NoopTracer",
    ("core.context", "execute_with_cycles"): "an internal helper of graflow's engine",
    ("core.handlers.group_policy", "canonicalize_group_policy"): "serialises policies for Redis workers",
    ("core.retry", "RetryController"): "graflow's engine internals",
    ("hitl.handler", "SlackFeedbackHandler"): "posts to the network",
    ("hitl.handler", "WebhookFeedbackHandler"): "posts to the network",
    ("utils.graph", "AsciiCanvas"): "grandalf drawing internals",
    ("utils.graph", "VertexViewer"): "grandalf drawing internals",
}


def graflows_names():
    import json
    from pathlib import Path

    listed = json.loads((Path(__file__).with_name("graflow_0_2_0_names.json")).read_text())
    return [(module, name) for module, names in listed.items() for name in names]


def test_every_public_name_of_graflows_modules_is_here_or_listed_as_left_out():
    import importlib

    missing = []
    for module, name in graflows_names():
        ours = importlib.import_module("graflow_nb" + ("." + module if module else ""))
        if not hasattr(ours, name) and (module, name) not in LEFT_OUT:
            missing.append(f"{module}.{name}")
    assert missing == []
    assert set(LEFT_OUT) <= set(graflows_names())  # nothing listed that graflow does not have


def test_graflows_small_helpers_do_what_graflows_do():
    from graflow_nb.core.errors import GraflowRuntimeError
    from graflow_nb.core.handler import TaskResult
    from graflow_nb.core.handlers.group_policy import resolve_group_policy
    from graflow_nb.core.policies import TaskResult as defined
    from graflow_nb.core.workflow import (
        clear_workflow_context,
        get_current_workflow_context,
        require_workflow_context,
        set_current_workflow_context,
    )
    from graflow_nb.exceptions import as_runtime_error
    from graflow_nb.utils.graph import build_graph, create_agraph, draw_task_graph

    assert TaskResult is defined
    from graflow_nb.core.policies import AtLeastNGroupPolicy, BestEffortGroupPolicy

    at_least = resolve_group_policy({"type": "at_least_n", "min_success": 2})
    assert isinstance(at_least, AtLeastNGroupPolicy) and at_least.min_success == 2
    assert isinstance(resolve_group_policy("best_effort"), BestEffortGroupPolicy)
    wrapped = as_runtime_error(KeyError("k"))
    assert (type(wrapped), str(wrapped), type(wrapped.__cause__)) == (GraflowRuntimeError, "An error occurred: 'k'", KeyError)
    assert as_runtime_error(wrapped) is wrapped

    def isolated():
        assert get_current_workflow_context() is None
        with pytest.raises(GraflowRuntimeError, match="No current workflow context"):
            require_workflow_context()
        mine = workflow("set-by-hand")
        set_current_workflow_context(mine)
        assert require_workflow_context() is mine is get_current_workflow_context()
        clear_workflow_context()
        assert get_current_workflow_context() is None
        assert get_current_workflow_context(create_if_not_exist=True) is not None

    import contextvars

    contextvars.copy_context().run(isolated)  # the set/clear stay inside that context

    with workflow("build") as wf:
        a, b, c, lone = (task(n)(lambda: None) for n in ("a", "b", "c", "lone"))
        _ = a >> b >> c
    part = build_graph(b, wf)
    assert (list(part.nodes), part.edges) == (["a", "b", "c"], [("a", "b"), ("b", "c")])
    assert list(wf.graph.nodes) == ["a", "b", "c", "lone"]  # the workflow's own graph is left alone
    with pytest.raises(NotImplementedError, match="matplotlib"):
        draw_task_graph(wf.graph)
    with pytest.raises(NotImplementedError, match="pygraphviz"):
        create_agraph(wf.graph)
