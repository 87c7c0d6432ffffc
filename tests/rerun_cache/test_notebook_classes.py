"""A class defined in a notebook cell, used by a task: pickling its first instance (the
cache keeps what the task returned) must not change the class's key."""

from __future__ import annotations

CELL = """
class Row:
    def __init__(self, n):
        self.n = n

with workflow(NAME) as wf:
    @task
    def build():
        ran.RUNS["build"] += 1
        return Row(1)
"""


def test_a_task_returning_a_notebook_class_instance_is_cached_from_its_second_run(nb, runs):
    nb(CELL)
    nb("wf.execute('build', session_id='S1', cache=True)")
    nb("wf.execute('build', session_id='S2', cache=True)")
    assert runs == {"build": 1}
    assert nb("wf.last_run.why('build')") == "cached from run S1"
    assert nb("wf.last_run.channel()['build.__result__'].n") == 1
