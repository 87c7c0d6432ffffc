"""Every exception class of the package survives a pickle round trip (a checkpoint of
a failed run holds them; a branch run in another process sends them back) with its
type, message, attributes, notes and cause.

The classes are found by walking the package, so a new error class without an entry
in ``SAMPLES`` fails this test rather than going unchecked.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil

import pytest

import graflow_nb
from graflow_nb.core.policies import TaskResult
from graflow_nb.pipeline.errors import Issue


def _every_error_class() -> dict[str, type[BaseException]]:
    found = {}
    for info in pkgutil.walk_packages(graflow_nb.__path__, "graflow_nb."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == info.name and not issubclass(value, Warning):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


CLASSES = _every_error_class()
CAUSE = ValueError("the task's own error\n<b>&'\"")

# "module.Class" -> (args, kwargs) to build one with every attribute set.
SAMPLES: dict[str, tuple[tuple, dict]] = {
    "graflow_nb.core.errors.GraflowError": (("plain",), {}),
    "graflow_nb.core.cache.fingerprint.Unfingerprintable": (("a _thread.lock can't be read",), {}),
    "graflow_nb.core.errors.ConfigError": (("bad setting",), {}),
    "graflow_nb.core.errors.GraphCompilationError": (("no start",), {}),
    "graflow_nb.core.errors.DuplicateTaskError": (("t\n1",), {}),
    "graflow_nb.core.errors.GraphMutationError": (("read only",), {}),
    "graflow_nb.core.errors.GraflowRuntimeError": (("boom",), {"cause": CAUSE}),
    "graflow_nb.core.errors.TaskError": (("cannot call",), {"task_id": "t", "session_id": "S"}),
    "graflow_nb.core.errors.CycleLimitExceededError": (("loop", 5, 5), {}),
    "graflow_nb.core.errors.RetryLimitExceededError": (("t", 2, 2, CAUSE), {}),
    "graflow_nb.core.errors.StepLimitExceededError": ((10, "S_a", "t"), {}),
    "graflow_nb.core.errors.GraflowWorkflowCanceledError": (("stop", "t"), {}),
    "graflow_nb.core.errors.RunInterrupted": (("interrupted",), {}),
    "graflow_nb.core.errors.ParallelGroupError": (
        ("group failed", "G", [("b", "b broke")], ["a"]),
        {"errors": {"b": CAUSE}, "sessions": {"a": "S_a", "b": "S_b"}, "cancelled_tasks": ["c"]},
    ),
    "graflow_nb.core.errors.MergeConflictError": (("k", [("a", 1), ("b", 2)], "G"), {}),
    "graflow_nb.core.errors.TaskStoppedError": (("stopped half-way",), {}),
    "graflow_nb.core.errors.TaskTimeoutError": (("t", 0.5, "S"), {}),
    "graflow_nb.core.errors.AbandonedAttemptsLimitError": (("t", "S", 32, ["x (S_x)"]), {}),
    "graflow_nb.core.errors.GroupTimeoutError": (
        ("G", 0.2, ["b"], {"a": TaskResult("a", True, session_id="S_a")}), {}
    ),
    "graflow_nb.core.errors.MapItemsError": (("map 'm' over 'x': got 3 (int)",), {}),
    "graflow_nb.core.errors.SessionPaused": (("S", ["S_a"]), {}),
    "graflow_nb.core.errors.SessionHeld": (("S_a",), {}),
    "graflow_nb.core.errors.AwaitParked": (("S_a",), {}),
    "graflow_nb.core.runtime.loop_driven.GroupParked": (("S", None), {}),
    "graflow_nb.core.errors.PauseRequested": (("S_a/a/1",), {}),
    "graflow_nb.core.runtime.handle.WaitingForInput": (("Q", [("Q_a", "Ship it?\n<b>", "approval")]), {}),
    "graflow_nb.core.feedback.FeedbackTimeoutError": (("S_a/a/1", 5.0), {}),
    "graflow_nb.core.feedback.FeedbackWaitTimedOut": (("S_a/a/1", 5.0), {}),
    "graflow_nb.core.snapshot.values.SnapshotError": (("cannot save",), {}),
    "graflow_nb.core.snapshot.values.UnpicklableError": (("LocalError", "lost\nits class"), {}),
    "graflow_nb.core.snapshot.values.GraphChangedError": (("changed", {"tasks": ["task:x"]}, {"edges": [("a", "b")]}), {}),
    "graflow_nb.core.checkpoint_files.CheckpointFileError": (("damaged", "/tmp/x.pkl", "meta.json: format", 3), {}),
    "graflow_nb.core.checkpoint_files.UntrustedCheckpointError": (
        ("not yours", "/tmp/x.pkl", "meta.json: signature", 2, "other secret"), {}
    ),
    "graflow_nb.pipeline.errors.PipelineError": (("pipeline",), {}),
    "graflow_nb.pipeline.errors.PipelineValidationError": (
        ([Issue("f.yaml", "pipeline[0]", "duplicate id 'a'"), Issue("f.yaml", "pipeline[2]", "empty parallel")],), {}
    ),
    "graflow_nb.pipeline.errors.NotExpressibleError": (("cannot say",), {}),
    "graflow_nb.pipeline.errors.TemplateError": (("no value",), {}),
    "graflow_nb.pipeline.errors.StepTimeoutError": (("late",), {}),
    "graflow_nb.pipeline.errors.StepStoppedError": (("stopped",), {}),
    "graflow_nb.pipeline.errors.ShellCommandError": ((["ls", "-x"], 2, "out", "err\nline"), {}),
    "graflow_nb.pipeline.errors.HttpStatusError": (("GET", "http://x/", 503, "busy"), {}),
    "graflow_nb.pipeline.errors.BatchError": (
        ("step", {"errors": [{"index": 1, "item": 3, "error": "ValueError: x"}], "batch_metadata": {"total": 3}}), {}
    ),
    "graflow_nb.pipeline.dag.TooDeep": ((40,), {}),
    "graflow_nb.pipeline.export._Branching": (("branching",), {}),
    "graflow_nb.pipeline.steps.python.ImportPathError": (("no module",), {}),
    "graflow_nb.pipeline.steps.process_group.GroupStopped": (("cancelled",), {}),
    "graflow_nb.pipeline.templates.TemplateSyntaxError": (("${",), {}),
    "graflow_nb.debug.debugger.DebuggerFinished": (("finished",), {}),
    "graflow_nb.debug.gate.DebuggerTimeout": (("too long",), {}),
    "graflow_nb.distributed.shipping.ShippingError": (("channel key 'lock' can't be pickled",), {}),
    "graflow_nb.distributed.executor.WorkerLost": (("lost with tcp://127.0.0.1:1",), {"cause": CAUSE}),
    "graflow_nb.distributed.executor.SchedulerLost": (("lost: the client of tcp://127.0.0.1:1 was closed",), {"cause": CAUSE}),
}


def test_every_error_class_has_a_sample():
    assert sorted(CLASSES) == sorted(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_an_error_survives_a_pickle_round_trip_with_its_attributes(name):
    cls = CLASSES[name]
    args, kwargs = SAMPLES[name]
    error = cls(*args, **kwargs)
    error.add_note("[graflow_nb] raised by task 't' in session 'S'")
    error.task_id = getattr(error, "task_id", None) or "t"

    back = pickle.loads(pickle.dumps(error))

    assert type(back) is cls
    assert str(back) == str(error) and back.args == error.args
    assert back.__notes__ == error.__notes__
    assert sorted(vars(back)) == sorted(vars(error))
    for attr, value in vars(error).items():
        restored = getattr(back, attr)
        if isinstance(value, BaseException):
            assert type(restored) is type(value) and str(restored) == str(value)
        elif attr == "errors" and isinstance(value, dict):
            assert {k: str(v) for k, v in restored.items()} == {k: str(v) for k, v in value.items()}
        elif attr == "results":
            assert {k: (r.task_id, r.success) for k, r in restored.items()} == {k: (r.task_id, r.success) for k, r in value.items()}
        else:
            assert restored == value, attr
    if error.__cause__ is not None:
        assert type(back.__cause__) is type(error.__cause__) and str(back.__cause__) == str(error.__cause__)
