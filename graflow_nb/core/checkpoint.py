"""Checkpoints: a run's state (``core.snapshot.RunState``) in files, and back.

graflow's names and meaning: ``CheckpointManager.create_checkpoint(context, *,
path=None, metadata=None)`` writes ``<name>.pkl`` (the state), ``<name>.state.json``
(the frontier, readable: each session's state, queue and what it ran; the questions
waiting) and ``<name>.meta.json``; ``resume_from_checkpoint(path) -> (ExecutionContext,
CheckpointMetadata)``, then ``WorkflowEngine().execute(ctx)``.  The three are written
as one unit and signed with this user's secret (``core.checkpoint_files``,
``core.signing``): a crash or a full disk mid-write leaves the previous checkpoint
whole, and loading checks the signature and the files' hashes before anything is
unpickled, so a file someone else wrote (or changed) runs nothing unless the caller
says ``trust=True``.  ``load_metadata`` reads meta.json only.

Unlike graflow nothing goes to ``./checkpoints/``: a checkpoint is written only to a
path you give, or into ``execute(checkpoint_dir=...)``.

>>> import tempfile, pathlib
>>> from graflow_nb import task, workflow
>>> with workflow("ckpt_doc") as wf:
...     @task
...     def a(): return 1
...     @task
...     def b(a): return a + 1
...     _ = a >> b
...     _ = wf.execute("a", session_id="D")
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> pkl, meta = CheckpointManager.create_checkpoint(wf.last_run.root_context, path=folder / "d.pkl")
>>> sorted(p.name for p in folder.iterdir())
['d.meta.json', 'd.pkl', 'd.state.json']
>>> meta.session_id, meta.status
('D', 'succeeded')
>>> CheckpointManager.load_metadata(pkl).checkpoint_id == meta.checkpoint_id
True
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from .checkpoint_files import (
    FORMAT,
    CheckpointFileError,
    UntrustedCheckpointError,
    checked,
    metadata_fields,
    paths_of,
    pickle_error,
    read_set,
    trust_set,
    write_set,
)
from .checks import shown
from .context import ExecutionContext
from .errors import GraflowError
from .model.scope import active_workflow
from .runtime.engine import WorkflowEngine
from .runtime.run import PausedRun, Run
from .snapshot import FORMAT as STATE_FORMAT
from .snapshot import RunState, SnapshotError, dumps, loads, restore_run, take_run

SUFFIX = ".pkl"


@dataclass
class CheckpointMetadata:
    """graflow's metadata of one checkpoint, plus what graflow_nb knows of the run."""

    checkpoint_id: str
    session_id: str
    workflow_name: str
    created_at: float
    status: str
    steps: int
    path: str
    fingerprint: str
    resuming_task_id: str | None = None
    user_metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Checkpoint:
    """What a ``.pkl`` holds: the run's state and its metadata.  ``source``: the name
    of the file it was loaded from (set on loading; not saved).  ``code``: the
    workflow's graph, its tasks' functions pickled by value with cloudpickle, for a
    resume in a process that has not defined the workflow (None: the tasks could not
    be pickled, or a checkpoint written before code was saved); it is read only then,
    and only from a checkpoint whose signature checked out or that the caller trusts."""

    metadata: CheckpointMetadata
    state: RunState
    source: str = ""
    code: bytes | None = None


@dataclass
class SavedWorkflow:
    """What a resume needs of a workflow, made from a checkpoint's saved code."""

    name: str
    graph: Any


class SavedCodeWarning(UserWarning):
    """A resume runs the task code saved in the checkpoint, not code of this process."""


def saved_code(graph: Any) -> bytes | None:
    """``graph`` with its tasks' code, by value; None if some part of it can't be
    pickled (a task closing over a lock, say): such a checkpoint still resumes with
    the workflow in scope, as every checkpoint does by default."""
    if graph is None:
        return None
    try:
        return cloudpickle.dumps(graph, protocol=5)
    except Exception:
        return None


# -- paths and atomic files ---------------------------------------------------------------
def _safe_name(session_id: str) -> str:
    """A file name for any session id (quotes, slashes, newlines, 2000 characters)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", session_id)[:80].lstrip(".") or "run"
    if name != session_id:
        name += "-" + uuid.uuid5(uuid.NAMESPACE_URL, session_id).hex[:8]
    return name


def paths_for(pkl: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """``(x.pkl, x.state.json, x.meta.json)`` for a checkpoint path."""
    return paths_of(pkl if pkl.name.endswith(SUFFIX) else pkl.with_name(pkl.name + SUFFIX))


def target_path(run: Run, path: Any) -> pathlib.Path:
    """Where a checkpoint of ``run`` goes, by graflow's rule for ``path``: a name ending
    ``.pkl`` is the checkpoint; any other is its base name (``dir/x`` writes ``dir/x.pkl``,
    ``dir/x.state.json``, ``dir/x.meta.json``; ``x.v2`` writes ``x.v2.pkl``).  A path
    ending in a separator or naming an existing directory gets ``<session id>.pkl``
    inside it (graflow would write nameless ``dir/.pkl`` files, or files beside the
    directory).  No path: the run's ``checkpoint_dir``; never the cwd."""
    if path is None:
        folder = run.checkpoint_dir
        if folder is None:
            raise ValueError(
                f"run {shown(run.root_session_id)}: say where to write the checkpoint: path=... or "
                f"execute(checkpoint_dir=...) (graflow_nb writes nothing to the working directory on its own)"
            )
        return pathlib.Path(folder) / (_safe_name(run.root_session_id) + SUFFIX)
    given = os.fspath(path)
    if not isinstance(given, str) or not given:
        raise ValueError(f"run {shown(run.root_session_id)}: checkpoint path {given!r} is not a file or directory name")
    target = pathlib.Path(given)
    if given.endswith(("/", os.sep)) or target.is_dir():
        return target / (_safe_name(run.root_session_id) + SUFFIX)
    return target if target.name.endswith(SUFFIX) else target.with_name(target.name + SUFFIX)


# -- saving -------------------------------------------------------------------------------
def save_state(
    state: RunState, path: pathlib.Path, metadata: dict[str, Any] | None = None, resuming_task_id: str | None = None,
    graph: Any = None,
) -> tuple[str, CheckpointMetadata]:
    """Write ``state`` as the three checkpoint files; ``(pkl path, metadata)``.
    ``graph``: the workflow's, saved with its code (see ``Checkpoint.code``)."""
    pkl = paths_for(path)[0]
    meta = CheckpointMetadata(
        checkpoint_id=uuid.uuid4().hex[:12],
        session_id=state.root_session_id,
        workflow_name=state.workflow_name,
        created_at=time.time(),
        status=state.status,
        steps=state.steps,
        path=str(pkl),
        fingerprint=state.shape.fingerprint,
        resuming_task_id=resuming_task_id,
        user_metadata=dict(metadata or {}),
    )
    data = dumps(Checkpoint(meta, state, code=saved_code(graph)))  # refuses what can't be pickled, naming it, before any file
    write_set(pkl, data, frontier_view(state), dataclasses.asdict(meta))
    return str(pkl), meta


def frontier_view(state: RunState) -> dict[str, Any]:
    """The ``.state.json`` content: what a person reads to see where the run stands."""
    return {
        "session_id": state.root_session_id,
        "workflow": state.workflow_name,
        "status": state.status,
        "steps": state.steps,
        "max_steps": state.max_steps,
        "graph_fingerprint": state.shape.fingerprint,
        "frontier": state.frontier,
        "pending": [
            {"key": p.key, "session_id": p.session_id, "task_id": p.task_id, "kind": p.kind, "prompt": p.prompt}
            for p in state.pending.values()
        ],
        "sessions": [
            {
                "session_id": s.session_id,
                "parent": s.parent_id,
                "state": s.state,
                "ran": s.tasks_run,
                "queued": s.queue,
                "parked_groups": [{"group": g.group_id, "why": g.why} for g in s.groups],
            }
            for s in state.sessions
        ],
        "error": None if state.error is None else f"{type(state.error).__name__}: {state.error}",
    }


def save_run(run: Run, path: Any = None, metadata: dict[str, Any] | None = None) -> tuple[str, CheckpointMetadata]:
    """A checkpoint of ``run`` (not executing: paused, failed, cancelled or finished; not
    held by a step debugger without threads)."""
    if run.status == "running":
        raise SnapshotError(
            f"run {shown(run.root_session_id)} is running; save it once it pauses, fails or ends, or call "
            f"ctx.checkpoint() in one of its root-session tasks"
        )
    if run.status == "held":
        raise SnapshotError(
            f"run {shown(run.root_session_id)} is held by a step debugger that steps it without threads: "
            f"its held sessions would resume as nobody's; save it once the debugger has run it to its end or to a "
            f"pause for input (dbg.run_to_end()), or after dbg.close()"
        )
    graph = run.root_context.graph if run.root_context is not None else None
    return _remembered(run, save_state(take_run(run), target_path(run, path), metadata, graph=graph))


def _remembered(run: Run, written: tuple[str, CheckpointMetadata]) -> tuple[str, CheckpointMetadata]:
    """Note ``written`` on the run's root context, where graflow's programs read it
    (``ctx.last_checkpoint_path``, ``ctx.checkpoint_metadata``)."""
    root = run.root_context
    if root is not None:
        root.last_checkpoint_path, meta = written[0], written[1]
        root.checkpoint_metadata = dataclasses.asdict(meta)
    return written


def save_running_root(ctx: ExecutionContext, path: Any, metadata: dict[str, Any] | None, rerun: str | None) -> tuple[str, CheckpointMetadata]:
    """A checkpoint from inside a root-session task.  ``rerun``: the task id that runs
    first on resume (``deferred=False``: the asking task itself, from its start)."""
    run = ctx.run
    state = take_run(run)
    state.status = "paused"
    if rerun is not None:
        root = next(s for s in state.sessions if s.session_id == ctx.session_id)
        root.queue.insert(0, rerun)
        if root.tasks_run and root.tasks_run[-1] == rerun:
            root.tasks_run.pop()
        root.counters["dequeued"] -= 1
        task = ctx.lookup(rerun)
        base = task.base_id or rerun
        if root.cycle_counts.get(base):
            root.cycle_counts[base] -= 1
        running = [tr for tr in state.task_runs if tr.session_id == ctx.session_id and tr.task_id == rerun and tr.status == "running"]
        state.task_runs = [tr for tr in state.task_runs if not any(tr is r for r in running)]
        state.steps -= 1
    return _remembered(run, save_state(state, target_path(run, path), metadata, rerun, ctx.graph))


def write_requested(ctx: ExecutionContext) -> None:
    """The engine's call after a root task that asked for a deferred checkpoint finished
    and its successors were queued (graflow's order).  A checkpoint that can't be written
    (a value that won't pickle, a full disk) leaves the run as it was: the run goes on,
    the error, naming the task and the key, goes to ``run.checkpoint_errors`` and to a
    ``RuntimeWarning``; the task has finished, so raising now would fail work that
    succeeded."""
    request = ctx.checkpoint_request
    ctx.checkpoint_request = None
    if request is None:
        return
    task_id, path, metadata = request
    try:
        written = save_running_root(ctx, path, metadata, None)[0]
    except (GraflowError, OSError) as error:
        reason = error if isinstance(error, GraflowError) else f"{type(error).__name__}: {error}"
        failure = SnapshotError(f"task {shown(task_id)}: its deferred ctx.checkpoint() was not written: {reason}")
        failure.__cause__ = error.__cause__ if isinstance(error.__cause__, OSError) else error  # the OS's own error
        ctx.run.checkpoint_errors.append(failure)
        warnings.warn(str(failure), RuntimeWarning, stacklevel=2)
        return
    ctx.run.checkpoints.append(written)


def checkpoint_from_task(ctx: ExecutionContext, task_id: str, metadata: Any, path: Any, deferred: bool) -> Any:
    """``ctx.checkpoint(...)`` inside a task (see ``TaskExecutionContext.checkpoint``)."""
    if ctx.parent_context is not None:
        raise SnapshotError(
            f"task {shown(task_id)}: ctx.checkpoint() in branch session {shown(ctx.session_id)} is refused: its "
            f"siblings are still running, so no consistent state exists there; call it in a root-session task, "
            f"or use execute(checkpoint_dir=...), which saves when the run pauses, fails or is cancelled"
        )
    if ctx.run.ready_parallel:
        raise SnapshotError(
            f"task {shown(task_id)}: ctx.checkpoint() is not available with execute(ready_parallel=True), "
            f"where several tasks of the session run at once"
        )
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"task {shown(task_id)}: ctx.checkpoint(metadata=...) takes a dict, got {type(metadata).__name__}")
    target_path(ctx.run, path)  # refuse a missing destination now, in the task that asked
    if deferred:
        ctx.checkpoint_request = (task_id, path, metadata)
        return None
    return save_running_root(ctx, path, metadata, task_id)


# -- loading and resuming ------------------------------------------------------------------
def load(source: Any, *, trust: bool = False) -> Checkpoint:
    """A checkpoint from a ``.pkl`` path (or the ``Checkpoint`` itself), once its
    signature and the hashes of its three files check out (``core.checkpoint_files``);
    ``trust=True``: the .pkl as it is, unchecked (the caller trusts whoever wrote it:
    unpickling it can run code).  Every way the files can be wrong is one
    ``CheckpointFileError`` (``UntrustedCheckpointError`` when trust would load it)."""
    if isinstance(source, Checkpoint):
        return source
    pkl = paths_for(pathlib.Path(os.fspath(source)))[0]
    pickled = read_set(pkl).pickled if trust else checked(pkl)[0].pickled
    try:
        loaded = loads(pickled)
    except Exception as error:
        raise pickle_error(
            pkl, pickled, f"its {pkl.name} cannot be unpickled ({type(error).__name__}: {str(error)[:200]}); was it "
            f"written by graflow_nb, with the modules it refers to importable here?",
        ) from None
    if not isinstance(loaded, Checkpoint):
        raise pickle_error(pkl, pickled, f"{str(pkl)!r} holds a {type(loaded).__name__}, not a graflow_nb checkpoint")
    problem = _malformed(loaded)
    if problem is not None:
        raise pickle_error(pkl, pickled, f"its {pkl.name} holds a damaged checkpoint: {problem}", "pkl: " + problem.split(" ")[0])
    loaded.source = pkl.name
    return loaded


def _malformed(checkpoint: Checkpoint) -> str | None:
    """What is missing from a checkpoint's records (an older or damaged file), or None."""
    state = checkpoint.state
    if not isinstance(checkpoint.metadata, CheckpointMetadata) or not isinstance(state, RunState):
        return f"metadata/state are a {type(checkpoint.metadata).__name__} and a {type(state).__name__}"
    missing = _missing_field(checkpoint.metadata, "metadata") or _missing_field(state, "state")
    if missing is not None:
        return missing
    if state.format != STATE_FORMAT:
        return f"state.format is {shown(state.format, 40)}, this graflow_nb reads run-state format {STATE_FORMAT}"
    if not isinstance(state.sessions, list) or not state.sessions:
        return "state.sessions is not a list of sessions"
    for index, session in enumerate(state.sessions):
        missing = _missing_field(session, f"state.sessions[{index}]")
        if missing is not None:
            return missing
        for number, group in enumerate(session.groups if isinstance(session.groups, list) else ()):
            missing = _missing_field(group, f"state.sessions[{index}].groups[{number}]")
            if missing is not None:
                return missing
        for number, spec in enumerate(session.dynamic if isinstance(session.dynamic, list) else ()):
            missing = _missing_field(spec, f"state.sessions[{index}].dynamic[{number}]")
            if missing is not None:
                return missing
    return None


def _missing_field(value: Any, where: str) -> str | None:
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return f"{where} is a {type(value).__name__}"
    for item in dataclasses.fields(value):
        if not hasattr(value, item.name):
            return f"{where} (a {type(value).__name__}) has no field {item.name!r}"
    return None


def restore(
    source: Any,
    workflow: Any,
    *,
    tasks: dict[str, Any] | None = None,
    observers: list[Any] | None = None,
    checkpoint_dir: Any = None,
    trust: bool = False,
) -> tuple[ExecutionContext, CheckpointMetadata]:
    """A live root context to continue, and the checkpoint's metadata."""
    checkpoint = load(source, trust=trust)
    meta = checkpoint.metadata
    name = checkpoint.source or pathlib.Path(meta.path).name
    try:
        root = restore_run(
            checkpoint.state, workflow, tasks=tasks, observers=observers, checkpoint_id=meta.checkpoint_id, source=name,
        )
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as error:
        raise CheckpointFileError(
            f"checkpoint {name!r} cannot be restored: its records do not fit together or this workflow ({type(error).__name__}: "
            f"{str(error)[:200]}) (run-state format {getattr(checkpoint.state, 'format', '?')}; this graflow_nb "
            f"reads checkpoint format {FORMAT}, run-state format {STATE_FORMAT})",
            name, "pkl: state",
        ) from error
    root.run.checkpoint_dir = checkpoint_dir
    root.run.checkpointer = SAVER
    return root, checkpoint.metadata


def trust_checkpoint(source: Any) -> str:
    """Sign the checkpoint at ``source`` with this user's secret, as it is: for a file
    you decided to trust (one you wrote before checkpoints were signed, or one from a
    colleague you trust), so it resumes without ``trust=True`` from now on.  Nothing
    in it is unpickled.  Its checkpoint id."""
    return trust_set(paths_for(pathlib.Path(os.fspath(source)))[0])


def continue_run(root: ExecutionContext, answers: dict[str, Any] | None = None) -> Any:
    """Give the answers and run a restored root to its next end (result, a
    ``PausedRun`` or the error); a run that had finished just returns its result."""
    if not ready_to_continue(root, answers):
        return root.run.result
    return WorkflowEngine().execute(root)


def ready_to_continue(root: ExecutionContext, answers: dict[str, Any] | None = None) -> bool:
    """Give the answers and make a restored run ready for its engine (False: it had
    finished, nothing to run)."""
    run = root.run
    for target, value in (answers or {}).items():
        run.answer(target, value)
    if run.status == "succeeded":
        return False
    run.error = None
    run.stop_error = None
    run.status = "paused"  # so the engine resumes (no second RUN_STARTED)
    return True


def autosave(run: Run) -> str | None:
    """Write ``run``'s checkpoint into its ``checkpoint_dir`` if it paused, failed or
    was cancelled; the path, or None.  A checkpoint that can't be written leaves a
    note on the run's error (or a warning) instead of hiding what happened."""
    if run.checkpoint_dir is None or run.status not in ("paused", "failed", "cancelled"):
        return None
    try:
        path, _meta = save_run(run)
    except (GraflowError, OSError) as error:
        note = f"[graflow_nb] no checkpoint written: {error}"
        if run.error is not None:
            run.error.add_note(note)
        else:
            warnings.warn(note, RuntimeWarning, stacklevel=3)
        return None
    run.checkpoints.append(path)
    if run.error is not None:
        run.error.add_note(f"[graflow_nb] checkpoint written to {path}: fix the cause, then wf.resume({path!r})")
    return path


class CheckpointManager:
    """graflow's checkpoint API (``graflow.core.checkpoint.CheckpointManager``)."""

    @staticmethod
    def create_checkpoint(
        context: ExecutionContext, *, path: Any = None, metadata: dict[str, Any] | None = None,
        resuming_task_id: str | None = None,
    ) -> tuple[str, CheckpointMetadata]:
        run = context.run
        if run.status == "running":
            if context.parent_context is not None:
                raise SnapshotError(
                    f"create_checkpoint({shown(context.session_id)}): a branch session of a running run has "
                    f"siblings still running, so no consistent state exists; checkpoint from a root-session "
                    f"task, or use execute(checkpoint_dir=...)"
                )
            return save_running_root(context, path, metadata, resuming_task_id)
        return _remembered(
            run, save_state(take_run(run), target_path(run, path), metadata, resuming_task_id, context.graph)
        )

    @staticmethod
    def resume_from_checkpoint(
        path: Any, workflow: Any = None, *, tasks: dict[str, Any] | None = None, trust: bool = False
    ) -> tuple[ExecutionContext, CheckpointMetadata]:
        """``(ExecutionContext, CheckpointMetadata)``; run it with ``WorkflowEngine().execute``.
        ``workflow``: the workflow to resume with (its tasks hold the code); by default
        the current one (``with workflow(...)``), as graflow finds it.  With none in
        scope, the code saved in the checkpoint runs, as in graflow, with one
        ``SavedCodeWarning`` saying so: the file's signature (this user's secret) or
        ``trust=True`` (the caller's decision) is what lets it run.  ``trust=True``:
        load a checkpoint not signed with this user's secret (see ``load``)."""
        checkpoint = load(path, trust=trust)
        from_workflow = workflow if workflow is not None else _current_or_saved(checkpoint, path)
        root, meta = restore(checkpoint, from_workflow, tasks=tasks)
        root.run.status = "paused"  # WorkflowEngine().execute(ctx) continues it
        root.run.error = None
        if isinstance(path, (str, os.PathLike)):
            root.last_checkpoint_path = str(paths_for(pathlib.Path(os.fspath(path)))[0])
        root.checkpoint_metadata = dataclasses.asdict(meta)
        return root, meta

    @staticmethod
    def load_metadata(path: Any, *, trust: bool = False) -> CheckpointMetadata:
        """The checkpoint's metadata, read from its meta.json alone: nothing is
        unpickled.  Checked as ``load`` checks (``trust=True``: read as it is)."""
        pkl = paths_for(pathlib.Path(os.fspath(path)))[0]
        fields, found = metadata_fields(pkl, trust)
        known = {f.name: f for f in dataclasses.fields(CheckpointMetadata)}
        values = {name: fields[name] for name in known if name in fields}
        for name, item in known.items():
            if name not in values and item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                raise CheckpointFileError(
                    f"checkpoint {shown(str(pkl), 1000)} cannot be loaded: its meta.json has no {name!r} field "
                    f"(format {found}; this graflow_nb reads format {FORMAT})", str(pkl), f"meta.json: {name}", found,
                )
        return CheckpointMetadata(**values)


def _current_or_saved(checkpoint: Checkpoint, source: Any) -> Any:
    """The workflow in scope; else one holding the code saved in the checkpoint."""
    found = active_workflow()
    if found is not None:
        return found
    name = checkpoint.metadata.workflow_name
    where = str(source) if isinstance(source, (str, os.PathLike)) else checkpoint.source
    if checkpoint.code is None:
        raise SnapshotError(
            f"resume_from_checkpoint({shown(where, 300)}): no workflow to resume {shown(name)} with, and the "
            f"checkpoint holds no code (its tasks could not be pickled by value); call it inside "
            f"`with workflow(...)` holding the tasks, or pass workflow=..."
        )
    try:
        graph = cloudpickle.loads(checkpoint.code)
    except Exception as error:
        raise SnapshotError(
            f"resume_from_checkpoint({shown(where, 300)}): the code saved in the checkpoint can't be loaded here "
            f"({type(error).__name__}: {str(error)[:200]}); call it inside `with workflow(...)` holding the "
            f"tasks, or pass workflow=..."
        ) from error
    warnings.warn(
        f"resume_from_checkpoint({shown(where, 300)}): no workflow is in scope, so the task code saved in the "
        f"checkpoint runs (as it was when the checkpoint was written); to run your own, call it inside "
        f"`with workflow({repr(name) if name else '...'}):` holding the tasks, or pass workflow=...",
        SavedCodeWarning,
        stacklevel=3,
    )
    return SavedWorkflow(name, graph)


def graflow_timeout_checkpoint(run: Run) -> str | None:
    """graflow's answer to a feedback request whose timeout ran out, for a run paused on
    one that saves nowhere else (no ``checkpoint_dir``): its checkpoint at
    ``checkpoints/<session>/session_<session>_step_<steps>_<seconds>.pkl`` under the
    working directory, the question's id in its metadata (``feedback_id``) as graflow
    writes it; the path, or None when the run did not pause that way."""
    if run.status != "paused" or run.checkpoint_dir is not None:
        return None
    timed_out = [q for q in list(run.pending.values()) if q.timed_out]
    if not timed_out:
        return None
    session = run.root_session_id
    folder = pathlib.Path("checkpoints") / session
    folder.mkdir(parents=True, exist_ok=True)
    name = f"session_{session}_step_{run.steps}_{int(time.time())}.pkl"
    path, _meta = save_run(run, folder / name, {"feedback_id": timed_out[0].key})
    run.checkpoints.append(path)
    return path


class _Checkpoints:
    """The saver a run is handed (``Run.checkpointer``): what ``run.save``, ``ctx.checkpoint``
    and the engine's deferred checkpoint call, and ``core.workflow`` uses.

    ``graflow_timeouts``: when on (the graflow alias turns it on for its process), the
    engine asks ``paused_on_timeout`` about a run that paused, and a feedback timeout is
    answered as graflow's engine answers it: a checkpoint under ``./checkpoints/`` and
    ``execute`` returning None.  Off, a paused run is returned and nothing is written."""

    graflow_timeouts = False

    save_run = staticmethod(save_run)
    autosave = staticmethod(autosave)
    restore = staticmethod(restore)
    continue_run = staticmethod(continue_run)
    ready_to_continue = staticmethod(ready_to_continue)
    load = staticmethod(load)
    checkpoint_from_task = staticmethod(checkpoint_from_task)
    write_requested = staticmethod(write_requested)
    trust_checkpoint = staticmethod(trust_checkpoint)

    def paused_on_timeout(self, run: Run) -> bool:
        """True if ``run`` paused on a timed-out feedback request and, graflow's way
        being on, its checkpoint was written (the engine then returns None)."""
        return self.graflow_timeouts and graflow_timeout_checkpoint(run) is not None

    @staticmethod
    def is_checkpoint(source: Any) -> bool:
        if isinstance(source, (Checkpoint, pathlib.PurePath)):
            return True
        return isinstance(source, str) and source.endswith(SUFFIX)


SAVER = _Checkpoints()
__all__ = [
    "Checkpoint", "CheckpointFileError", "CheckpointManager", "CheckpointMetadata", "PausedRun", "SavedCodeWarning", "SnapshotError",
    "UntrustedCheckpointError", "trust_checkpoint",
]
