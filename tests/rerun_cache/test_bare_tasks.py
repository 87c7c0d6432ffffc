"""A task that takes nothing is called bare in a cached run (no recording context: it
can't reach the channel).  It can still wire tasks in its body (``@task``, ``a >> b``
enter its session's scope): such a task is never replayed, since a replay would build
nothing."""

from __future__ import annotations

WIRING = """
with workflow(NAME) as wf:
    @task
    def start():
        ran.RUNS["start"] += 1

        @task
        def extra():
            ran.RUNS["extra"] += 1

        return "started"

    @task
    def plain():
        ran.RUNS["plain"] += 1
        return "plain"

    _ = start >> plain
"""


def test_a_bare_task_that_wires_tasks_in_its_body_is_never_replayed(nb, runs):
    for run_id in ("W1", "W2"):
        nb(WIRING)
        assert nb(f"wf.execute(session_id='{run_id}', cache=True)") == "plain"
    assert runs == {"start": 2, "plain": 1}
    assert nb("wf.last_run.why('start')") == "nothing cached for start yet; not cached: it built tasks while it ran"
    assert nb("wf.last_run.why('plain')") == "cached from run W1"
