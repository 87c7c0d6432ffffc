"""Branch sessions on a real two-process Dask cluster behave as thread-run branches.

Each test runs the same workflow both ways where that is the point (session ids,
merged values, run counts, frames, the session tree), and otherwise pins what only
the Dask backend adds: the worker each session ran on, events arriving while the run
goes, a value that can't be pickled, a worker that dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid

import pytest
from distributed import Client, Variable
from distributed import Event as DaskEvent
from instruments import WAIT

from graflow_nb import ParallelGroupError, parallel, task, workflow
from graflow_nb.core.errors import GraflowWorkflowCanceledError, GroupTimeoutError, MergeConflictError
from graflow_nb.core.events import EventKind, EventLog
from graflow_nb.distributed import ShippingError, WorkerLost

from .conftest import worker_addresses


def diamond(name: str, backend: dict | None):
    with workflow(name) as wf:
        @task
        def fetch():
            return {"rows": 3}

        @task(inject_context=True)
        def transform_a(ctx, fetch):
            ctx.get_channel().set("a_saw", fetch["rows"])
            return fetch["rows"] * 2

        @task
        def transform_b(fetch):
            return fetch["rows"] + 1

        @task
        def store(transform_a, transform_b):
            return transform_a + transform_b

        group = transform_a | transform_b
        if backend is not None:
            group.with_execution(**backend)
        _ = fetch >> group >> store
    return wf


def without_workers(tree: str) -> str:
    return "\n".join(line.split("  on tcp://")[0] for line in tree.splitlines())


def dask_on(client: Client) -> dict:
    return {"backend": "dask", "backend_config": {"client": client}}


def test_diamond_on_dask_matches_threads_and_records_each_worker(client):
    threaded = diamond("diamond", None)
    remote = diamond("diamond", dask_on(client))
    log = EventLog()
    assert threaded.execute("fetch", session_id="4821") == remote.execute("fetch", session_id="4821", observers=[log]) == 10

    t_run, d_run = threaded.last_run, remote.last_run
    assert without_workers(d_run.session_tree()) == t_run.session_tree()
    assert d_run.task_counts() == t_run.task_counts() == {"fetch": 1, "ParallelGroup_1": 1, "transform_a": 1, "transform_b": 1, "store": 1}
    assert d_run.execution_sequence() == ["fetch", "transform_a", "transform_b", "store"]
    assert d_run.root_context.channel.get("a_saw") == 3  # a channel write made on the worker was merged
    workers = {d_run.sessions[s].worker for s in ("4821_transform_a", "4821_transform_b")}
    assert workers <= worker_addresses(client) and None not in workers
    assert d_run.sessions["4821"].worker is None  # the root ran here
    frame = d_run.frames.sessions()
    assert set(frame["worker"].dropna()) == workers
    columns = ["session_id", "parent_id", "state", "enqueued", "dequeued", "tasks_run"]
    assert frame[columns].equals(t_run.frames.sessions()[columns])
    kinds = [(e.kind, e.session_id) for e in log.events if e.kind in (EventKind.SESSION_FORKED, EventKind.BRANCH_MERGED, EventKind.SESSION_CLOSED)]
    assert kinds.count((EventKind.SESSION_FORKED, "4821_transform_a")) == 1  # forked here, not again on the worker
    assert kinds.count((EventKind.BRANCH_MERGED, "4821_transform_b")) == 1
    started = [e for e in log.events if e.kind == EventKind.TASK_STARTED and e.session_id == "4821_transform_a"]
    assert len(started) == 1 and started[0].thread.startswith("tcp://")  # the worker's own event, kept as it was


def nested(name: str, client: Client | None):
    with workflow(name) as wf:
        def make(task_id):
            @task(task_id)
            def run():
                return task_id

            return run

        a, b, b1, b2, bm, c, d = (make(i) for i in ("a", "b", "b1", "b2", "bm", "c", "d"))
        outer = (b >> (b1 | b2) >> bm) | c
        if client is not None:
            outer.with_execution(**dask_on(client))
        _ = a >> outer >> d
    return wf


def test_nested_groups_run_on_threads_inside_the_worker_with_the_same_session_tree(client):
    threaded = nested("nested", None)
    remote = nested("nested", client)
    threaded.execute("a", session_id="S")
    remote.execute("a", session_id="S")
    t_run, d_run = threaded.last_run, remote.last_run
    assert without_workers(d_run.session_tree()) == t_run.session_tree()
    assert d_run.task_counts() == t_run.task_counts() == {
        k: 1 for k in ("a", "b", "b1", "b2", "bm", "c", "d", "ParallelGroup_1", "ParallelGroup_2")
    }
    assert d_run.execution_sequence() == t_run.execution_sequence()
    # The nested sessions ran on the worker of the branch that forked them.
    assert d_run.sessions["S_b_b1"].worker == d_run.sessions["S_b"].worker is not None
    assert d_run.sessions["S_b_b1"].state == "merged"


def test_dynamic_tasks_stay_in_their_remote_branch(client):
    with workflow("dynamic") as wf:
        @task
        def src():
            return 1

        @task(inject_context=True)
        def a(ctx):
            @task("sub")
            def sub():
                return "sub ran"

            ctx.next_task(sub)
            return "a"

        @task
        def b():
            return "b"

        @task
        def store():
            return "stored"

        _ = src >> (a | b).with_execution(**dask_on(client)) >> store
        assert wf.execute("src", session_id="S") == "stored"
    run = wf.last_run
    assert run.task_counts() == {"src": 1, "ParallelGroup_1": 1, "a": 1, "sub": 1, "b": 1, "store": 1}
    assert run.sessions["S_a"].tasks_run == ["a", "sub"]
    assert (run.sessions["S_a"].enqueued, run.sessions["S"].enqueued) == (2, 2)
    assert run.results()["sub"] == "sub ran"
    assert ("sub", "S_a", "a") in run.dynamic_tasks


def failing_fanout(name: str, client: Client, **options):
    with workflow(name) as wf:
        @task
        def src():
            return 0

        def member(i):
            @task(f"m{i}")
            def m():
                if i == 1:
                    raise ValueError(f"member {i} broke: <{{'\\n'}}>")
                return i

            return m

        @task
        def sink():
            return "sink"

        group = parallel(*(member(i) for i in range(1, 5))).with_execution(**dask_on(client), **options)
        _ = src >> group >> sink
    return wf


def test_fail_fast_keeps_the_original_error_and_never_starts_the_rest(client):
    wf = failing_fanout("strict", client, max_concurrency=1, fail_fast=True)
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute("src", session_id="S")
    error = caught.value.errors["m1"]
    assert type(error) is ValueError and str(error) == "member 1 broke: <{'\\n'}>"
    run = wf.last_run
    assert [run.sessions[f"S_m{i}"].state for i in range(1, 5)] == ["failed", "cancelled", "cancelled", "cancelled"]
    assert run.task_counts() == {"src": 1, "m1": 1, "ParallelGroup_1": 1}
    assert "sink" not in run.task_counts()


def test_continue_policy_degrades_and_runs_successors(client):
    wf = failing_fanout("continue", client, policy="continue")
    assert wf.execute("src", session_id="S") == "sink"
    run = wf.last_run
    assert run.groups[-1].state == "degraded"
    assert [f["task_id"] for f in run.groups[-1].failures] == ["m1"]
    assert {run.sessions[f"S_m{i}"].state for i in (2, 3, 4)} == {"merged"}


def test_rollback_compensates_succeeded_members_once(client):
    with workflow("rollback") as wf:
        compensated = []

        @task
        def src():
            return 0

        @task
        def good():
            return "ok"

        @good.compensate
        def undo_good():
            compensated.append("good")

        @task
        def bad():
            raise KeyError("nope")

        @task
        def sink():
            return "sink"

        _ = src >> (good | bad).with_execution(**dask_on(client), policy="rollback", max_concurrency=1) >> sink
        with pytest.raises(ParallelGroupError) as caught:
            wf.execute("src", session_id="S")
    assert type(caught.value.errors["bad"]) is KeyError
    assert compensated == ["good"]  # run here, in the branch session, once
    assert wf.last_run.sessions["S_good"].state == "discarded"


def test_conflicting_writes_from_two_workers_are_a_merge_conflict(client):
    with workflow("conflict") as wf:
        @task(inject_context=True)
        def a(ctx):
            ctx.get_channel().set("k", 1)

        @task(inject_context=True)
        def b(ctx):
            ctx.get_channel().set("k", 2)

        @task
        def after():
            return "never"

        _ = (a | b).with_execution(**dask_on(client)) >> after
        with pytest.raises(MergeConflictError) as caught:
            wf.execute("ParallelGroup_1", session_id="S", initial_channel={"k": 0})
    assert "'k'" in str(caught.value) and "a" in str(caught.value) and "b" in str(caught.value)
    assert wf.last_run.root_context.channel.get("k") == 0
    assert "after" not in wf.last_run.task_counts()


def test_overwrite_merges_in_declared_order_whichever_worker_ends_first(client):
    for declared, expected in (("ab", 2), ("ba", 1)):
        with workflow(f"overwrite-{declared}") as wf:
            @task(inject_context=True)
            def a(ctx):
                ctx.get_channel().set("k", 1)

            @task(inject_context=True)
            def b(ctx):
                ctx.get_channel().set("k", 2)

            members = (a, b) if declared == "ab" else (b, a)
            parallel(*members).with_execution(**dask_on(client), merge="overwrite")
            wf.execute("ParallelGroup_1", session_id="S")
        assert wf.last_run.root_context.channel.get("k") == expected


def test_group_timeout_abandons_the_blocked_remote_branch(client):
    release = f"release-{uuid.uuid4().hex}"
    with workflow("timeout") as wf:
        @task
        def quick():
            return "quick"

        @task
        def stuck():
            return DaskEvent(release).wait(timeout=WAIT)

        @task
        def sink():
            return "never"

        _ = (quick | stuck).with_execution(**dask_on(client), timeout=0.5, max_concurrency=2) >> sink
        try:
            with pytest.raises(GroupTimeoutError) as caught:
                wf.execute("ParallelGroup_1", session_id="S")
        finally:
            DaskEvent(release, client=client).set()
    assert caught.value.unfinished == ["stuck"]
    run = wf.last_run
    assert run.sessions["S_stuck"].state == "abandoned"
    assert run.sessions["S_quick"].state in ("discarded", "cancelled")
    assert "sink" not in run.task_counts()


def test_a_cancel_in_one_remote_branch_stops_a_sibling_at_its_next_task(client):
    running = f"running-{uuid.uuid4().hex}"
    with workflow("cancel") as wf:
        @task(inject_context=True)
        def canceller(ctx):
            DaskEvent(running).wait(timeout=WAIT)
            ctx.cancel_workflow("enough")

        @task(inject_context=True)
        def first(ctx):
            DaskEvent(running).set()
            while not ctx.cancelled:  # the stop flag, set by the run's side, reaches the worker
                threading.Event().wait(0.01)
            return "saw the stop"

        @task
        def second():
            return "never"

        _ = first >> second
        (canceller | first).with_execution(**dask_on(client))
        with pytest.raises(GraflowWorkflowCanceledError, match="enough"):
            wf.execute("ParallelGroup_1", session_id="S")
    run = wf.last_run
    assert run.status == "cancelled"
    assert "second" not in run.task_counts()
    assert run.sessions["S_first"].state == "cancelled"
    assert ("second", "S_first", "cancelled") in run.skipped


def test_a_notebook_cell_closure_runs_on_the_workers(client):
    cell = '''
from graflow_nb import task, workflow
factor = 7
def scale(x):
    return x * factor
with workflow("cell") as wf:
    @task
    def src():
        return 6
    @task
    def a(src):
        return scale(src)
    @task
    def b(src):
        return type("Local", (), {"n": src})().n
    _ = src >> (a | b).with_execution(backend="dask", backend_config={"client": client})
    wf.execute("src", session_id="S")
'''
    namespace = {"__name__": "__main__", "client": client}
    exec(compile(cell, "<notebook cell>", "exec"), namespace)
    run = namespace["wf"].last_run
    assert run.results()["a"] == 42 and run.results()["b"] == 6
    assert run.sessions["S_a"].worker is not None


def test_an_unpicklable_channel_value_is_named_before_anything_is_submitted(client):
    with workflow("unpicklable") as wf:
        @task
        def a():
            return 1

        @task
        def b():
            return 2

        (a | b).with_execution(**dask_on(client))
        with pytest.raises(ShippingError) as caught:
            wf.execute("ParallelGroup_1", session_id="S", initial_channel={"fine": 1, "lock": threading.Lock()})
    message = str(caught.value)
    assert "'lock'" in message and "lock" in message.lower() and "'fine'" not in message
    assert isinstance(caught.value, TypeError)
    run = wf.last_run
    assert [tr.task_id for tr in run.task_runs] == ["ParallelGroup_1"]  # no member ever started
    assert {run.sessions["S_a"].state, run.sessions["S_b"].state} == {"cancelled"}


def test_events_arrive_while_the_remote_branch_still_runs(client):
    """The remote task waits until this process has seen its TASK_STARTED event: the
    run finishes only if events stream back live (the outcome's list comes too late)."""
    seen_flag = f"seen-{uuid.uuid4().hex}"
    started = threading.Event()

    def observer(event):
        if event.kind == EventKind.TASK_STARTED and event.task_id == "waiter":
            started.set()

    def release_when_seen():
        if started.wait(WAIT):
            DaskEvent(seen_flag, client=client).set()

    with workflow("live") as wf:
        @task
        def waiter():
            return DaskEvent(seen_flag).wait(timeout=WAIT)

        @task
        def other():
            return "other"

        (waiter | other).with_execution(**dask_on(client))
        helper = threading.Thread(target=release_when_seen)
        helper.start()
        wf.execute("ParallelGroup_1", session_id="S", observers=[observer])
        helper.join()
    assert wf.last_run.results()["waiter"] is True


def test_execute_executor_sends_groups_without_a_backend_to_the_cluster(client):
    with workflow("executor") as wf:
        @task
        def a():
            return 1

        @task
        def b():
            return 2

        @task
        def c():
            return 3

        @task
        def d():
            return 4

        _ = (a | b) >> (c | d).with_execution(backend="threading")
        wf.execute("ParallelGroup_1", session_id="S", executor=client)
    run = wf.last_run
    assert run.sessions["S_a"].worker is not None and run.sessions["S_b"].worker is not None
    assert run.sessions["S_c"].worker is None  # chose threads explicitly


def test_the_step_debugger_runs_dask_groups_here(client):
    wf = diamond("debugged", dask_on(client))
    dbg = wf.debug("fetch", session_id="D")
    dbg.run_to_end()
    run = wf.last_run
    assert run.task_counts() == {"fetch": 1, "ParallelGroup_1": 1, "transform_a": 1, "transform_b": 1, "store": 1}
    assert run.sessions["D_transform_a"].worker is None


@pytest.mark.parametrize("watched", [True, False], ids=["observed", "unobserved"])
def test_a_killed_worker_fails_its_member_naming_the_worker(client, watched):
    victim_started = threading.Event()
    where: dict[str, str] = {}

    def observer(event):
        if event.kind == EventKind.TASK_STARTED and event.task_id == "victim":
            victim_started.set()

    started_flag = f"started-{uuid.uuid4().hex}"
    block = f"block-{uuid.uuid4().hex}"
    with workflow("killed") as wf:
        @task
        def victim():
            from distributed import get_worker

            DaskEvent(started_flag).set()
            Variable(started_flag).set(get_worker().address)
            return DaskEvent(block).wait(timeout=WAIT * 3)

        @task
        def survivor():
            return "fine"

        (victim | survivor).with_execution(**dask_on(client))
        outcome: dict[str, object] = {}

        def go():
            try:
                observers = [observer] if watched else []
                outcome["result"] = wf.execute("ParallelGroup_1", session_id="S", observers=observers)
            except BaseException as error:
                outcome["error"] = error

        runner = threading.Thread(target=go)
        runner.start()
        assert DaskEvent(started_flag, client=client).wait(timeout=WAIT)
        where["worker"] = Variable(started_flag, client=client).get(timeout=WAIT)
        if watched:  # reported live, before the task started
            assert victim_started.wait(WAIT) and wf.last_run.sessions["S_victim"].worker == where["worker"]
        pid = client.run(os.getpid, workers=[where["worker"]])[where["worker"]]
        os.kill(pid, signal.SIGKILL)
        runner.join(WAIT * 3)
    assert not runner.is_alive()
    error = outcome.get("error")
    assert isinstance(error, ParallelGroupError)
    lost = error.errors["victim"]
    assert isinstance(lost, WorkerLost) and where["worker"] in str(lost)
    assert wf.last_run.sessions["S_victim"].state == "failed"


def test_dask_backend_without_distributed_is_one_error_naming_the_extra():
    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "from graflow_nb import task, workflow\n"
        "with workflow('w') as wf:\n"
        "    @task\n"
        "    def a(): return 1\n"
        "    @task\n"
        "    def b(): return 2\n"
        "    try:\n"
        "        (a | b).with_execution(backend='dask', backend_config={'address': 'tcp://127.0.0.1:1'})\n"
        "    except ImportError as e:\n"
        "        print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == (
        "group 'ParallelGroup_1': backend=\"dask\" needs Dask's distributed, which is not installed: "
        "pip install \"graflow_nb[dask]\""
    )


@pytest.mark.parametrize(
    "config, error, words",
    [
        ({}, ValueError, ["backend_config={'client': client}", "got keys []"]),
        ({"client": 1, "address": "tcp://x"}, ValueError, ["one of them", "['address', 'client']"]),
        ({"address": 5}, TypeError, ["scheduler address string", "5 (int)"]),
        ({"workers": 2}, ValueError, ["'workers' is not known", "'client' or 'address'"]),
    ],
)
def test_bad_dask_backend_config_is_refused_when_the_group_is_built(config, error, words):
    with workflow("bad-config"):
        @task
        def a():
            return 1

        @task
        def b():
            return 2

        with pytest.raises(error) as caught:
            (a | b).with_execution(backend="dask", backend_config=config)
    for word in words:
        assert word in str(caught.value)


def test_a_question_in_a_remote_branch_pauses_it_and_resume_goes_on_from_there(client):
    with workflow("hil") as wf:
        @task
        def fetch():
            return "fetched"

        @task(inject_context=True)
        def a(ctx):
            ctx.get_channel().atomic_add("a_attempts", 1)
            return ctx.request_approval("Ship it?")

        @task(inject_context=True)
        def a_after(ctx, a):
            return f"after {a}"

        @task
        def b():
            return "rb"

        @task
        def store(a_after, b):
            return a_after, b

        _ = a >> a_after
        _ = fetch >> (a | b).with_execution(**dask_on(client)) >> store
        paused = wf.execute("fetch", session_id="S")
        run = wf.last_run
        assert paused.status == "paused" and run.sessions["S_a"].state == "paused"
        assert [(p.session_id, p.task_id, p.prompt) for p in paused.pending] == [("S_a", "a", "Ship it?")]
        assert run.results()["b"] == "rb" and "store" not in run.task_counts()
        assert paused.resume("S_a", True) == ("after True", "rb")
    assert run.status == "succeeded" and run.pending_inputs() == []
    counts = run.task_counts()
    assert (counts["a"], counts["a_after"], counts["b"], counts["store"]) == (1, 1, 1, 1)
    assert run.root_context.channel.get("a_attempts") == 2  # asked, then answered: the task body ran twice, as on threads
    assert run.sessions["S_a"].tasks_run == ["a", "a_after"] and run.sessions["S_a"].state == "merged"


def test_the_step_budget_and_task_timeouts_and_retries_hold_in_remote_branches(client):
    from graflow_nb.core.errors import StepLimitExceededError, TaskTimeoutError

    release = f"release-{uuid.uuid4().hex}"
    with workflow("limits") as wf:
        tries = []

        @task(inject_context=True)
        def looping(ctx):
            ctx.next_iteration()  # forever, until the run's budget says no

        @task
        def other():
            return "other"

        (looping | other).with_execution(**dask_on(client), policy="continue")
        with pytest.raises(StepLimitExceededError) as caught:
            wf.execute("ParallelGroup_1", session_id="S", max_steps=6, default_max_cycles=100)
    assert caught.value.max_steps == 6 and caught.value.session_id == "S_looping"
    # Each remote branch starts with the budget left at its submission (docs/reference/dask.md).
    assert wf.last_run.results()["other"] == "other"

    with workflow("timed") as wf:
        @task(timeout=0.3)
        def slow():
            return DaskEvent(release).wait(timeout=WAIT)

        @task(max_retries=2, inject_context=True)
        def flaky(ctx):
            tries.append(ctx.retry_count)  # on the worker: this list stays empty here
            if ctx.retry_count < 2:
                raise ConnectionError(f"try {ctx.retry_count}")
            return "third time"

        (slow | flaky).with_execution(**dask_on(client), policy="continue")
        try:
            wf.execute("ParallelGroup_1", session_id="T")
        finally:
            DaskEvent(release, client=client).set()
    run = wf.last_run
    failure = run.groups[-1].failures
    assert [f["task_id"] for f in failure] == ["slow"] and type(failure[0]["error"]) is TaskTimeoutError
    assert [tr.attempt for tr in run.task_runs if tr.task_id == "flaky"] == [1, 2, 3]
    assert run.results()["flaky"] == "third time"
    assert tries == []  # the closure's list was pickled to the worker, not shared


def test_the_session_drawing_names_each_remote_session_s_worker(client, dot):
    from graflow_nb import draw_sessions

    wf = diamond("drawn", dask_on(client))
    wf.execute("fetch", session_id="W")
    run = wf.last_run
    source = draw_sessions(run).source
    for session in ("W_transform_a", "W_transform_b"):
        assert f"on {run.sessions[session].worker}" in source
    assert source.count("on tcp://") == 2  # the root ran here: no worker line


def test_max_concurrency_one_starts_remote_members_in_declared_order_one_at_a_time(client):
    from instruments import overlap, spans

    ids = ["m3", "m1", "m4", "m2"]
    with workflow("one-at-a-time") as wf:
        members = [task(i)(lambda: None) for i in ids]
        parallel(*members).with_execution(**dask_on(client), max_concurrency=1)
        wf.execute("ParallelGroup_1", session_id="S")
    run = wf.last_run
    started = sorted((tr for tr in run.task_runs if tr.task_id in ids), key=lambda tr: tr.start)
    assert [tr.task_id for tr in started] == ids
    windows = spans(run, ids)
    assert not any(overlap(windows[a], windows[b]) for a, b in zip(ids, ids[1:], strict=False))


def test_hostile_member_ids_and_a_wide_fanout_keep_their_session_ids_on_dask(client):
    hostile = ["quote'\"", "new\nline", "<b>&amp;</b>", "ünï_cödé", "slash/ and \\back", "x" * 300]
    with workflow("hostile-threads") as threaded:
        parallel(*(task(i)(lambda: 1) for i in hostile + [f"w{n}" for n in range(120)]))
        threaded.execute("ParallelGroup_1", session_id="H")
    with workflow("hostile-dask") as remote:
        group = parallel(*(task(i)(lambda: 1) for i in hostile + [f"w{n}" for n in range(120)]))
        group.with_execution(**dask_on(client))
        remote.execute("ParallelGroup_1", session_id="H")
    assert without_workers(remote.last_run.session_tree()) == threaded.last_run.session_tree()
    assert remote.last_run.task_counts() == threaded.last_run.task_counts()
    assert all(remote.last_run.sessions[f"H_{i}"].worker for i in hostile)


def test_a_cell_defined_exception_with_its_own_init_comes_back_as_itself(client):
    cell = '''
from graflow_nb import ParallelGroupError, task, workflow
class Odd(Exception):
    def __init__(self, code):
        super().__init__(f"code {code}")
        self.code = code
with workflow("odd") as wf:
    @task
    def a():
        raise Odd(7)
    @task
    def b():
        return 1
    (a | b).with_execution(backend="dask", backend_config={"client": client})
    try:
        wf.execute("ParallelGroup_1", session_id="S")
    except ParallelGroupError as error:
        caught = error.errors["a"]
'''
    namespace = {"__name__": "__main__", "client": client}
    exec(compile(cell, "<notebook cell>", "exec"), namespace)
    error = namespace["caught"]
    assert type(error) is namespace["Odd"]  # so `except Odd` in the notebook catches it
    assert (str(error), error.code, error.task_id, error.session_id) == ("code 7", 7, "a", "S_a")


def test_frames_written_on_workers_merge_by_content(client):
    import numpy as np
    import pandas as pd

    with workflow("frames") as wf:
        @task(inject_context=True)
        def a(ctx):
            frame = ctx.get_channel().get("frame")
            ctx.get_channel().set("total", frame.assign(c=frame["a"] * 2))

        @task(inject_context=True)
        def b(ctx):
            frame = ctx.get_channel().get("frame")
            ctx.get_channel().set("total", frame.assign(c=frame["a"] * 2))  # equal content: no conflict

        @task(inject_context=True)
        def c(ctx):
            ctx.get_channel().get("frame")  # a read is never a write

        parallel(a, b, c).with_execution(**dask_on(client))
        frame = pd.DataFrame({"a": [1.0, np.nan, 3.0]})
        wf.execute("ParallelGroup_1", session_id="S", initial_channel={"frame": frame})
    channel = wf.last_run.root_context.channel
    assert channel.get("frame") is frame  # untouched by every branch: the parent's very object
    assert channel.get("total").equals(frame.assign(c=frame["a"] * 2))


def test_two_dask_groups_inside_a_thread_group_and_a_dask_group_in_a_loop(client):
    def tree(backend):
        with workflow("mixed") as wf:
            t = {i: task(i)(lambda: 1) for i in ("x", "p", "q", "y", "r", "s")}
            inner_1 = t["p"] | t["q"]
            inner_2 = t["r"] | t["s"]
            if backend is not None:
                inner_1.with_execution(**backend)
                inner_2.with_execution(**backend)
            _ = (t["x"] >> inner_1) | (t["y"] >> inner_2)
            wf.execute("ParallelGroup_3", session_id="M")
        with workflow("loop") as loop:
            @task
            def a():
                return 1

            @task
            def b():
                return 2

            group = a | b
            if backend is not None:
                group.with_execution(**backend)

            @task(inject_context=True)
            def again(ctx):
                if ctx.cycle_count < 3:
                    ctx.next_task(group, goto=True)

            _ = group >> again
            loop.execute("ParallelGroup_1", session_id="L", default_max_cycles=5)
        return wf.last_run, loop.last_run

    threaded, remote = tree(None), tree(dask_on(client))
    for t_run, d_run in zip(threaded, remote, strict=True):
        assert without_workers(d_run.session_tree()) == t_run.session_tree()
        assert d_run.task_counts() == t_run.task_counts()
    assert {"L_a", "L_a#2", "L_a#3"} <= set(remote[1].sessions)
    assert remote[0].sessions["M_x"].worker is None and remote[0].sessions["M_x_p"].worker is not None


def test_a_scheduler_address_connects_a_client_of_its_own_once(client):
    from graflow_nb.distributed import executor

    address = client.scheduler.address
    try:
        with workflow("by-address") as wf:
            group = parallel(task("a")(lambda: 1), task("b")(lambda: 2))
            group.with_execution(backend="dask", backend_config={"address": address})
            wf.execute("ParallelGroup_1", session_id="S")
            wf.execute("ParallelGroup_1", session_id="T")
        assert wf.last_run.results() == {"ParallelGroup_1": None, "a": 1, "b": 2}
        assert wf.last_run.sessions["T_a"].worker in worker_addresses(client)
        assert list(executor._CLIENTS) == [address]  # the second run reused the first's client
    finally:
        for own in executor._CLIENTS.values():
            own.close()
        executor._CLIENTS.clear()
