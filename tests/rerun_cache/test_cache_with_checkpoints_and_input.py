"""A run with a cache pauses for input, fails into a checkpoint and resumes as any run
does; the task that asked for input is never replayed."""

from __future__ import annotations

PAUSING = """
with workflow(NAME) as wf:
    @task
    def prepare():
        ran.RUNS["prepare"] += 1
        return 2

    @task(inject_context=True)
    def ask(ctx, prepare):
        ran.RUNS["ask"] += 1
        return prepare if ctx.request_approval("go?") else 0

    @task
    def tail(ask):
        ran.RUNS["tail"] += 1
        return ask * 10

    _ = prepare >> ask >> tail
"""


def test_a_task_that_asks_for_input_is_not_cached(nb, runs):
    for run_id in ("H1", "H2"):
        nb(PAUSING)
        paused = nb(f"wf.execute(session_id='{run_id}', cache=True)")
        assert type(paused).__name__ == "PausedRun"
        assert nb("wf.resume({key: True for key in wf.last_run.pending})") == 20
    assert runs == {"prepare": 1, "ask": 4, "tail": 1}  # ask: asked, then answered, in each run
    assert nb("wf.last_run.why('ask')") == "nothing cached for ask yet; not cached: it asked for human input"
    assert nb("wf.last_run.why('tail')") == "cached from run H1"  # ask answered as before: its result is equal


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
    assert nb("wf.last_run.why('fragile')") == "nothing cached for fragile yet"  # the resumed run is cached
    assert nb("wf.execute(session_id='C2', cache=True)") == 6
    assert runs == {"load": 1, "fragile": 2}  # the resumed run kept fragile's entry
    assert nb("wf.last_run.why('load')") == "cached from run C1"
    assert nb("wf.last_run.why('fragile')") == "cached from run C1"




def _pause_and_resume_from_file(nb, run_id, **resume):
    paused = nb(f"wf.execute(session_id='{run_id}', cache=CACHE, checkpoint_dir=folder)")
    assert type(paused).__name__ == "PausedRun"
    nb.ns["resume_options"] = resume
    return nb(f"wf.resume(folder / '{run_id}.pkl', answers={{key: True for key in wf.last_run.pending}}, "
              f"**resume_options)")


def test_a_run_resumed_from_its_checkpoint_replays_and_keeps_with_the_cache_it_had(nb, runs, tmp_path):
    nb.ns["folder"] = tmp_path / "checkpoints"
    nb.ns["CACHE"] = True
    nb(PAUSING)
    assert _pause_and_resume_from_file(nb, "P1") == 20
    assert runs == {"prepare": 1, "ask": 2, "tail": 1}
    assert nb("wf.last_run.why('tail')") == "nothing cached for tail yet"
    nb(PAUSING)  # a new workflow object: the store is the workflow name's
    assert _pause_and_resume_from_file(nb, "P2") == 20
    assert runs == {"prepare": 1, "ask": 4, "tail": 1}  # tail, after the resume, replayed
    assert nb("wf.last_run.why('tail')") == "cached from run P1"
    assert nb("wf.last_run.frames.tasks().set_index('task_id')['cached'].to_dict()") == {
        "prepare": True, "ask": False, "tail": True}

    assert _pause_and_resume_from_file(nb, "P3", cache=False) == 20  # resume(cache=False): called
    assert runs == {"prepare": 1, "ask": 6, "tail": 2}
    assert nb("wf.last_run.why('tail')").endswith("ran without a cache: execute(..., cache=True) keeps and replays tasks")


def test_a_checkpoint_names_its_cache_folder_and_resume_can_name_another(nb, runs, tmp_path):
    nb.ns["folder"] = tmp_path / "checkpoints"
    nb.ns["CACHE"] = str(tmp_path / "cache")
    nb(PAUSING)
    assert _pause_and_resume_from_file(nb, "D1") == 20
    assert len(list((tmp_path / "cache").glob("*.entry"))) == 2  # prepare's, and tail's kept by the resumed run
    assert _pause_and_resume_from_file(nb, "D2") == 20
    assert runs == {"prepare": 1, "ask": 4, "tail": 1}
    assert nb("wf.last_run.why('tail')") == "cached from run D1"

    nb.ns["other"] = tmp_path / "other"
    assert _pause_and_resume_from_file(nb, "D3", cache=tmp_path / "other") == 20
    assert runs == {"prepare": 1, "ask": 6, "tail": 2}  # nothing of tail in the other folder
    assert nb("wf.last_run.why('tail')") == "nothing cached for tail yet"
    assert len(list((tmp_path / "other").glob("*.entry"))) == 1


def test_resume_in_process_refuses_a_cache_argument(nb):
    nb(PAUSING)
    nb("wf.execute(session_id='R1', cache=True)")
    nb("""
    try:
        wf.resume({key: True for key in wf.last_run.pending}, cache=False)
    except Exception as error:
        refused = error
    """)
    assert type(nb.ns["refused"]).__name__ == "ConfigError"
    assert "applies to resuming a checkpoint; run 'R1' goes on in this process" in str(nb.ns["refused"])
    assert nb("wf.resume({key: True for key in wf.last_run.pending})") == 20
