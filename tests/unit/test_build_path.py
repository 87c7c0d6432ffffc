"""The build path's shortcuts keep what the long way gave: a chain's items and ends,
one edge per pair however it is wired, options and bound values per task, and the
parameters of a wrapped function."""

import functools
import pickle

import pytest

from graflow_nb import ParallelGroup, chain, task, workflow
from graflow_nb.core.task import SequentialTask, TaskWrapper


def _noop() -> None:
    return None


def _add(x: int, y: int = 1) -> int:
    return x + y


def test_a_one_expression_chain_of_20000_tasks_keeps_its_items_ends_and_edges():
    with workflow("long") as wf:
        tasks = [task(id=f"t{i}")(_noop) for i in range(20_000)]
        seq = chain(*tasks)  # each step returns a new SequentialTask of everything so far
    assert seq.tasks == tasks
    assert seq._leftmost() is tasks[0] and seq._rightmost() is tasks[-1]
    assert wf.graph.edges == [(f"t{i}", f"t{i + 1}") for i in range(19_999)]
    assert wf.execute("t0", max_steps=20_001, session_id="S") is None
    assert len(wf.last_run.task_counts()) == 20_000


def test_chains_joined_to_chains_keep_declared_order_and_wire_end_to_start():
    with workflow("joined") as wf:
        a, b, c, d, e = (task(id=n)(_noop) for n in "abcde")
        left = a >> b
        right = d << c  # c >> d, written backwards
        whole = left >> right >> e
        explicit = SequentialTask([whole, a])  # graflow's constructor: items kept as given
    assert [t.task_id for t in whole.tasks] == ["a", "b", "c", "d", "e"]
    assert [t.task_id for t in right.tasks] == ["c", "d"]
    assert whole.task_id == "SequentialTask(a >> b >> c >> d >> e)"
    assert explicit.tasks == [whole, a] and explicit._leftmost() is a and explicit._rightmost() is a
    assert sorted(wf.graph.edges) == [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]


def test_an_edge_wired_twice_is_kept_once_from_a_wide_source_and_into_a_wide_join():
    with workflow("wide") as wf:
        src, sink = task(id="src")(_noop), task(id="sink")(_noop)
        mids = [task(id=f"m{i}")(_noop) for i in range(50)]
        for m in mids:
            src >> m
            m >> sink
        src >> mids[7]  # src has 50 successors, m7 one predecessor
        mids[7] >> sink  # sink has 50 predecessors, m7 one successor
        wf.add_edge("src", "m9")
    assert wf.graph.successors("src") == [f"m{i}" for i in range(50)]
    assert wf.graph.predecessors("sink") == [f"m{i}" for i in range(50)]
    assert wf.graph.predecessors("m7") == ["src"] and wf.graph.successors("m7") == ["sink"]
    wf.execute("src", session_id="S")
    assert wf.last_run.task_counts()["sink"] == 1


def test_a_task_without_bound_values_shares_a_read_only_mapping_and_copies_a_plain_dict():
    with workflow("bound"):
        plain = task(id="plain")(_add)
        bound = plain(task_id="bound", x=2)
    with pytest.raises(TypeError):
        plain.bound_kwargs["x"] = 1  # type: ignore[index]  # would leak into every task
    assert dict(plain.bound_kwargs) == {} and bound.bound_kwargs == {"x": 2}
    settings = plain.settings()
    assert type(settings["bound_kwargs"]) is dict
    assert pickle.loads(pickle.dumps(settings))["bound_kwargs"] == {}
    copy = pickle.loads(pickle.dumps(plain))
    assert dict(copy.bound_kwargs) == {} and copy.task_id == "plain"


def test_options_given_at_their_defaults_or_not_build_the_same_task():
    with workflow("opts"):
        short = task(id="short")(_noop)
        spelled = task(id="spelled", inject_context=False, max_retries=None, timeout=None)(_noop)
        tuned = task("tuned", max_retries=2, timeout=3.0, handler="direct")(_noop)
    assert short.settings() == spelled.settings()
    assert (tuned.max_retries, tuned.timeout, tuned.handler_type) == (2, 3.0, "direct")
    assert "max_retries" not in short.__dict__  # defaults stay on the class
    with pytest.raises(ValueError, match=r"^task 'bad': max_retries must be an int >= 0, got -1$"):
        task(id="bad", max_retries=-1)(_noop)
    with pytest.raises(TypeError, match=r"^task id must be a non-empty string|^task\(id=\.\.\.\) must be"):
        task(id=3)(_noop)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"^a task id must be a non-empty string, got ''$"):
        TaskWrapper("", _noop)


def test_a_wrapped_function_of_no_parameters_of_its_own_still_reads_the_wrapped_ones():
    def inner(x: int) -> int:
        return x * 10

    @functools.wraps(inner)
    def outer(*args: int, **kwargs: int) -> int:
        return inner(*args, **kwargs)

    with workflow("wrapped") as wf:
        t = task(id="t")(outer)
    assert t._params == (("x", True),)
    assert wf.execute("t", initial_channel={"x": 4}) == 40


def test_a_wide_group_built_one_bar_at_a_time_keeps_order_and_refuses_a_second_home():
    with workflow("fan") as wf:
        branches = [task(id=f"b{i}")(_noop) for i in range(3000)]
        group = functools.reduce(lambda a, b: a | b, branches)
        other = task(id="x")(_noop) | task(id="y")(_noop)
        with pytest.raises(Exception, match=r"^task 'b5' is already a member of group 'ParallelGroup_1'"):
            other | branches[5]
    assert isinstance(group, ParallelGroup) and group.tasks == branches
    assert group.task_id == "ParallelGroup_1" and group.depth == 1
    wf.execute(group.task_id, session_id="S", max_steps=20_000)
    assert len(wf.last_run.task_counts()) == 3001


IN_TWO_GROUPS = r"^task {task} is already a member of group {group}; a task in two groups would run once in each"


def test_a_member_of_one_of_2000_groups_is_refused_by_name_in_any_other():
    with workflow("many") as wf:
        pairs = [(task(id=f"a{i}")(_noop), task(id=f"b{i}")(_noop)) for i in range(2000)]
        groups = [a | b for a, b in pairs]
        groups[7].set_group_name("seventh")
        wf.rename_node(groups[9].task_id, "ninth_in_the_graph")  # graflow's rename: the graph only
        loose = task(id="loose")(_noop)
        with pytest.raises(Exception, match=IN_TWO_GROUPS.format(task="'a1999'", group="'ParallelGroup_2000'")):
            loose | pairs[1999][0]
        with pytest.raises(Exception, match=IN_TWO_GROUPS.format(task="'b7'", group="'seventh'")):
            loose | pairs[7][1]
        with pytest.raises(Exception, match=IN_TWO_GROUPS.format(task="'a9'", group="'ninth_in_the_graph'")):
            loose | pairs[9][0]
        with pytest.raises(Exception, match=IN_TWO_GROUPS.format(task="'b3'", group="'ParallelGroup_4'")):
            groups[0] | pairs[3][1]
        assert wf.graph.group_holding("loose") is None
    assert [g.member_ids for g in groups[:2]] == [["a0", "b0"], ["a1", "b1"]]


def test_members_of_a_merged_or_removed_group_are_free_and_the_merged_group_holds_them():
    with workflow("merge") as wf:
        a, b, c, d, e, f = (task(id=n)(_noop) for n in "abcdef")
        left, right = a | b, c | d
        merged = left | right  # neither has successors: right's members move into left
        assert merged is left and merged.member_ids == ["a", "b", "c", "d"]
        with pytest.raises(Exception, match=IN_TWO_GROUPS.format(task="'c'", group=f"'{left.task_id}'")):
            e | c
        lone = e | f
        wf.remove_node(lone.task_id)
        again = task(id="g")(_noop) | e  # e is free once its group is gone
    assert again.member_ids == ["g", "e"]


def test_a_group_grown_while_another_workflow_is_current_is_still_known_in_its_own():
    with workflow("home") as home:
        t1, t2, t3, t4 = (task(id=f"t{i}")(_noop) for i in range(1, 5))
        group = t1 | t2
    with workflow("elsewhere"):
        group | t3  # adds t3 to the group, which lives in "home"
    with home, pytest.raises(Exception, match=IN_TWO_GROUPS.format(task="'t3'", group=f"'{group.task_id}'")):
        t4 | t3
    with workflow("third") as third:
        ParallelGroup([t4, group], name="outer")  # holds a group another graph indexes: this one scans
        with pytest.raises(Exception, match=IN_TWO_GROUPS.format(task="'t4'", group="'outer'")):
            task(id="x")(_noop) | t4
    assert third.graph.group_holding("t1") == group.task_id  # group is a node of third too
    assert third.graph.group_holding("x") is None


def test_a_pickled_or_cleared_graph_knows_its_groups_members():
    with workflow("pickled") as wf:
        a, b, c = (task(id=n)(_noop) for n in "abc")
        group = a | b
    copy = pickle.loads(pickle.dumps(wf.graph))
    assert copy.group_holding("a") == group.task_id and copy.group_holding("c") is None
    wf.clear()
    assert wf.graph.group_holding("a") is None
    with wf:
        regrouped = c | a
    assert wf.graph.group_holding("a") == regrouped.task_id


def test_renaming_a_node_keeps_every_edge_and_the_declaration_order_wherever_it_sits():
    with workflow("rename") as wf:
        a, b, c, d = (task(id=n)(_noop) for n in "abcd")
        a >> b >> c >> d
        b >> b  # a self-loop names b on both sides
        a >> c
        wf.rename_node("b", "B")  # in the middle: nodes and tables copied in order
        last = (task(id="x")(_noop) | task(id="y")(_noop)).set_group_name("last")  # the newest node
        d >> last
        wf.rename_node("last", "final")  # has an edge in now, and is still the newest
    graph = wf.graph
    assert list(graph.nodes) == ["a", "B", "c", "d", "x", "y", "final"]
    assert graph.edges == [("a", "B"), ("a", "c"), ("B", "c"), ("B", "B"), ("c", "d"), ("d", "final")]
    assert graph.predecessors("B") == ["a", "B"] and graph.successors("B") == ["c", "B"]
    assert graph.predecessors("final") == ["d"] and "last" not in graph and "b" not in graph
    assert graph.group_holding("x") == "final" and graph.get_parallel_group_members("final") == ["x", "y"]
