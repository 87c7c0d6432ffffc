"""graflow's public authoring API, as a user pasting graflow code would rely on it."""

import pickle

import pytest

import graflow_nb
from graflow_nb import (
    ParallelGroup,
    RetryPolicy,
    TaskExecutionContext,
    TaskWrapper,
    chain,
    parallel,
    task,
    workflow,
)
from graflow_nb.core.context import ExecutionContext
from graflow_nb.core.engine import WorkflowEngine
from graflow_nb.core.graph import TaskGraph
from graflow_nb.exceptions import (
    CycleLimitExceededError,
    DuplicateTaskError,
    GraflowError,
    GraflowRuntimeError,
    GraflowWorkflowCanceledError,
    GraphCompilationError,
    GraphMutationError,
    ParallelGroupError,
    RetryLimitExceededError,
    TaskError,
)


def test_top_level_names_match_graflow():
    for name in ["task", "workflow", "TaskExecutionContext", "RetryPolicy", "chain", "parallel"]:
        assert hasattr(graflow_nb, name)
    assert issubclass(ParallelGroupError, GraflowRuntimeError)
    assert issubclass(RetryLimitExceededError, GraflowRuntimeError)
    assert issubclass(CycleLimitExceededError, GraflowRuntimeError)
    assert issubclass(GraflowWorkflowCanceledError, GraflowRuntimeError)
    assert issubclass(GraflowRuntimeError, GraflowError)
    assert issubclass(DuplicateTaskError, GraphCompilationError)


def test_every_decorator_form_gives_the_documented_id():
    @task
    def plain():
        return 1

    @task()
    def empty_call():
        return 2

    @task("named")
    def positional_id():
        return 3

    @task(id="kw_named", inject_context=True)
    def keyword_id(ctx):
        return ctx.task_id

    assert [t.task_id for t in (plain, empty_call, positional_id, keyword_id)] == [
        "plain", "empty_call", "named", "kw_named",
    ]
    assert all(isinstance(t, TaskWrapper) for t in (plain, empty_call, positional_id, keyword_id))
    with workflow("forms") as wf:
        plain >> empty_call >> positional_id >> keyword_id
        assert wf.execute("plain") == "kw_named"


def test_parameter_named_after_upstream_task_receives_its_result():
    with workflow("kw") as wf:
        @task
        def a():
            return 21

        @task
        def b(a, factor=2):
            return a * factor

        a >> b
        assert wf.execute("a") == 42


def test_channel_key_and_initial_channel_fill_parameters():
    with workflow("init") as wf:
        @task
        def scale(x, factor):
            return x * factor

        assert wf.execute("scale", initial_channel={"x": 4, "factor": 3}) == 12


def test_bound_kwargs_beat_channel_values_and_instances_are_new_tasks():
    with workflow("bound") as wf:
        @task
        def greet(name):
            return f"hi {name}"

        first = greet(task_id="greet_ann", name="ann")
        second = greet(task_id="greet_bob", name="bob")
        first >> second
        result, ctx = wf.execute("greet_ann", ret_context=True, initial_channel={"name": "channel"})
    assert result == "hi bob"
    assert ctx.get_result("greet_ann") == "hi ann"
    assert ctx.channel.get("greet_bob.__result__") == "hi bob"
    assert {"greet", first.task_id, second.task_id} == set(wf.graph.nodes)  # the template, and its two instances


def test_instance_without_task_id_gets_unique_id_and_positional_call_is_refused():
    @task
    def f(x):
        return x

    inst = f(x=1)
    assert inst.task_id.startswith("f_") and len(inst.task_id) == len("f_") + 8
    with pytest.raises(TypeError, match="keyword arguments only"):
        f(1)


def test_calling_a_task_without_arguments_runs_the_function():
    @task
    def now():
        return "ran"

    assert now() == "ran"


def test_missing_required_parameter_names_task_parameter_and_session():
    with workflow("missing") as wf:
        @task
        def needs(required):
            return required

        with pytest.raises(TaskError) as info:
            wf.execute("needs", session_id="S1")
    message = str(info.value)
    assert "'needs'" in message and "'required'" in message and "'S1'" in message


def test_user_exception_keeps_its_type_and_gains_where_it_happened():
    with workflow("boom") as wf:
        @task
        def boom():
            raise KeyError("nope")

        with pytest.raises(KeyError) as info:
            wf.execute("boom", session_id="S2")
    assert info.value.task_id == "boom" and info.value.session_id == "S2"
    assert info.value.__notes__ == ["[graflow_nb] raised by task 'boom' in session 'S2'"]
    assert info.value.args == ("nope",)
    assert wf.last_run.status == "failed"
    assert wf.last_run.sessions["S2"].state == "failed"


def test_start_node_detection():
    with workflow("auto") as wf:
        @task
        def fetch():
            return 1

        @task
        def left():
            return 2

        @task
        def right():
            return 3

        @task
        def store():
            return "stored"

        fetch >> (left | right) >> store
        assert wf.execute() == "stored"

    with workflow("two_roots") as wf:
        @task
        def r1():
            pass

        @task
        def r2():
            pass

        with pytest.raises(GraphCompilationError, match="Multiple start nodes found.*'r1', 'r2'"):
            wf.execute()

    with workflow("empty") as wf:
        with pytest.raises(GraphCompilationError, match="no tasks"):
            wf.execute()


def test_rerunning_a_wiring_cell_builds_and_runs_the_new_graph():
    calls = []

    @task
    def extract():
        calls.append("extract")

    @task
    def f1():
        calls.append("f1")

    @task
    def f2():
        calls.append("f2")

    @task
    def load():
        calls.append("load")

    runs = []
    for _ in range(2):  # the same cell run twice
        with workflow("cell") as wf:
            extract >> (f1 | f2) >> load
            wf.execute("extract", session_id="S")
        runs.append((wf, wf.last_run.execution_sequence(), list(calls)))
        calls.clear()
    for wf, sequence, called in runs:
        assert sequence == ["extract", "f1", "f2", "load"]
        assert called[0] == "extract" and sorted(called[1:3]) == ["f1", "f2"] and called[3:] == ["load"]
        assert sorted(wf.last_run.sessions) == ["S", "S_f1", "S_f2"]
    assert runs[0][0] is not runs[1][0]

    with workflow("cell") as wf:  # the cell edited: f2 goes, f1 feeds load directly
        extract >> f1 >> load
        wf.execute("extract", session_id="S")
    assert calls == ["extract", "f1", "load"]
    assert wf.last_run.execution_sequence() == ["extract", "f1", "load"]
    assert sorted(wf.graph.nodes) == ["extract", "f1", "load"]
    assert sorted(wf.last_run.sessions) == ["S"]


def test_same_id_for_a_different_task_in_one_workflow_is_refused():
    with workflow("dup"):
        @task("same")
        def one():
            pass

        with pytest.raises(DuplicateTaskError, match="'same'"):
            @task("same")
            def two():
                pass


def test_operators_chain_parallel_and_helpers():
    with workflow("ops") as wf:
        @task
        def a():
            pass

        @task
        def b():
            pass

        @task
        def c():
            pass

        @task
        def d():
            pass

        seq = chain(a, b)
        group = parallel(c, d)
        assert isinstance(group, ParallelGroup) and group.member_ids == ["c", "d"]
        seq >> group
        assert wf.graph.successors("b") == [group.task_id]
        assert wf.graph.successors(group.task_id) == []
        with pytest.raises(ValueError):
            parallel(a)
        with pytest.raises(ValueError):
            chain()


def test_left_shift_and_chain_in_group_put_leftmost_in_group():
    with workflow("shift") as wf:
        @task
        def a():
            pass

        @task
        def b():
            pass

        @task
        def c():
            pass

        b << a
        assert wf.graph.successors("a") == ["b"]
        group = (a >> b) | c
        assert group.member_ids == ["a", "c"]


def test_task_on_the_left_of_a_group_runs_once():
    calls = []
    with workflow("x_left") as wf:
        @task
        def x():
            calls.append("x")

        @task
        def a():
            calls.append("a")

        @task
        def b():
            calls.append("b")

        group = x | (a | b)
        assert group.member_ids == ["x", "a", "b"]
        assert wf.graph.successors(group.task_id) == []
        wf.execute(group.task_id)
    assert sorted(calls) == ["a", "b", "x"]


def test_merging_two_groups_without_successors_leaves_no_dangling_node():
    with workflow("merge_groups") as wf:
        @task
        def a():
            pass

        @task
        def b():
            pass

        @task
        def c():
            pass

        @task
        def d():
            pass

        g = (a | b) | (c | d)
        assert g.member_ids == ["a", "b", "c", "d"]
        assert [n.task_id for n in wf.graph.groups()] == [g.task_id]


def test_with_execution_rejects_unknown_backend_and_policy_before_running():
    with workflow("bad"):
        @task
        def a():
            pass

        @task
        def b():
            pass

        group = a | b
        with pytest.raises(ValueError, match="unknown backend 'nope'"):
            group.with_execution(backend="nope")
        with pytest.raises(ValueError, match="unknown group policy"):
            group.with_execution(policy="sometimes")
        assert group.with_execution(backend="threading", backend_config={"thread_count": 2}) is group


def test_retries_count_extra_attempts():
    attempts = []
    with workflow("retry") as wf:
        @task(max_retries=2)
        def flaky():
            attempts.append(1)
            if len(attempts) < 3:
                raise OSError("transient")
            return "ok"

        assert wf.execute("flaky") == "ok"
    assert [r.attempt for r in wf.last_run.task_runs] == [1, 2, 3]
    assert [r.status for r in wf.last_run.task_runs] == ["failed", "failed", "succeeded"]


def test_retry_policy_exhausted_raises_retry_limit_with_original_error():
    with workflow("retry_policy") as wf:
        @task(retry_policy=RetryPolicy(max_retries=1, initial_interval=0))
        def always():
            raise OSError("never works")

        with pytest.raises(RetryLimitExceededError) as info:
            wf.execute("always")
    assert type(info.value.last_error) is OSError
    assert info.value.retry_count == 1 and info.value.max_retries == 1
    assert always.max_retries == 1


def test_retry_policy_delays():
    policy = RetryPolicy(max_retries=5, initial_interval=1.0, backoff_factor=2.0, max_interval=3.0)
    assert [policy.get_delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 3.0]


def test_next_iteration_stops_at_max_cycles_with_graflow_message():
    seen = []
    with workflow("loop") as wf:
        @task(inject_context=True, max_cycles=5)
        def loop(ctx, data=None):
            seen.append((ctx.cycle_count, data))
            ctx.next_iteration((data or 0) + 1)

        with pytest.raises(CycleLimitExceededError, match=r"task_id=loop, cycle_count=5, max_cycles=5"):
            wf.execute("loop")
    assert seen == [(1, None), (2, 1), (3, 2), (4, 3), (5, 4)]


def test_goto_skips_successors_and_new_dynamic_task_keeps_them():
    seen = []
    with workflow("goto") as wf:
        @task(inject_context=True)
        def first(ctx):
            seen.append("first")
            ctx.next_task(jump, goto=True)

        @task
        def second():
            seen.append("second")

        @task
        def jump():
            seen.append("jump")

        first >> second
        wf.execute("first")
    assert seen == ["first", "jump"]

    seen.clear()
    with workflow("dynamic") as wf:
        @task(inject_context=True)
        def spawn(ctx):
            seen.append("spawn")

            @task
            def extra():
                seen.append("extra")

            ctx.next_task(extra)

        @task
        def after():
            seen.append("after")

        spawn >> after
        wf.execute("spawn")
    assert seen == ["spawn", "extra", "after"]  # FIFO: extra was queued first
    assert "extra" not in wf.graph.nodes


def test_terminate_is_a_normal_exit_and_cancel_raises():
    seen = []
    with workflow("terminate") as wf:
        @task(inject_context=True)
        def stop(ctx):
            seen.append("stop")
            ctx.terminate_workflow("enough")
            return "stopped"

        @task
        def never():
            seen.append("never")

        stop >> never
        assert wf.execute("stop") == "stopped"
    assert seen == ["stop"]

    with workflow("cancel") as wf:
        @task(inject_context=True)
        def cancel(ctx):
            ctx.cancel_workflow("bad data")
            return "not stored"

        with pytest.raises(GraflowWorkflowCanceledError, match="bad data") as info:
            wf.execute("cancel")
    assert info.value.task_id == "cancel"
    assert wf.last_run.status == "cancelled"
    assert "cancel" not in wf.last_run.results()


def test_task_execution_context_properties():
    captured = {}
    with workflow("props") as wf:
        @task(inject_context=True, max_retries=1)
        def look(ctx: TaskExecutionContext):
            ctx.get_channel().set("k", "v")
            captured.update(
                session=ctx.session_id,
                cycle=ctx.cycle_count,
                retry=ctx.retry_count,
                max_retries=ctx.max_retries,
                key=ctx.get_channel().get("k"),
            )
            return 7

        @task(inject_context=True)
        def after(ctx):
            return ctx.get_result("look")

        look >> after
        assert wf.execute("look", session_id="P") == 7
    assert captured == {"session": "P", "cycle": 1, "retry": 0, "max_retries": 1, "key": "v"}


def test_graph_is_read_only_during_a_run_and_writable_after():
    with workflow("readonly") as wf:
        @task(inject_context=True)
        def mutate(ctx):
            with pytest.raises(GraphMutationError, match="read-only"):
                ctx.graph.add_edge("mutate", "mutate")
            return "checked"

        assert wf.execute("mutate") == "checked"
        assert not wf.graph.is_read_only
        wf.graph.add_edge("mutate", "mutate")


def test_max_steps_budget_raises_instead_of_stopping_silently():
    with workflow("steps") as wf:
        @task(inject_context=True)
        def spin(ctx):
            ctx.next_task(spin)

        with pytest.raises(GraflowRuntimeError, match="max_steps=5"):
            wf.execute("spin", max_steps=5)
    assert wf.last_run.steps == 5


def _double(x):
    return x * 2


def test_low_level_api_and_context_pickles_without_any_server():
    graph = TaskGraph()
    double = TaskWrapper("double", _double, register_to_context=False)
    graph.add_node(double)
    ctx = ExecutionContext.create(graph, "double", session_id="low")
    ctx.channel.set("x", 5)
    assert WorkflowEngine().execute(ctx) == 10
    restored = pickle.loads(pickle.dumps(ctx))
    assert restored.get_result("double") == 10
    assert restored.session_id == "low"
    assert restored.task_queue.metrics["dequeued"] == 1


def test_nothing_is_written_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with workflow("clean") as wf:
        @task
        def a():
            return 1

        @task
        def b():
            return 2

        @task
        def c():
            return 3

        a >> (b | c)
        wf.execute("a")
    assert list(tmp_path.iterdir()) == []


def test_iteration_ids_are_the_same_on_every_run():
    def run_once():
        with workflow("loop_ids") as wf:
            @task(inject_context=True, max_cycles=3)
            def loop(ctx, data=None):
                if ctx.can_iterate():
                    ctx.next_iteration((data or 0) + 1)

            wf.execute("loop", session_id="L")
        return [r.task_id for r in wf.last_run.task_runs]

    first = run_once()
    assert first == run_once()
    assert first == ["loop", "loop_cycle_1_0d3e63ab", "loop_cycle_2_76ce847c"]


def test_tasks_queued_behind_a_terminate_are_recorded_as_skipped():
    with workflow("skip") as wf:
        @task(inject_context=True)
        def head(ctx):
            ctx.next_task(extra)
            ctx.terminate_workflow("done early")

        @task
        def extra():
            pass

        wf.execute("head", session_id="K")
    assert wf.last_run.skipped == [("extra", "K", "terminated")]


def test_engine_imports_no_notebook_or_drawing_library():
    import subprocess
    import sys

    code = (
        "import sys, graflow_nb, graflow_nb.core\n"
        "from graflow_nb import task, workflow\n"
        "with workflow('w') as wf:\n"
        "    @task\n"
        "    def a(): return 1\n"
        "    wf.execute('a')\n"
        "print(sorted(m for m in ('IPython', 'ipywidgets', 'graphviz', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_members_that_never_start_are_skipped_in_the_record_and_the_event_stream():
    from graflow_nb.core.events import EventKind, EventLog

    log = EventLog()
    with workflow("never_started") as wf:
        @task
        def first():
            raise ValueError("first fails")

        @task
        def second():
            pass

        @task
        def third():
            pass

        group = (first | second | third).with_execution(max_concurrency=1, fail_fast=True)
        with pytest.raises(ParallelGroupError):
            wf.execute(group.task_id, session_id="N", observers=[log])
    expected = [("second", "N_second", "cancelled"), ("third", "N_third", "cancelled")]
    assert wf.last_run.skipped == expected
    skipped_events = [(e.task_id, e.session_id, e.data["reason"]) for e in log.of_kind(EventKind.TASK_SKIPPED)]
    assert skipped_events == expected
