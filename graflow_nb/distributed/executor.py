"""The Dask executor: each branch session of a group is one future on a cluster.

Per run the graph is pickled and scattered once per client; per group the parent's
channel view is pickled to bytes and scattered once, shared by every member; each
member's future carries only its ``BranchSpec``.  The forking thread waits on the
futures; as each ends, its outcome is folded into the run by ``snapshot.apply_outcome``
(the engine's one fold: channel changes into the branch's overlay, session records,
task runs, skips, steps, the events that did not arrive live) plus what only a Dask
outcome carries (``absorb``: worker, questions, groups, fork counts, and in a run with a
re-run cache what its tasks decided and kept there, in a run without one what they
did: their journal), and the branch is
settled exactly as a thread-run branch is, so the coordinator decides and merges with the same code in
declaration order.

Events stream back live on a per-group Dask topic (``Client.subscribe_topic``),
numbered per branch; the outcome's own list fills any gap, so each event reaches the
run's observers once and in order.  Cancellation is cooperative: ``stop`` sets a
``distributed.Event`` that remote sessions check at task boundaries, and members not
yet submitted never are.  A worker that dies fails its member with ``WorkerLost``
naming the worker.  Dask may re-run a task whose worker was lost, so a remote branch
runs at least once; the outcome that comes back is the record.

When the client stops being connected (it was closed, or the scheduler died), Dask
ends every future at once; each member out on the cluster then fails with
``SchedulerLost`` naming its session, task and the scheduler, and nothing here calls
the scheduler again (no stop flag, no gather), so nothing waits on Dask's reconnect
timeout.  A value in an outcome that can't be unpickled here, or could not be pickled
on its worker, fails its branch with a ``ShippingError`` naming the session, task (or
key) and worker (``load_outcome``); such an error comes back as an
``UnpicklableError`` instead (``seal_error``).
Every member that ends so is settled like any failed member: the group's policy
decides, and its session is closed ``failed``.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
import uuid
import weakref
from collections import deque
from typing import Any

from distributed import Client, KilledWorker
from distributed import Event as DaskEvent
from distributed.client import FutureCancelledError

from ..core.cache.journal_replay import JournalReplay
from ..core.cache.run_cache import RunCache
from ..core.cache.shipped import absorb_report, branch_cache, written_values
from ..core.errors import GraflowRuntimeError, SessionPaused
from ..core.events import EventKind
from ..core.runtime.executors.base import Batch, Branches, BranchExecutor
from ..core.runtime.run import Run, TaskRun
from ..core.snapshot import BranchSpec, apply_outcome, branch_state
from .shipping import (
    GroupView,
    RemoteOutcome,
    ShippingError,
    Ticket,
    Unloadable,
    dumps,
    load_outcome,
    loads,
    pickled_view,
)
from .worker import run_branch

# How often the waiting thread looks at the run's own stop flags between futures.
_POLL_SECONDS = 0.05


class Shipped:
    """What this process scattered to clusters, counted for ``benchmarks/`` and
    curious users: one graph per run and cluster, one parent view per group."""

    graphs = 0
    graph_bytes = 0
    views = 0
    view_bytes = 0


class WorkerLost(GraflowRuntimeError):
    """A branch's Dask worker died (or the future was lost) before its outcome came back."""


class SchedulerLost(WorkerLost):
    """This process lost its Dask scheduler: the client was closed, or the scheduler
    died or can't be reached.  Every branch out on it fails with this; a group can't
    start on such a client (make a new one and hand it to the group again)."""


def _new_client(group: Any) -> str:
    """How to go on after a client was lost, for ``group``."""
    if group.backend_chosen:
        return "make a new client and hand it to the group again (with_execution(backend='dask', backend_config={'client': client}))"
    return "make a new client and run with it (execute(executor=client))"


def _scheduler_of(client: Client) -> str:
    """The scheduler's address, also for a client closed since (which forgets it)."""
    try:
        return str(client.scheduler.address)
    except AttributeError:  # closed: its cluster may still say
        pass
    try:
        return str(client.cluster.scheduler_address)
    except AttributeError:
        return "(address unknown)"


def _unreachable(client: Client, scheduler: str) -> str | None:
    """Why ``client`` can't reach its scheduler now, or None while it can."""
    status = client.status
    if status == "running":
        return None
    if status in ("closing", "closed"):
        return f"the Dask client of scheduler {scheduler} was closed"
    return f"the connection to Dask scheduler {scheduler} was lost"


_CLIENTS: dict[str, Client] = {}
# Guards _CLIENTS: clients this process opened for ``backend_config={"address": ...}``.
_CLIENTS_LOCK = threading.Lock()


def _client_for(address: str) -> Client:
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(address)
        if client is None or client.status not in ("running", "connecting"):
            client = _CLIENTS[address] = Client(address, set_as_default=False)
        return client


# Pickles up to this size ride to the cluster with a task of their own, without a wait;
# larger ones are scattered (a round trip to the scheduler, but no large task message).
INLINE_BYTES = 256 * 1024


def _payload(blob: bytes) -> bytes:
    return blob


def _put(client: Client, blob: bytes) -> Any:
    """One future holding ``blob`` on the cluster, shared by every task that needs it."""
    if len(blob) <= INLINE_BYTES:
        return client.submit(_payload, blob, pure=False, key=f"graflow-data-{uuid.uuid4().hex}")
    return client.scatter(blob, hash=False, broadcast=True)


class _ShippedGraph:
    """A graph on one client's cluster, named by the digest of its pickle."""

    def __init__(self, token: str, future: Any):
        self.token = token
        self.future = future


# (client id, digest) -> _ShippedGraph, most recent last: a graph is shipped once per
# cluster until it changes, however many runs (or groups) use it.
_GRAPHS: dict[tuple[str, str], _ShippedGraph] = {}
_GRAPHS_LOCK = threading.Lock()
_GRAPHS_KEPT = 16


# run -> {client id: _ShippedGraph}: the graph is read-only while a run uses it, so a
# run's later groups reuse the first one's pickle without pickling the graph again.
_RUN_GRAPHS: weakref.WeakKeyDictionary[Run, dict[str, _ShippedGraph]] = weakref.WeakKeyDictionary()


def _shipped_graph(run: Run, graph: Any, client: Client) -> _ShippedGraph:
    with _GRAPHS_LOCK:
        known = _RUN_GRAPHS.get(run, {}).get(client.id)
    if known is not None:
        return known
    shipped = _ship_graph(run, graph, client)
    with _GRAPHS_LOCK:
        _RUN_GRAPHS.setdefault(run, {})[client.id] = shipped
    return shipped


def _ship_graph(run: Run, graph: Any, client: Client) -> _ShippedGraph:
    try:
        blob = dumps(graph)
    except Exception as error:
        raise ShippingError(
            f"run {run.root_session_id!r}: the workflow's graph can't be pickled for a Dask "
            f"worker ({type(error).__name__}: {error}); a task refers to something that can't travel"
        ) from error
    token = hashlib.blake2b(blob, digest_size=12).hexdigest()
    with _GRAPHS_LOCK:
        shipped = _GRAPHS.pop((client.id, token), None)
        if shipped is None:
            shipped = _ShippedGraph(token, _put(client, blob))
            Shipped.graphs += 1
            Shipped.graph_bytes += len(blob)
        _GRAPHS[(client.id, token)] = shipped
        while len(_GRAPHS) > _GRAPHS_KEPT:
            del _GRAPHS[next(iter(_GRAPHS))]
        return shipped


class DaskExecutor(BranchExecutor):
    """Runs each member's branch session as one future on ``client``'s cluster
    (``backend="dask"``, or ``execute(executor=client)``)."""

    def __init__(self, client: Client):
        self.client = client

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DaskExecutor:
        client = config.get("client")
        if client is None:
            client = _client_for(config["address"])
        return cls(client)

    def start(self, branches: Branches, indices: list[int], limit: int) -> Batch:
        return DaskBatch(self.client, branches, indices, limit)


def _view(branches: Any) -> GroupView:
    """The parent session as a worker needs it: channel at the fork, dynamic tasks."""
    parent = branches.parent
    nodes: dict[str, Any] = {}
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    ctx = parent
    while ctx is not None:  # nearer sessions win, as lookups do
        for table, into in ((ctx.dynamic_nodes, nodes), (ctx.dynamic_succ, succ), (ctx.dynamic_pred, pred)):
            for key, value in table.items():
                into.setdefault(key, value)
        ctx = ctx.parent_context
    channel = parent.channel
    run = parent.run
    skip = getattr(branches, "map_source", None)  # a map's whole value: each member carries its own item
    return GroupView(
        parent.session_id, run.workflow_name, {k: channel.peek(k) for k in channel.keys() if k != skip}, nodes,
        succ, pred, run.max_workers,
    )


def _settings(branches: Any) -> dict[str, Any]:
    """The run's settings a branch needs, as ``core.snapshot.BranchSpec`` carries them."""
    parent, run = branches.parent, branches.run
    return {
        "default_max_cycles": parent.default_max_cycles,
        "default_max_retries": parent.default_max_retries,
        "config": dict(parent.config),
        "default_policy": run.default_policy,
        "max_concurrency": run.max_concurrency,
        "ready_parallel": run.ready_parallel,
    }


class _Feed:
    """One branch's events: live ones from the topic and the outcome's, each once, in order."""

    def __init__(self, index: int, first: int):
        self.index = index
        self.positions: dict[str, int] = {}  # session -> tasks started there so far (live)
        self.next = first
        self.first = first
        self.attempt: str | None = None
        self.waiting: dict[int, bytes] = {}
        # (session, task, attempt) -> the TaskRun standing for a remote attempt until
        # the outcome brings the real one.
        self.provisional: dict[tuple[str, str | None, Any], TaskRun] = {}
        self.closed = False
        # Guards every field: the client's event loop thread delivers live events,
        # the waiting thread delivers the outcome's.
        self.lock = threading.Lock()


class DaskBatch(Batch):
    def __init__(self, client: Client, branches: Any, indices: list[int], limit: int):
        self.client = client
        self.branches = branches
        self.run: Run = branches.run
        self.indices = indices
        self.limit = max(1, limit)
        parent = branches.parent
        where = f"group {branches.group.task_id!r} in session {parent.session_id!r}"
        self.scheduler = _scheduler_of(client)
        why = _unreachable(client, self.scheduler)
        if why is not None:  # nothing was sent: the group fails, its members cancelled
            raise SchedulerLost(f"{where} can't start on Dask: {why}; {_new_client(branches.group)}")
        view = _view(branches)
        if isinstance(self.run.cache, RunCache):  # the branches plan, replay and keep on their workers
            view.cache = branch_cache(self.run.cache, parent.graph, branches.members, view.channel)
        elif isinstance(self.run.cache, JournalReplay):  # a rerun: the last run's branches, taken on their workers
            view.replay = self.run.cache.share(branch.session_id for branch in branches.branches)
        try:
            view_blob = dumps(view)
        except Exception as error:
            pickled_view(view.channel, where)  # raises, naming the key, if the channel is why
            raise ShippingError(f"{where}: the parent session can't be pickled for a Dask worker: {error}") from error
        self.graph = _shipped_graph(self.run, parent.graph, client)
        self.view = _put(client, view_blob)
        self.view_token = uuid.uuid4().hex
        self.settings = _settings(branches)
        Shipped.views += 1
        Shipped.view_bytes += len(view_blob)
        name = uuid.uuid4().hex[:12]
        self.topic = f"graflow-{name}"
        self.stop_flag = f"graflow-stop-{name}"
        self._flag = DaskEvent(self.stop_flag, client=client)
        self._flag_set = False
        self.feeds = {i: _Feed(i, _events_seen(branches.branches[i])) for i in indices}
        self.workers: dict[int, str] = {}
        self.futures: dict[Any, int] = {}  # future -> position, while awaited
        self.done: queue.Queue[Any] = queue.Queue()  # futures that ended, in the order they did
        self.unsubmitted = deque(range(len(indices)))
        self.skipped: list[int] = []
        self.running: set[int] = set()
        self.stopped = False
        self.waiting = False  # inside wait(): a stop then leaves running members awaited
        client.subscribe_topic(self.topic, self._on_message)

    # -- the seam ----------------------------------------------------------------------
    def wait(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        self.waiting = True
        try:
            self._submit_more()
            while self.futures:
                self._sync_stop()
                poll = _POLL_SECONDS
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    poll = min(poll, remaining)
                try:
                    ended = [self.done.get(timeout=poll)]
                except queue.Empty:
                    continue
                while not self.done.empty():
                    ended.append(self.done.get_nowait())
                self._finish([f for f in ended if f in self.futures])
                self._submit_more()
            return True
        finally:
            self.waiting = False
            if not self.futures:
                self._close()

    def stop(self) -> None:
        self.stopped = True
        while self.unsubmitted:
            self.skipped.append(self.unsubmitted.popleft())
        self._sync_stop()
        if self.futures and not self.waiting:
            # After the wait gave up (a timeout, an interrupt): the running branches are
            # abandoned; they stop at their next task boundary and nothing more is awaited.
            # During the wait (a sibling failed) they are still awaited, as on threads.
            for future in self.futures:
                future.release()
            self.futures.clear()
            self._close()

    def never_started(self) -> list[int]:
        return list(self.skipped)

    def still_running(self) -> list[int]:
        return sorted(self.running)

    # -- submitting --------------------------------------------------------------------
    def _submit_more(self) -> None:
        while self.unsubmitted and len(self.futures) < self.limit and not self.stopped:
            position = self.unsubmitted.popleft()
            index = self.indices[position]
            why = _unreachable(self.client, self.scheduler)
            if why is not None:  # the cluster went away before this member's turn
                self._give_up(index, SchedulerLost(f"{self._branch_name(index)} was never sent: {why}"))
                continue
            ticket = self._ticket(index)
            try:
                future = self.client.submit(
                    run_branch, self.graph.token, self.graph.future, self.view_token, self.view, ticket,
                    key=f"graflow-branch-{uuid.uuid4().hex[:12]}", pure=False,
                )
            except Exception as refused:  # the client closed between the look and the submit
                why = _unreachable(self.client, self.scheduler) or f"Dask refused it ({type(refused).__name__}: {refused})"
                self._give_up(index, SchedulerLost(f"{self._branch_name(index)} was never sent: {why}", refused))
                continue
            self.branches.branches[index].task_queue.drain()  # its queue is the worker's to run now
            self.futures[future] = position
            self.running.add(position)
            future.add_done_callback(self.done.put)

    def _ticket(self, index: int) -> Ticket:
        branch = self.branches.branches[index]
        run = self.run
        record = branch.record
        spec = BranchSpec(
            session_id=branch.session_id,
            parent_id=self.branches.parent.session_id,
            member_id=self.branches.members[index].task_id,
            group_id=record.group_id,
            order_key=record.order_key,
            depth=branch.depth,
            steps_left=max(0, run.max_steps - run.steps),
            parent_view={},  # in the group's view, shipped once for every member
            settings=self.settings,
            dynamic=[],  # by value, in the group's view
        )
        ticket = Ticket(spec, run.max_steps, self.stop_flag, self.topic, index, live=run.bus.active)
        ticket.answers = {
            key: run.answers[key]
            for key, question in run.pending.items()
            if key in run.answers and run.is_within(question.session_id, branch.session_id)
        }
        remote = branch.remote
        if remote is not None:
            ticket.events_seen = remote.events_seen  # numbered on from its earlier parts, as the feed expects
        if remote is not None and remote.paused_state is not None:
            ticket.paused_state = remote.paused_state  # paused on a worker in this process's run
            ticket.seen = remote.seen
        else:  # fresh, or stopped in a run restored from a checkpoint: it goes on from its state
            spec.state = branch_state(branch)
            if branch.dynamic_nodes:  # its own run-time tasks; a map's item: its member
                ticket.dynamic_nodes = dict(branch.dynamic_nodes)
        return ticket

    def _sync_stop(self) -> None:
        """The group's or the run's stop reaches remote sessions through the flag (a
        client that lost its scheduler can't set it, and nothing there runs on anyway)."""
        if self._flag_set:
            return
        if self.stopped or self.branches.stop_event.is_set() or self.run.cancel_event.is_set():
            self._flag_set = True
            if _unreachable(self.client, self.scheduler) is None:
                try:
                    self._flag.set()
                except Exception:  # the connection went just now: the futures end with it
                    pass

    # -- outcomes ----------------------------------------------------------------------
    def _finish(self, futures: list[Any]) -> None:
        """Settle the members whose futures ended, in declaration order; the outcomes
        of those that finished come back in one gather."""
        futures.sort(key=lambda f: self.futures[f])
        finished = [f for f in futures if f.status == "finished"]
        blobs: dict[Any, bytes] = {}
        if finished and _unreachable(self.client, self.scheduler) is None:  # else its data can't be fetched
            try:
                blobs = dict(zip(finished, self.client.gather(finished), strict=True))
            except Exception:  # one was lost on the way (its worker died just now): one by one
                for future in finished:
                    if _unreachable(self.client, self.scheduler) is not None:
                        break  # the client lost its scheduler meanwhile: the rest are lost with it
                    try:
                        blobs[future] = future.result()
                    except Exception:
                        continue  # settled as lost below
        for future in futures:
            position = self.futures.pop(future)
            self.running.discard(position)
            index = self.indices[position]
            blob = blobs.get(future)
            if blob is None:
                self._lost(index, future)
                continue
            try:
                remote, unloadable = load_outcome(blob)
            except Exception as error:  # its records (an error it raised, say) don't load here
                worker = self.workers.get(index)
                self._give_up(index, ShippingError(
                    f"{self._branch_name(index)}: its outcome from "
                    f"{f'Dask worker {worker}' if worker else 'its Dask worker'} can't be loaded in this process "
                    f"({type(error).__name__}: {error})", cause=error,
                ))
                continue
            error = remote.outcome.error
            if unloadable:
                error = self._unloadable(index, remote, unloadable)
            self.absorb(index, remote)
            if unloadable:  # it can't go on: no question of it waits, and it ended failed
                session_id = self.branches.branches[index].session_id
                self.run.withdraw_questions(session_id)
                self.run.close_session(session_id, "failed")
            self.branches.settle(index, error)

    def _branch_name(self, index: int) -> str:
        return f"branch session {self.branches.branches[index].session_id!r} (task {self.branches.members[index].task_id!r})"

    def _unloadable(self, index: int, remote: RemoteOutcome, values: list[Unloadable]) -> BaseException:
        """The branch fails for values of its outcome that can't be loaded here, or could
        not be pickled on its worker (taken out of it by ``load_outcome``): with an error
        naming the first, unless it failed of its own error already (which then notes
        them).  A paused branch can't go on."""
        first = values[0]
        more = f" (and {len(values) - 1} more)" if len(values) > 1 else ""
        error = ShippingError(
            f"{self._branch_name(index)} on Dask worker {remote.worker}: {first.where}{more}, a {first.kind}, "
            f"{first.why} ({type(first.error).__name__}: {first.error})",
            cause=first.error,
        )
        outcome = remote.outcome
        remote.paused_state = None
        if outcome.error is None or isinstance(outcome.error, SessionPaused):
            outcome.error = error
        else:
            outcome.error.add_note(f"[graflow_nb] {error}")
        return outcome.error

    def _lost(self, index: int, future: Any) -> None:
        """The future ended without an outcome: its worker died, Dask gave up on it, or
        the client lost its scheduler (closed, or the scheduler died)."""
        cause = _cause(future)
        why = _unreachable(self.client, self.scheduler)
        if why is not None or (isinstance(cause, FutureCancelledError) and cause.reason == "scheduler-connection-lost"):
            why = why or f"the connection to Dask scheduler {self.scheduler} was lost"
            self._give_up(index, SchedulerLost(f"{self._branch_name(index)} was lost: {why}", cause))
            return
        if isinstance(cause, ShippingError):  # its outcome could not be pickled there: named by the worker
            self._give_up(index, cause)
            return
        worker = self.workers.get(index)
        if worker is None and isinstance(cause, KilledWorker):
            worker = getattr(cause.last_worker, "address", None)
        worker = worker or "an unknown worker"
        kind = "was lost with" if isinstance(cause, (KilledWorker, OSError)) else "failed on"
        error = WorkerLost(
            f"{self._branch_name(index)} {kind} Dask worker {worker} "
            f"({type(cause).__name__}: {cause})", cause,
        )
        self._give_up(index, error)

    def _give_up(self, index: int, error: BaseException) -> None:
        """Member ``index`` ends with ``error`` and no outcome: its session is closed
        failed, what it showed live is dropped, and the policy decides."""
        self._close_feed(index)
        self._drop_provisional(self.feeds[index])
        self.run.close_session(self.branches.branches[index].session_id, "failed")
        self.branches.settle(index, error)

    def absorb(self, index: int, remote: RemoteOutcome) -> None:
        """Fold one remote branch's outcome into this run with ``snapshot.apply_outcome``,
        the engine's one fold, told how many of its events arrived live already; then
        what only a Dask outcome carries: the worker, questions, group records, fork
        counts, and the state to go on from if it paused."""
        run = self.run
        branch = self.branches.branches[index]
        outcome = remote.outcome
        branch.adopt_dynamic_nodes(remote.dynamic_nodes)  # by value: a notebook's functions have no name here
        self._drop_provisional(self.feeds[index])
        feed = self.feeds[index]
        with feed.lock:
            same_attempt = feed.attempt is None or feed.attempt == remote.attempt
            delivered = feed.next - feed.first if same_attempt else 0  # a given-up attempt's live events don't count
            feed.waiting = {}
            feed.closed = True
        if run.bus.active:
            outcome.events = [event for event in map(_event, remote.events) if event is not None]
        run.adopt_fork_counts(remote.fork_counts)
        run.groups.extend(remote.groups)
        run.reask_within(branch.session_id, remote.pending)
        branch.remote = _Remote(remote.paused_state, remote.seen, feed.first + len(remote.events))
        apply_outcome(outcome, branch, tasks=remote.dynamic_nodes, delivered=delivered)
        if remote.cache is not None and isinstance(run.cache, RunCache):  # decisions, entries and tokens made there
            absorb_report(run.cache, remote.cache, written_values(outcome.changes))
        elif remote.cache is not None and run.cache is not None:  # a rerun's: what was taken there
            run.cache.carry(remote.cache.decisions)
        if remote.journal and run.journaling:  # what its tasks did, for the next rerun
            run.journal.update(remote.journal)
        for copy in outcome.sessions:
            run.sessions[copy.session_id].worker = remote.worker

    # -- events ------------------------------------------------------------------------
    def _on_message(self, message: Any) -> None:
        """The client's event loop thread: one live event from a worker."""
        _, body = message
        index = body["index"]
        feed = self.feeds.get(index)
        if feed is None:
            return
        with feed.lock:
            if feed.closed:
                return
            if body["seq"] == -1:
                self.workers[index] = body["worker"]
                self.branches.branches[index].record.worker = body["worker"]
                return
            if feed.attempt is None:
                feed.attempt = body["attempt"]
            elif feed.attempt != body["attempt"]:
                return  # Dask re-ran the branch elsewhere: the outcome will tell
            feed.waiting[body["seq"]] = body["event"]
            self._flush(feed)

    def _flush(self, feed: _Feed, live: bool = True) -> None:
        """Deliver the waiting events that come next (caller holds feed.lock); live ones
        also move the branch's provisional task records, so the live view and the
        run's record show remote tasks running while they run."""
        bus = self.run.bus
        while feed.next in feed.waiting:
            blob = feed.waiting.pop(feed.next)
            feed.next += 1
            event = _event(blob) if bus.active else None
            if event is not None:
                if live:
                    self._mirror(feed, event)
                bus.deliver(event)

    def _mirror(self, feed: _Feed, event: Any) -> None:
        """A live task event as a provisional ``TaskRun``, replaced by the real record
        when the outcome comes back (``absorb``)."""
        if event.kind == EventKind.TASK_STARTED:
            key = (event.session_id, event.task_id, event.data.get("attempt"))
            session = self.run.sessions.get(event.session_id)
            if session is None:  # a session the branch forked on the worker: placed under it
                session = self.branches.branches[feed.index].record
            position = feed.positions.get(event.session_id, 0)
            if key[2] in (None, 1):
                feed.positions[event.session_id] = position + 1
            order_key = (*session.order_key, position if session.session_id == event.session_id else 10**6 + position)
            record = TaskRun(event.task_id, event.session_id, key[2] or 1, order_key, event.time, event.thread)
            feed.provisional[key] = record
            self.run.task_runs.append(record)
        elif event.kind in (EventKind.TASK_FINISHED, EventKind.TASK_FAILED):
            record = feed.provisional.get((event.session_id, event.task_id, event.data.get("attempt")))
            if record is not None:
                record.end = event.time
                record.status = "succeeded" if event.kind == EventKind.TASK_FINISHED else "failed"

    def _drop_provisional(self, feed: _Feed) -> None:
        with feed.lock:
            records, feed.provisional = list(feed.provisional.values()), {}
        for record in records:
            try:
                self.run.task_runs.remove(record)
            except ValueError:  # already gone
                continue

    def _close_feed(self, index: int) -> None:
        feed = self.feeds[index]
        with feed.lock:
            feed.closed = True

    def _close(self) -> None:
        for index in self.feeds:
            self._close_feed(index)
        try:
            self.client.unsubscribe_topic(self.topic)
        except Exception:  # the client closed meanwhile: nothing left to unsubscribe
            pass


def _event(blob: bytes) -> Any:
    """An event a worker sent, or None for one that can't be loaded here (its errors
    come as themselves or stand-ins, ``shipping.seal_error``; any other value of it that
    does not load drops the event, and the branch's record still says what happened)."""
    try:
        return loads(blob)
    except Exception:
        return None


def _cause(future: Any) -> BaseException | None:
    """What ended ``future`` without an outcome: its error, or for a cancelled future
    Dask's ``FutureCancelledError`` giving the reason (which ``exception()`` omits)."""
    if future.status == "finished":  # it ended well, but its outcome could not be fetched
        return None
    try:
        if future.cancelled():
            future.result()
        return future.exception()
    except BaseException as raised:
        return raised


class _Remote:
    """What a branch that ran on a worker leaves here to go on from a pause."""

    __slots__ = ("events_seen", "paused_state", "seen")

    def __init__(self, paused_state: bytes | None, seen: tuple[int, int, int, int], events_seen: int):
        self.paused_state = paused_state
        self.seen = seen
        self.events_seen = events_seen


def _events_seen(branch: Any) -> int:
    remote = branch.remote
    return 0 if remote is None else remote.events_seen
