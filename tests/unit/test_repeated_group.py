"""The same group written twice is one group (issue 28): graflow's documentation wires
``load >> (a | b | c)`` and then ``(a | b | c) >> aggregate``.  A task in two
*different* groups stays refused, with the same message as before."""

from __future__ import annotations

import pytest

from graflow_nb import ParallelGroup, task, workflow
from graflow_nb.core.errors import ConfigError

TWO_GROUPS = (
    "task 'a' is already a member of group 'ParallelGroup_1'; a task in two groups would run once in each: "
    "use a second task in the other group (t(task_id='new_id') makes one from a task t)"
)


def tasks_of(ran: list[str]):
    def make(name: str):
        @task(name)
        def body():
            ran.append(name)
            return name

        return body

    return [make(n) for n in ("load", "a", "b", "c", "aggregate", "other")]


def test_the_group_written_twice_runs_once_between_load_and_aggregate():
    ran: list[str] = []
    with workflow("twice") as wf:
        load, a, b, c, aggregate, _ = tasks_of(ran)
        load >> (a | b | c)
        again = a | b | c
        again >> aggregate
        assert again.task_id == "ParallelGroup_1"
        assert again.with_execution(max_concurrency=1) is wf.graph.nodes["ParallelGroup_1"]
    assert [type(n).__name__ for n in wf.graph.nodes.values()].count("ParallelGroup") == 1
    assert wf.execute("load") == "aggregate"
    assert wf.last_run.task_counts() == {"load": 1, "ParallelGroup_1": 1, "a": 1, "b": 1, "c": 1, "aggregate": 1}
    assert ran == ["load", "a", "b", "c", "aggregate"]
    assert wf.graph.successors("ParallelGroup_1") == ["aggregate"]


def test_written_twice_either_way_round_and_with_two_members():
    ran: list[str] = []
    with workflow("twice-2") as wf:
        load, a, b, _, aggregate, _ = tasks_of(ran)
        (a | b) >> aggregate
        load >> (a | b)
    groups = [n for n in wf.graph.nodes.values() if isinstance(n, ParallelGroup)]
    assert [g.member_ids for g in groups] == [["a", "b"]]
    assert wf.execute("load") == "aggregate"
    assert ran == ["load", "a", "b", "aggregate"]


@pytest.mark.parametrize(
    "spell",
    [
        lambda a, b, c, other: (a | b | c | other),  # more members
        lambda a, b, c, other: (a | b) >> other,  # stopped short
        lambda a, b, c, other: (a | c | b) >> other,  # another order
        lambda a, b, c, other: (a | other) >> c,  # another group
        lambda a, b, c, other: other >> (a | b),  # stopped short, on the right
    ],
)
def test_beside_the_same_group_a_task_in_two_different_groups_stays_refused_with_todays_message(spell):
    with workflow("refused"):
        load, a, b, c, aggregate, other = tasks_of([])
        load >> (a | b | c)
        (a | b | c) >> aggregate
        with pytest.raises(ConfigError) as caught:
            spell(a, b, c, other)
    assert str(caught.value) == TWO_GROUPS
