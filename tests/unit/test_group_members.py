"""``TaskGraph.get_parallel_group_members``: member ids, as graflow's TaskGraph gives them.

(It returned the member task objects while saying ``list[str]``; the type checker found it.)
"""

from __future__ import annotations

from graflow_nb import task, workflow


def test_members_are_ids_in_declaration_order_and_other_ids_have_none():
    with workflow("members") as wf:

        @task
        def source():
            return 1

        @task
        def zeta():
            return 2

        @task
        def alpha():
            return 3

        group = source >> (zeta | alpha)

    graph = wf.graph
    group_id = group.tasks[-1].task_id
    assert graph.get_parallel_group_members(group_id) == ["zeta", "alpha"]
    assert graph.get_parallel_group_members("source") == []
    assert graph.get_parallel_group_members("no such node") == []
