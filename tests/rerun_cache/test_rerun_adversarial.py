"""Hostile inputs and opt-outs: what can't be keyed or pickled runs every time, with
the reason; what asks not to be cached is never replayed; a cached task's control
calls replay exactly."""

from __future__ import annotations


def test_an_unpicklable_result_is_not_cached_and_says_why(nb, runs):
    cell = """
    import threading
    with workflow(NAME) as wf:
        @task
        def make_lock():
            ran.RUNS["make_lock"] += 1
            return threading.Lock()

        @task
        def use(make_lock):
            ran.RUNS["use"] += 1
            return type(make_lock).__name__

        _ = make_lock >> use
    """
    nb(cell)
    assert nb("wf.execute(session_id='S1', cache=True)") == "lock"
    assert "can't be pickled" in nb("wf.last_run.why('make_lock')")
    nb(cell)
    assert nb("wf.execute(session_id='S2', cache=True)") == "lock"
    assert runs == {"make_lock": 2, "use": 2}
    assert nb("wf.last_run.why('use')") == "upstream `make_lock` re-ran and its result differs"


def test_an_unfingerprintable_global_runs_every_time_with_the_reason(nb, runs):
    cell = """
    import threading
    GUARD = threading.Lock()
    with workflow(NAME) as wf:
        @task
        def guarded():
            ran.RUNS["guarded"] += 1
            with GUARD:
                return 1
    """
    nb(cell)
    nb("wf.execute(session_id='S1', cache=True)")
    nb("wf.execute(session_id='S2', cache=True)")
    assert runs == {"guarded": 2}
    why = nb("wf.last_run.why('guarded')")
    assert why.startswith("not cached: global `GUARD`") and "lock" in why


def test_deeply_nested_root_input(nb, runs):
    nb("""
    def nest(leaf, depth=20_000):
        value = [leaf]
        for _ in range(depth):
            value = [value]
        return value

    with workflow(NAME) as wf:
        @task
        def depth(tree):
            ran.RUNS["depth"] += 1
            n = 0
            while isinstance(tree, list):
                tree, n = tree[0], n + 1
            return (n, tree)
    """)
    assert nb("wf.execute(initial_channel={'tree': nest(1)}, session_id='S1', cache=True)") == (20_001, 1)
    nb("wf.execute(initial_channel={'tree': nest(1)}, session_id='S2', cache=True)")
    assert runs == {"depth": 1}
    assert nb("wf.execute(initial_channel={'tree': nest(2)}, session_id='S3', cache=True)") == (20_001, 2)
    assert runs == {"depth": 2}


def test_opted_out_tasks_always_run(nb, runs):
    cell = """
    with workflow(NAME) as wf:
        @task(cache=False)
        def always():
            ran.RUNS["always"] += 1
            return 1

        @task(side_effects=True)
        def send():
            ran.RUNS["send"] += 1
            return 2

        @task(side_effects=True, cache=True)
        def idempotent():
            ran.RUNS["idempotent"] += 1
            return 3

        _ = always >> send >> idempotent
    """
    nb(cell)
    nb("wf.execute(session_id='S1', cache=True)")
    nb(cell)
    nb("wf.execute(session_id='S2', cache=True)")
    assert runs == {"always": 2, "send": 2, "idempotent": 1}
    assert nb("wf.last_run.why('always')") == "not cached: @task(cache=False)"
    assert nb("wf.last_run.why('send')").startswith("not cached: it has side effects")


def test_a_task_that_lists_every_channel_key_is_not_cached(nb, runs):
    nb("""
    with workflow(NAME) as wf:
        @task(inject_context=True)
        def census(ctx):
            ran.RUNS["census"] += 1
            return sorted(ctx.get_channel().keys())
    """)
    nb("wf.execute(initial_channel={'a': 1}, session_id='S1', cache=True)")
    nb("wf.execute(initial_channel={'a': 1, 'b': 2}, session_id='S2', cache=True)")
    assert runs == {"census": 2}
    assert nb("wf.last_run.results()['census']") == ["a", "b"]
    assert "listed every channel key" in nb("wf.last_run.why('census')")


CONTROLS = """
with workflow(NAME) as wf:
    @task(inject_context=True)
    def loop(ctx):
        ran.RUNS["loop"] += 1
        channel = ctx.get_channel()
        n = channel.get("n", 0)
        channel.set("n", n + 1)
        channel.append("seen", n)
        if n < 2:
            ctx.next_iteration()

    @task(inject_context=True)
    def jump(ctx):
        ran.RUNS["jump"] += 1
        ctx.next_task("finish", goto=True)

    @task
    def skipped():
        ran.RUNS["skipped"] += 1

    @task(inject_context=True)
    def finish(ctx):
        ran.RUNS["finish"] += 1
        ctx.terminate_workflow("done")
        return "finished"

    @task
    def after():
        ran.RUNS["after"] += 1

    _ = loop >> jump >> skipped >> finish >> after
"""


def test_control_calls_replay_as_the_task_made_them(nb, runs):
    nb(CONTROLS)
    assert nb("wf.execute(session_id='S', cache=False)") == "finished"
    plain = nb("wf.last_run")
    assert runs == {"loop": 3, "jump": 1, "finish": 1}
    nb("wf.execute(session_id='S', cache=True)")
    runs.clear()
    nb(CONTROLS)
    assert nb("wf.execute(session_id='S', cache=True)") == "finished"
    replayed = nb("wf.last_run")
    assert runs == {}
    assert replayed.execution_sequence() == plain.execution_sequence()
    assert replayed.channel() == plain.channel()
    assert replayed.channel()["seen"] == [0, 1, 2]
    assert replayed.session_tree() == plain.session_tree()
    assert replayed.skipped == plain.skipped
    assert replayed.frames.tasks()["cached"].all()


def test_a_result_read_with_get_result_is_an_input(nb, runs):
    cell = """
    with workflow(NAME) as wf:
        @task
        def source():
            ran.RUNS["source"] += 1
            return VALUE

        @task(inject_context=True)
        def peek(ctx):
            ran.RUNS["peek"] += 1
            return ctx.get_result("source") * 10

        _ = source >> peek
    """
    nb(cell.replace("VALUE", "1"))
    assert nb("wf.execute(session_id='S1', cache=True)") == 10
    nb(cell.replace("VALUE", "2"))
    assert nb("wf.execute(session_id='S2', cache=True)") == 20
    assert runs == {"source": 2, "peek": 2}
    assert nb("wf.last_run.why('peek')") == "upstream `source` re-ran and its result differs"


def test_the_cell_magic_takes_cache(nb, runs):
    nb.shell.run_line_magic("load_ext", "graflow_nb.notebook")
    cell = """%%graflow NAMEID --run --session-id M1 --cache --no-render
    @task
    def one():
        ran.RUNS["one"] += 1
        return 1
    """
    cell = cell.replace("NAMEID", nb.name)
    assert nb(cell) == 1
    assert nb(cell.replace("M1", "M2")) == 1
    assert runs == {"one": 1}
    assert nb(f"{nb.name}.last_run.why('one')") == "cached from run M1"


def test_a_task_that_reads_its_session_id_is_keyed_by_it(nb, runs):
    cell = """
    with workflow(NAME) as wf:
        @task(inject_context=True)
        def where(ctx):
            ran.RUNS["where"] += 1
            return f"ran in {ctx.session_id}"

        @task(inject_context=True)
        def anywhere(ctx):
            ran.RUNS["anywhere"] += 1
            return ctx.get_channel().get("x", 0) + 1

        _ = where >> anywhere
    """
    nb(cell)
    nb("wf.execute(session_id='W1', cache=True)")
    assert nb("wf.execute(session_id='W1', cache=True)") == 1
    assert runs == {"where": 1, "anywhere": 1}
    nb("wf.execute(session_id='W2', cache=True)")
    assert nb("wf.last_run.results()['where']") == "ran in W2"
    assert nb("wf.last_run.why('where')") == "it reads ctx.session_id, and this run's differs"
    assert runs == {"where": 2, "anywhere": 1}


def test_a_map_reruns_only_the_items_that_changed(nb, runs):
    cell = """
    with workflow(NAME) as wf:
        @task
        def fetch(docs):
            ran.RUNS["fetch"] += 1
            return docs

        @task
        def summarize(doc):
            ran.RUNS["summarize " + doc] += 1
            return doc.upper()

        @task
        def combine(summarize):
            ran.RUNS["combine"] += 1
            return "+".join(summarize)

        _ = fetch >> summarize.map(over="fetch") >> combine
    """
    nb(cell)
    assert nb("wf.execute(initial_channel={'docs': ['a', 'b', 'c']}, session_id='M1', cache=True)") == "A+B+C"
    runs.clear()
    nb(cell)
    assert nb("wf.execute(initial_channel={'docs': ['a', 'x', 'c']}, session_id='M2', cache=True)") == "A+X+C"
    assert runs == {"fetch": 1, "summarize x": 1, "combine": 1}
    assert nb("wf.last_run.why('summarize[0]')") == "cached from run M1"
