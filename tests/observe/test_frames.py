"""The run as pandas frames: exact rows for the diamond, nested and failed runs,
fixed dtypes, and the event stream when (and only when) it was recorded."""

from __future__ import annotations

import pandas as pd
import pytest
from drawings import diamond, nested

from graflow_nb import ParallelGroupError, RetryPolicy, task, workflow
from graflow_nb.core.events import EventLog
from graflow_nb.observe import RunFrames, events_frame, events_of, record, sessions_frame, tasks_frame
from graflow_nb.observe.frames import EVENT_COLUMNS, SESSION_COLUMNS, TASK_COLUMNS


def assert_typed(frame: pd.DataFrame, columns: dict[str, str]) -> None:
    assert list(frame.columns) == list(columns)
    for name, dtype in columns.items():
        assert frame[name].dtype == pd.api.types.pandas_dtype(dtype), name


def test_diamond_sessions_frame():
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    df = sessions_frame(wf.last_run)
    assert_typed(df, SESSION_COLUMNS)
    assert df["session_id"].tolist() == ["4821", "4821_transform_a", "4821_transform_b"]
    assert df["parent_id"].isna().tolist() == [True, False, False]
    assert df["parent_id"].iloc[1:].tolist() == ["4821", "4821"]
    assert df["depth"].tolist() == [0, 1, 1]
    assert df["group_id"].iloc[1:].tolist() == ["ParallelGroup_1", "ParallelGroup_1"]
    assert df["member_id"].iloc[1:].tolist() == ["transform_a", "transform_b"]
    assert df["state"].tolist() == ["closed", "merged", "merged"]
    assert df["enqueued"].tolist() == [2, 1, 1]
    assert df["dequeued"].tolist() == [2, 1, 1]
    assert df["queued"].tolist() == [0, 0, 0]
    assert df["tasks_run"].tolist() == [3, 1, 1]
    assert (df["end"] >= df["start"]).all()
    assert (df["duration"] == df["end"] - df["start"]).all()
    assert str(df["start"].dt.tz) == "UTC"
    run = wf.last_run
    assert df["start"].iloc[0] == pd.Timestamp(run.sessions["4821"].started, unit="s", tz="UTC")


def test_diamond_tasks_frame_has_group_rows_marked():
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    df = tasks_frame(wf.last_run)
    assert_typed(df, TASK_COLUMNS)
    assert list(zip(df["task_id"], df["session_id"], df["kind"], strict=True)) == [
        ("fetch", "4821", "task"),
        ("ParallelGroup_1", "4821", "group"),
        ("transform_a", "4821_transform_a", "task"),
        ("transform_b", "4821_transform_b", "task"),
        ("store", "4821", "task"),
    ]
    assert df["status"].unique().tolist() == ["succeeded"]
    assert df["attempt"].tolist() == [1] * 5
    assert df["error"].isna().all()
    assert not df["dynamic"].any()
    assert (df["duration"] >= pd.Timedelta(0)).all()
    group = df.set_index("task_id")
    assert group.loc["ParallelGroup_1", "start"] <= group.loc["transform_a", "start"]
    assert group.loc["ParallelGroup_1", "end"] >= group.loc["transform_b", "end"]
    assert (df["kind"] == "task").sum() == 4


def test_nested_frames():
    wf = nested()
    wf.execute("a", session_id="7")
    sessions = sessions_frame(wf.last_run)
    assert sessions["session_id"].tolist() == ["7", "7_b", "7_b_b1", "7_b_b2", "7_c"]
    assert sessions["parent_id"].iloc[1:].tolist() == ["7", "7_b", "7_b", "7"]
    assert sessions["depth"].tolist() == [0, 1, 2, 2, 1]
    assert sessions["enqueued"].tolist() == [2, 2, 1, 1, 1]
    tasks = tasks_frame(wf.last_run)
    assert tasks.loc[tasks["kind"] == "task", "task_id"].tolist() == ["a", "b", "b1", "b2", "bm", "c", "d"]
    assert tasks.loc[tasks["kind"] == "group", "session_id"].tolist() == ["7", "7_b"]


def test_failed_run_frames_name_the_error():
    wf = diamond(fail=True)
    with pytest.raises(ParallelGroupError):
        wf.execute("fetch", session_id="9")
    sessions = sessions_frame(wf.last_run).set_index("session_id")
    assert sessions.loc["9", "state"] == "failed"
    assert sessions.loc["9_transform_a", "state"] == "failed"
    tasks = tasks_frame(wf.last_run).set_index("task_id")
    assert tasks.loc["transform_a", "status"] == "failed"
    assert tasks.loc["transform_a", "error"] == "ValueError: transform_a broke"
    assert "store" not in tasks.index
    assert tasks.loc["ParallelGroup_1", "status"] == "failed"


def test_retries_are_rows_and_dynamic_tasks_are_flagged():
    calls = []
    with workflow("retry") as wf:

        @task(inject_context=True, max_retries=1, retry_policy=RetryPolicy(max_retries=1, initial_interval=0.0))
        def flaky(ctx):
            calls.append(1)
            if len(calls) == 1:
                raise ConnectionError("again")
            ctx.next_task(task("spawned")(lambda: 5))

    wf.execute("flaky", session_id="Y")
    df = tasks_frame(wf.last_run)
    assert list(zip(df["task_id"], df["attempt"], df["status"], df["dynamic"], strict=True)) == [
        ("flaky", 1, "failed", False),
        ("flaky", 2, "succeeded", False),
        ("spawned", 1, "succeeded", True),
    ]
    assert df["error"].tolist()[0] == "ConnectionError: again"
    assert df["thread"].tolist()[0] == "MainThread"


def test_events_need_recording_and_then_come_typed():
    wf = diamond()
    wf.execute("fetch", session_id="4821")
    with pytest.raises(LookupError, match="record"):
        events_frame(wf.last_run)
    recorder = record(wf)
    assert record(wf) is recorder
    first = wf.execute("fetch", session_id="4821")
    run_one = wf.last_run
    wf.execute("fetch", session_id="4821")
    run_two = wf.last_run
    assert first == 4
    one, two = events_frame(run_one), events_frame(run_two)
    assert_typed(one, EVENT_COLUMNS)
    assert len(one) == len(events_of(run_one)) == len(two)
    assert one["kind"].iloc[0] == "run_started"
    assert one["kind"].iloc[1] == "task_enqueued" and one["task_id"].iloc[1] == "fetch"
    assert one["kind"].iloc[-1] == "run_finished" and one["state"].iloc[-1] == "succeeded"
    started = one[one["kind"] == "task_started"]
    assert sorted(started["task_id"]) == sorted(["fetch", "ParallelGroup_1", "transform_a", "transform_b", "store"])
    assert started["attempt"].tolist() == [1] * 5
    closed = one[one["kind"] == "session_closed"].set_index("session_id")
    assert closed.loc["4821_transform_a", "state"] == "merged"
    assert (one["time"] >= pd.Timestamp(run_one.started, unit="s", tz="UTC")).all()
    recorder.stop()
    wf.execute("fetch", session_id="4821")
    with pytest.raises(LookupError):
        events_of(wf.last_run)


def test_events_frame_takes_a_log_or_a_list_and_run_frames_bundles_all_three():
    log = EventLog()
    wf = diamond()
    wf.execute("fetch", session_id="4821", observers=[log])
    from_log, from_list = events_frame(log), events_frame(list(log.events))
    assert from_log.drop(columns="data").equals(from_list.drop(columns="data"))
    assert len(from_log) == len(log.events)
    empty = events_frame([])
    assert_typed(empty, EVENT_COLUMNS)
    assert len(empty) == 0
    bundle = RunFrames(wf.last_run)
    assert bundle.sessions().equals(sessions_frame(wf.last_run))
    assert bundle.tasks()["task_id"].tolist() == tasks_frame(wf.last_run)["task_id"].tolist()
    with pytest.raises(LookupError):
        bundle.events()


def test_recorder_and_live_view_on_one_run_keep_one_copy_of_each_event():
    wf = diamond()
    record(wf)
    log = EventLog()
    wf.execute("fetch", session_id="4821", live=True, observers=[log])
    assert [(e.kind, e.session_id, e.task_id) for e in events_of(wf.last_run)] == [
        (e.kind, e.session_id, e.task_id) for e in log.events
    ]


def test_a_paused_and_resumed_run_records_one_stream():
    with workflow("hil") as wf:
        fetch = task("fetch")(lambda: 1)
        ask = task("ask", inject_context=True)(lambda ctx: ctx.request_approval("Ship it?"))
        store = task("store")(lambda: 3)
        _ = fetch >> ask >> store
    record(wf)
    paused = wf.execute("fetch", session_id="H")
    assert tasks_frame(wf.last_run)["status"].tolist() == ["succeeded", "paused"]
    assert paused.resume("H", True) == 3
    kinds = events_frame(wf.last_run)["kind"].tolist()
    assert kinds.count("run_started") == 1 and kinds.count("run_finished") == 1
    assert kinds[:2] == ["run_started", "task_enqueued"] and kinds[-1] == "run_finished"
    tasks = tasks_frame(wf.last_run)
    assert list(zip(tasks["task_id"], tasks["status"], strict=True)) == [
        ("fetch", "succeeded"), ("ask", "paused"), ("ask", "succeeded"), ("store", "succeeded"),
    ]
