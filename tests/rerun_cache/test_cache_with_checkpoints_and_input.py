"""A run with a cache pauses for input, fails into a checkpoint and resumes as any run
does; the task that asked for input is never replayed."""

from __future__ import annotations


def test_a_task_that_asks_for_input_is_not_cached(nb, runs):
    cell = """
    with workflow(NAME) as wf:
        @task
        def prepare():
            ran.RUNS["prepare"] += 1
            return 2

        @task(inject_context=True)
        def ask(ctx, prepare):
            ran.RUNS["ask"] += 1
            return prepare if ctx.request_approval("go?") else 0

        _ = prepare >> ask
    """
    for run_id in ("H1", "H2"):
        nb(cell)
        paused = nb(f"wf.execute(session_id='{run_id}', cache=True)")
        assert type(paused).__name__ == "PausedRun"
        assert nb("wf.resume({key: True for key in wf.last_run.pending})") == 2
    assert runs == {"prepare": 1, "ask": 4}  # ask: asked, then answered, in each run
    assert nb("wf.last_run.why('ask')") == "nothing cached for ask yet; not cached: it asked for human input"


def test_a_failed_cached_run_resumes_from_its_checkpoint(nb, runs, tmp_path):
    nb.ns["folder"] = tmp_path / "checkpoints"
    cell = """
    BROKEN = True
    with workflow(NAME) as wf:
        @task
        def load():
            ran.RUNS["load"] += 1
            return [1, 2, 3]

        @task
        def fragile(load):
            ran.RUNS["fragile"] += 1
            if BROKEN:
                raise ValueError("not yet")
            return sum(load)

        _ = load >> fragile
    """
    nb(cell)
    nb("""
    try:
        wf.execute(session_id='C1', cache=True, checkpoint_dir=folder)
    except ValueError:
        pass
    """)
    assert runs == {"load": 1, "fragile": 1}
    nb("BROKEN = False")
    assert nb("wf.resume(folder / 'C1.pkl')") == 6
    assert runs == {"load": 1, "fragile": 2}
    assert nb("wf.execute(session_id='C2', cache=True)") == 6
    assert runs == {"load": 1, "fragile": 3}  # the resumed run kept no entry: fragile runs once more
    assert nb("wf.last_run.why('load')") == "cached from run C1"
