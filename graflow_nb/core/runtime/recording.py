"""What a task did, written down while it runs, so a cache can replay it later.

``RecordingChannel`` sits between a task and the channel its context hands it: every
key it reads first (with the stored object it saw), and every change it makes
(``set``, ``delete``, ``append``, ``prepend``, ``atomic_add``, in order).
``RecordingTaskContext`` is the task's context with its control calls (``next_task``,
``next_iteration``, ``terminate_workflow``, ``cancel_workflow``) written down too.
``replay`` does the written changes and calls again in another session: what the
task would have done there, without calling it.

Only a run with a cache makes these (``core.runtime.calls.cached``); the plain
paths never see them.
"""

from __future__ import annotations

from typing import Any

from ..data.channel import MISSING, Channel
from ..data.typed_channel import TypedChannel
from ..data.watched_channel import WatchedChannel
from .session import RESULT_SUFFIX, Session, TaskExecutionContext

# The input a task that reads ``ctx.session_id`` is keyed by, besides channel keys.
SESSION_ID_INPUT = "@session_id"
# A change: (method name, key, the arguments after the key)
Op = tuple[str, str, tuple[Any, ...]]
# A control call: (method name, arguments)
Control = tuple[str, tuple[Any, ...]]


class RecordingChannel(WatchedChannel):
    """The channel a recorded task sees: reads and changes go to ``base`` and are
    written down (module docstring).  ``listed`` is set if the task asked for every
    key (``keys()``, ``to_dict()``): what it read then can't be told."""

    def __init__(self, base: Channel):
        super().__init__(base)
        self.reads: dict[str, Any] = {}
        self.ops: list[Op] = []
        self.written: set[str] = set()
        self.listed = False

    def _read(self, key: str) -> None:
        if key not in self.written and key not in self.reads:
            self.reads[key] = self.base.peek(key, MISSING)

    _before_change = _read  # a change other than set depends on what the key held

    def _changed(self, op: str, key: str, args: tuple[Any, ...]) -> None:
        self.written.add(key)
        self.ops.append((op, key, args))

    def get(self, key: str, default: Any = None) -> Any:
        self._read(key)
        return self.base.get(key, default)

    def peek(self, key: str, default: Any = None) -> Any:
        self._read(key)
        return self.base.peek(key, default)

    def exists(self, key: str) -> bool:
        self._read(key)
        return self.base.exists(key)

    def keys(self) -> list[str]:
        self.listed = True
        return self.base.keys()

    def to_dict(self) -> dict[str, Any]:
        self.listed = True
        return self.base.to_dict()


class RecordingTaskContext(TaskExecutionContext):
    """A task's context that writes down its channel use and its control calls."""

    __slots__ = ("recorder", "controls", "pending")

    def __init__(self, like: TaskExecutionContext):
        super().__init__(like.task_id, like.execution_context, like.retry_count, like.cycle_count, like.start_time)
        self.recorder = RecordingChannel(like.execution_context.channel)
        self.controls: list[Control] = []
        # What the cache needs to keep the call once it returns (``calls.cached``): an
        # async attempt that parked returns to it later, with this context.
        self.pending: Any = None

    @property
    def session_id(self) -> str:
        # What it does may depend on where it runs: the session id is an input then.
        session_id = self.execution_context.session_id
        self.recorder.reads.setdefault(SESSION_ID_INPUT, session_id)
        return session_id

    @property
    def asked_for_input(self) -> bool:
        return self._requests > 0

    def get_channel(self) -> Channel:
        # Under a timeout the attempt's overlay is the base: what it reads and writes there.
        self.recorder.base = super().get_channel()
        return self.recorder

    def input_channel(self) -> Channel:
        return self.get_channel()  # what its parameters read is an input of its key

    def get_typed_channel(self, message_type: type) -> Any:
        return TypedChannel(self.get_channel(), message_type)

    def get_result(self, task_id: str, default: Any = None) -> Any:
        return self.get_channel().get(task_id + RESULT_SUFFIX, default)

    def next_task(self, executable: Any, goto: bool = False) -> str:
        task_id = super().next_task(executable, goto)
        self.controls.append(("next_task", (executable, goto)))
        return task_id

    def next_iteration(self, data: Any = None) -> str:
        task_id = super().next_iteration(data)
        self.controls.append(("next_iteration", (data,)))
        return task_id

    def terminate_workflow(self, message: str) -> None:
        super().terminate_workflow(message)
        self.controls.append(("terminate_workflow", (message,)))

    def cancel_workflow(self, message: str) -> None:
        super().cancel_workflow(message)
        self.controls.append(("cancel_workflow", (message,)))


def replay(ctx: Session, task_ctx: TaskExecutionContext, ops: list[Op], controls: list[Control]) -> None:
    """Make the recorded changes in ``ctx``'s channel and the recorded control calls
    in ``task_ctx``, in the order the task made them: through the channel
    ``task_ctx`` hands out, so a run that journals (``core.runtime.journal``: a
    ``rerun`` after a run without a cache) keeps them as the task's own."""
    channel = task_ctx.get_channel()
    for op, key, args in ops:
        getattr(channel, op)(key, *args)
    for name, args in controls:
        getattr(task_ctx, name)(*args)
