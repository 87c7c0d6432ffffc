"""Fan out over data (issue 31): ``fetch >> summarize.map(over="fetch") >> combine``.

Each test runs a real workflow on real threads and checks what a user would look at:
the list (or dict) ``combine`` receives, the branch sessions and their ids, how often
each item ran, the error and its message.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest

from graflow_nb import ParallelGroupError, task, workflow
from graflow_nb.core import AtLeastNGroupPolicy, ConfigError
from graflow_nb.core.errors import GroupTimeoutError, MapItemsError


def mapped(items, body, *, over="fetch", key=None, policy=None, name="map", **options):
    """``fetch >> summarize.map(over=...) >> combine``; returns (wf, received) where
    ``received`` fills with what combine got."""
    received: list = []
    with workflow(name) as wf:

        @task
        def fetch():
            return items() if callable(items) else items

        @task
        def summarize(doc):
            return body(doc)

        @task
        def combine(summarize):
            received.append(summarize)
            return summarize

        node = summarize.map(over=over, key=key)
        if policy is not None or options:
            node.with_execution(policy=policy, **options)
        fetch >> node >> combine
    return wf, received


def branch_ids(run, group="summarize"):
    return [s for s, rec in run.sessions.items() if rec.group_id == group]


def test_results_come_back_in_item_order_whatever_finishes_first():
    rng = random.Random(7)
    delays = [rng.uniform(0, 0.03) for _ in range(40)]
    finished: list[int] = []
    lock = threading.Lock()

    def body(i):
        time.sleep(delays[i])
        with lock:
            finished.append(i)
        return i * i

    wf, received = mapped(list(range(40)), body)
    assert wf.execute("fetch", session_id="S") == [i * i for i in range(40)]
    assert received == [[i * i for i in range(40)]]
    assert finished != sorted(finished)  # they did finish out of order
    run = wf.last_run
    assert branch_ids(run) == [f"S_summarize[{i}]" for i in range(40)]
    assert [run.sessions[f"S_summarize[{i}]"].tasks_run for i in (0, 39)] == [["summarize[0]"], ["summarize[39]"]]
    assert run.root_context.channel.get("summarize[3].__result__") == 9


def test_ten_thousand_items_run_once_each():
    calls = Counter()
    lock = threading.Lock()

    def body(i):
        with lock:
            calls[i] += 1
        return i + 1

    wf, received = mapped(list(range(10_000)), body)
    result = wf.execute("fetch", session_id="S", max_steps=20_000)
    assert result == list(range(1, 10_001))
    assert len(calls) == 10_000 and set(calls.values()) == {1}
    assert len(branch_ids(wf.last_run)) == 10_000


def test_an_empty_list_runs_no_branch_and_hands_combine_an_empty_list():
    ran = []
    wf, received = mapped([], lambda d: ran.append(d))
    assert wf.execute("fetch", session_id="S") == []
    assert received == [[]] and ran == []
    assert branch_ids(wf.last_run) == []


def test_a_dict_maps_its_values_and_hands_back_a_dict_keyed_as_it_was():
    wf, received = mapped({"b": 2, "a": 1, "c": 3}, lambda v: v * 10)
    assert wf.execute("fetch", session_id="S") == {"b": 20, "a": 10, "c": 30}
    assert list(received[0]) == ["b", "a", "c"]
    assert branch_ids(wf.last_run) == ["S_summarize[b]", "S_summarize[a]", "S_summarize[c]"]


def test_a_key_function_names_the_items_and_the_results():
    docs = [{"id": "doc-7", "n": 1}, {"id": "doc-2", "n": 2}]
    wf, _ = mapped(docs, lambda d: d["n"] * 3, key=lambda d: d["id"])
    assert wf.execute("fetch", session_id="S") == {"doc-7": 3, "doc-2": 6}
    assert branch_ids(wf.last_run) == ["S_summarize[doc-7]", "S_summarize[doc-2]"]


def test_hostile_keys_make_ids_that_keep_them_whole():
    keys = ['a]b[c', "quote's \"q\"", "new\nline", "", " ", "S_summarize[0]", ("t", 1)]
    wf, _ = mapped({k: i for i, k in enumerate(keys)}, lambda v: v)
    assert wf.execute("fetch", session_id="S") == {k: i for i, k in enumerate(keys)}
    labels = [k if isinstance(k, str) else repr(k) for k in keys]
    assert branch_ids(wf.last_run) == [f"S_summarize[{label}]" for label in labels]
    tree = wf.last_run.session_tree()
    assert "new\nline" in tree or "new\\nline" in tree


def test_two_keys_that_read_the_same_in_an_id_are_one_clear_error():
    wf, _ = mapped({1: "x", "1": "y"}, lambda v: v)
    with pytest.raises(MapItemsError, match=r"map 'summarize' over 'fetch': items 0 and 1 have keys 1 and '1'"):
        wf.execute("fetch", session_id="S")
    assert branch_ids(wf.last_run) == []


@pytest.mark.parametrize(
    ("value", "kind"), [(42, "int"), (None, "NoneType"), ("abc", "str"), (object(), "object")]
)
def test_a_value_that_is_no_collection_is_one_error_naming_the_map_and_its_type(value, kind):
    wf, received = mapped(value, lambda v: v)
    with pytest.raises(MapItemsError) as caught:
        wf.execute("fetch", session_id="S")
    message = str(caught.value)
    assert message.startswith("map 'summarize' over 'fetch': got ") and f"({kind})" in message
    assert len(message) < 600
    assert received == [] and branch_ids(wf.last_run) == []
    assert wf.last_run.status == "failed"


def test_a_generator_that_raises_is_one_error_naming_the_map_and_the_value():
    def items():
        yield 1
        raise ValueError("disk gone")

    wf, received = mapped(items, lambda v: v)
    with pytest.raises(MapItemsError, match=r"map 'summarize' over 'fetch': iterating over .*\(generator\) raised ValueError: disk gone"):
        wf.execute("fetch", session_id="S")
    assert received == [] and branch_ids(wf.last_run) == []


def test_a_generator_that_ends_is_mapped_like_a_list():
    wf, _ = mapped(lambda: (i for i in range(3)), lambda v: -v)
    assert wf.execute("fetch", session_id="S") == [0, -1, -2]


def test_nothing_to_map_over_names_the_map_and_the_missing_key():
    wf, _ = mapped([1], lambda v: v, over="nowhere")
    with pytest.raises(MapItemsError, match=r"map 'summarize' in session 'S': nothing to map over: no result of a task 'nowhere'"):
        wf.execute("fetch", session_id="S")


def test_over_a_channel_key_and_over_the_one_predecessor():
    with workflow("keys") as wf:

        @task
        def start():
            return "ignored"

        @task
        def double(x):
            return 2 * x

        start >> double.map(over="numbers")
    assert wf.execute("start", initial_channel={"numbers": (1, 2, 3)}) == [2, 4, 6]
    wf2, _ = mapped([5, 6], lambda v: v + 1, over=None)
    assert wf2.execute("fetch") == [6, 7]


def test_a_map_inside_a_branch_of_a_group():
    with workflow("inside") as wf:

        @task
        def fetch():
            return [1, 2, 3]

        @task
        def square(n):
            return n * n

        @task
        def count(fetch):
            return len(fetch)

        @task
        def combine(square, count):
            return (square, count)

        fetch >> (square.map(over="fetch") | count) >> combine
    assert wf.execute("fetch", session_id="S") == ([1, 4, 9], 3)
    run = wf.last_run
    assert run.sessions["S_square_square[2]"].parent_id == "S_square"


def test_a_map_of_a_map_gives_a_list_of_lists():
    with workflow("nested") as wf:

        @task
        def matrix():
            return [[1, 2], [], [3]]

        @task
        def cell(v):
            return v * 100

        @task
        def combine(cell):
            return cell

        matrix >> cell.map().map(over="matrix") >> combine
    assert wf.execute("matrix", session_id="S") == [[100, 200], [], [300]]
    sessions = wf.last_run.sessions
    assert sessions["S_cell[0]_cell[0][1]"].parent_id == "S_cell[0]"
    assert sessions["S_cell[2]_cell[2][0]"].tasks_run == ["cell[2][0]"]


def test_each_item_retries_on_its_own():
    attempts = Counter()
    lock = threading.Lock()

    def body(i):
        with lock:
            attempts[i] += 1
            if i % 2 and attempts[i] < 3:
                raise RuntimeError(f"flaky {i}")
        return i

    received = []
    with workflow("retries") as wf:

        @task
        def fetch():
            return list(range(6))

        @task(max_retries=2)
        def summarize(doc):
            return body(doc)

        @task
        def combine(summarize):
            received.append(summarize)

        fetch >> summarize.map(over="fetch") >> combine
    wf.execute("fetch")
    assert received == [[0, 1, 2, 3, 4, 5]]
    assert attempts == {0: 1, 1: 3, 2: 1, 3: 3, 4: 1, 5: 3}


def failing_body(bad):
    def body(i):
        if i in bad:
            raise RuntimeError(f"item {i} broke")
        return i

    return body


def test_strict_fails_and_lists_every_failed_item_by_id():
    wf, received = mapped(list(range(6)), failing_body({1, 4}))
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute("fetch", session_id="S")
    error = caught.value
    assert [t for t, _ in error.failed_tasks] == ["summarize[1]", "summarize[4]"]
    assert "summarize[1]" in str(error) and "summarize[4]" in str(error)
    assert error.sessions["summarize[4]"] == "S_summarize[4]"
    assert received == []


def test_best_effort_hands_on_every_result_with_none_for_failed_items():
    wf, received = mapped(list(range(5)), failing_body({2}), policy="best_effort")
    assert wf.execute("fetch", session_id="S") == [0, 1, None, 3, 4]
    assert wf.last_run.sessions["S_summarize[2]"].state == "failed"


def test_a_keyed_best_effort_map_leaves_failed_keys_out():
    wf, _ = mapped({"a": 1, "b": 2}, failing_body({2}), policy="best_effort")
    assert wf.execute("fetch") == {"a": 1}


def test_at_least_n_passes_with_enough_items_and_fails_below():
    wf, _ = mapped(list(range(5)), failing_body({0, 1}), policy=AtLeastNGroupPolicy(3))
    assert wf.execute("fetch") == [None, None, 2, 3, 4]
    wf, _ = mapped(list(range(5)), failing_body({0, 1, 2}), policy=AtLeastNGroupPolicy(3))
    with pytest.raises(ParallelGroupError, match=r"summarize\[0\]"):
        wf.execute("fetch")


def test_fail_fast_stops_items_not_started():
    started = []

    def body(i):
        started.append(i)
        if i == 0:
            raise RuntimeError("first broke")
        return i

    wf, _ = mapped(list(range(50)), body, policy="fail_fast", max_concurrency=1)
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute("fetch", session_id="S")
    assert started == [0]
    assert [t for t, _ in caught.value.failed_tasks] == ["summarize[0]"]
    assert wf.last_run.sessions["S_summarize[49]"].state == "cancelled"


def test_max_concurrency_caps_items_running_at_once():
    running = [0]
    peak = [0]
    lock = threading.Lock()

    def body(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return i

    wf, _ = mapped(list(range(20)), body, max_concurrency=3)
    assert wf.execute("fetch") == list(range(20))
    assert 1 < peak[0] <= 3


def test_a_timeout_fails_the_map_naming_the_unfinished_items():
    wf, _ = mapped([0.0, 5.0], lambda s: time.sleep(s), timeout=0.5)
    with pytest.raises(GroupTimeoutError, match=r"summarize\[1\]"):
        wf.execute("fetch")


def test_channel_writes_of_items_merge_as_a_groups_do():
    with workflow("writes") as wf:

        @task
        def fetch():
            return ["a", "b", "c"]

        @task(inject_context=True)
        def tag(ctx, word):
            ctx.get_channel().append("seen", word)
            return word.upper()

        fetch >> tag.map(over="fetch").with_execution(merge={"seen": "append"})
    assert wf.execute("fetch", session_id="S") == ["A", "B", "C"]
    assert wf.last_run.root_context.channel.get("seen") == ["a", "b", "c"]


def test_one_item_asks_for_input_and_resumes_alone():
    calls = Counter()
    lock = threading.Lock()
    with workflow("ask") as wf:

        @task
        def fetch():
            return [1, 2, 3]

        @task(inject_context=True)
        def review(ctx, n):
            with lock:
                calls[n] += 1
            if n == 2:
                return ctx.request_approval(f"keep {n}?")
            return n

        fetch >> review.map(over="fetch")
    paused = wf.execute("fetch", session_id="S")
    assert [q.session_id for q in paused.pending] == ["S_review[1]"]
    assert wf.resume({paused.pending[0].key: True}) == [1, True, 3]
    assert calls == {1: 1, 2: 2, 3: 1}


def test_mapping_a_task_that_takes_nothing_or_a_chain_is_refused_when_wired():
    with workflow("refused"):

        @task
        def nothing():
            return 1

        @task
        def a(x):
            return x

        @task
        def b(x):
            return x

        with pytest.raises(TypeError, match=r"'nothing'.map\(...\): nothing\(\) takes no parameter"):
            nothing.map(over="x")
        with pytest.raises(TypeError, match=r"a\(\) has no parameter 'y'; it takes x"):
            a.map(over="x", param="y")
        with pytest.raises(TypeError, match="only a function task"):
            (a >> b).map(over="x")
        with pytest.raises(ConfigError, match=r"id 'b' is taken by a task already wired .* name='b_each'"):
            b.map(over="x")
        with pytest.raises(ValueError, match="backend 'direct'"):
            b.map(over="x", name="b_each").with_execution(backend="direct")


def test_param_chooses_which_parameter_receives_the_item():
    with workflow("param") as wf:

        @task
        def fetch():
            return [1, 2]

        @task
        def scale(factor, n):
            return factor * n

        fetch >> scale.map(over="fetch", param="n")
    assert wf.execute("fetch", initial_channel={"factor": 10}) == [10, 20]


def test_a_map_under_ready_parallel_scheduling():
    wf, received = mapped(list(range(5)), lambda v: v * 2)
    assert wf.execute("fetch", session_id="S", ready_parallel=True) == [0, 2, 4, 6, 8]
    assert received == [[0, 2, 4, 6, 8]]


def test_an_item_id_that_is_a_task_of_the_workflow_is_refused():
    with workflow("clash") as wf:

        @task
        def fetch():
            return {"1": "x", "2": "y"}

        @task
        def summarize(v):
            return v

        @task(id="summarize[2]")
        def other():
            return "other"

        fetch >> summarize.map(over="fetch") >> other
    with pytest.raises(MapItemsError, match=r"item id 'summarize\[2\]' is also the id of a task in the workflow"):
        wf.execute("fetch", session_id="S")
