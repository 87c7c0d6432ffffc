"""One run's use of a cache store: plan each task, keep what ran, answer ``why``.

The runtime calls three methods (``core.runtime.calls.cached``), per attempt:

- ``plan(channel, task, session_id, order_key, result_key)``: replay or call?  A hit
  needs an entry of this task whose code key equals today's and whose every read
  key holds, in ``channel`` now, a value with the token it had then;
- ``replayed(channel, plan)``: after a replay, the replayed values get the tokens
  they were recorded with (a descendant that read them still hits: no fingerprint of a
  100 MB frame that came from a cached upstream);
- ``keep(plan, result, reads, ops, controls, refusal)``: after a call, the entry.

Tokens.  A value a task of this run wrote (or replayed) carries the token it was
given then, remembered by ``(channel key, id(value))`` while the run holds it; any
other value read (``initial_channel``, a key no task wrote) is fingerprinted by
content, once per run.  A task that ran gives each value it wrote its content
fingerprint, so an upstream that re-runs and produces an equal value changes no
token (early cut-off); a value that can't be fingerprinted gets a token of its own,
so whatever read it runs again whenever its writer does.

Not cached, with the reason ``why`` gives: ``@task(cache=False)``; tasks marked
``side_effects=True`` (pipeline shell, HTTP and process steps are); tasks run by a
custom handler; tasks given an LLM client or agent; tasks that asked for human
input, asked for a checkpoint, listed every channel key or built tasks while they
ran; tasks whose code, inputs, result or writes can't be fingerprinted or pickled.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import NoneType
from typing import Any

from ..data.channel import MISSING
from ..model.task import Executable, TaskWrapper
from .fingerprint import ClassDigests, Unfingerprintable, fingerprint
from .keys import CodeKey, KeyMaker
from .payload import dump, load
from .store import Entry, MemoryStore, Read

_MISSING_TOKEN = b"missing"
_CONSTANT_TOKENS = {value: fingerprint(value) for value in (None, True, False)}
# Exact types whose values can't be changed in place (a subclass may add state that can).
_IMMUTABLE_ATOMS = frozenset({NoneType, bool, int, float, complex, str, bytes})
_IMMUTABLE_DEPTH = 4
SESSION_ID_INPUT = "@session_id"  # a task that read ctx.session_id (core.runtime.recording): an input too


@dataclass(slots=True)
class Decision:
    """What the cache decided for one execution of one task."""

    task_id: str
    session_id: str
    cached: bool
    reason: str
    from_run: str | None = None


class Plan:
    """``plan``'s answer: replay (``hit``: result, ops, controls) or call (and
    ``record``, to keep an entry afterwards)."""

    __slots__ = ("task_id", "session_id", "order_key", "result_key", "hit", "record", "code", "entry", "result",
                 "ops", "controls")

    def __init__(self, task_id: str, session_id: str, order_key: tuple[Any, ...], result_key: str) -> None:
        self.task_id, self.session_id, self.order_key, self.result_key = task_id, session_id, order_key, result_key
        self.hit = self.record = False
        self.code: CodeKey | None = None
        self.entry: Entry | None = None
        self.result: Any = None
        self.ops: Sequence[Any] = ()
        self.controls: Sequence[Any] = ()


class Decisions:
    """What a run's planner decided for each task execution, for ``why()``, renders and
    ``frames.tasks()``: a ``RunCache``'s, or a re-run's (``journal_replay``).  A
    subclass sets ``run_id`` and says how a group is never taken (``group_never``)."""

    run_id: str
    group_never = "never cached"

    def __init__(self) -> None:
        self.decisions: dict[tuple[Any, ...], Decision] = {}
        self.latest: dict[str, Decision] = {}

    def carry(self, decisions: dict[tuple[Any, ...], Decision]) -> None:
        """Take the decisions the run this one resumes made before its checkpoint."""
        for order_key, decision in decisions.items():
            self.decisions[order_key] = decision
            self.latest[decision.task_id] = decision

    def _decide(self, plan: Plan, cached: bool, reason: str, from_run: str | None = None) -> None:
        decision = Decision(plan.task_id, plan.session_id, cached, reason, from_run)
        self.decisions[plan.order_key] = decision
        self.latest[plan.task_id] = decision

    def decision(self, order_key: tuple[Any, ...]) -> Decision | None:
        """What was decided for the execution at ``order_key`` (None: not planned)."""
        return self.decisions.get(order_key)

    def why(self, task_id: str) -> str:
        decision = self.latest.get(task_id)
        if decision is None:
            return (f"{task_id}: nothing decided in run {self.run_id!r}: it did not run there, or it is a group, "
                    f"which is {self.group_never} (its members are)")
        return decision.reason


class RunCache(Decisions):
    """One run's cache (module docstring); ``force``: task ids that run whatever the
    store holds, because of ``wf.rerun(from_=rerun_from)``."""

    def __init__(
        self, store: MemoryStore, run_id: str, force: frozenset[str] = frozenset(), rerun_from: str | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.force = force
        self.rerun_from = rerun_from
        super().__init__()
        self.keys = KeyMaker()
        # (key, id(value)) -> (value, token, producer); a token of None: the value can't
        # change (``_immutable``), so its fingerprint is taken when something asks for it.
        self._tokens: dict[tuple[str, int], tuple[Any, bytes | None, str | None]] = {}
        # Guards keys (its memo and recursion guard) and _tokens' fingerprints: branches
        # plan at once.
        self._lock = threading.RLock()

    # -- deciding ---------------------------------------------------------------------
    def plan(self, channel: Any, task: Executable, session_id: str, order_key: tuple[Any, ...], result_key: str) -> Plan:
        plan = Plan(task.task_id, session_id, order_key, result_key)
        refusal = _opt_out(task)
        if refusal is not None:
            self._decide(plan, False, f"not cached: {refusal}")
            return plan
        with self._lock:
            try:
                plan.code = self.keys.task_key(task)
            except Unfingerprintable as error:
                self._decide(plan, False, f"not cached: {error}")
                return plan
            except RecursionError:
                self._decide(plan, False, "not cached: its code is nested too deeply to key")
                return plan
            plan.record = True
            if task.task_id in self.force:
                self._decide(plan, False, f"re-run asked for: wf.rerun(from_={self.rerun_from!r})")
                return plan
            entries = self.store.entries(task.task_id)
            if not entries:
                self._decide(plan, False, f"nothing cached for {task.task_id} yet")
                return plan
            digest = plan.code.digest
            reason = ""
            for entry in entries:
                if entry.code.digest != digest:
                    continue
                mismatch = self._mismatch(channel, entry, session_id) if entry.reads else None
                if mismatch is None:
                    try:
                        return self._hit(plan, entry, task)
                    except Exception as error:  # made in another process (a Dask worker's, the driver's)
                        mismatch = (f"what {task.task_id} did in run {entry.run_id} can't be loaded here "
                                    f"({type(error).__name__}: {error})")
                reason = reason or mismatch
            if not reason:
                reason = f"code of {task.task_id} changed: {plan.code.changed_part(entries[0].code)}"
            self._decide(plan, False, reason)
            return plan

    def _mismatch(self, channel: Any, entry: Entry, session_id: str) -> str | None:
        """Why ``entry``'s reads don't hold in ``channel`` now (None: they all do)."""
        for read in entry.reads:
            value = session_id if read.key == SESSION_ID_INPUT else channel.peek(read.key, MISSING)
            try:
                token, producer = self._token(read.key, value)
            except Unfingerprintable as error:
                return f"input `{read.key}` can't be fingerprinted: {error}"
            if token == read.token:
                continue
            writer = producer or read.producer
            if writer is not None:
                return f"upstream `{writer}` re-ran and its result differs"
            if read.key == SESSION_ID_INPUT:
                return "it reads ctx.session_id, and this run's differs"
            if value is MISSING:
                return f"input `{read.key}` is no longer in the channel"
            return f"input `{read.key}` changed"
        return None

    def _hit(self, plan: Plan, entry: Entry, task: Executable) -> Plan:
        payload = entry.payload
        unpacked: tuple[Any, ...] = (load(payload, entry.objects, _task_globals(task)) if isinstance(payload, bytes)
                                     else payload)
        result, ops, controls = unpacked
        if controls:
            plan.controls = [
                (name, (entry.objects[args[0][1]], *args[1:])) if name == "next_task" and _is_object_ref(args)
                else (name, args)
                for name, args in controls
            ]
        plan.hit, plan.entry, plan.result, plan.ops = True, entry, result, ops
        self._remember(plan.result_key, result, entry.result_token, entry.task_id)
        self._decide(plan, True, f"cached from run {entry.run_id}", entry.run_id)
        return plan

    def replayed(self, channel: Any, plan: Plan) -> None:
        """The values a replay wrote carry the tokens they were recorded with."""
        assert plan.entry is not None
        for key, token in plan.entry.write_tokens.items():
            value = channel.peek(key, MISSING)
            if value is not MISSING:
                self._remember(key, value, token, plan.task_id)

    # -- keeping ----------------------------------------------------------------------
    def keep(
        self, plan: Plan, result: Any, reads: dict[str, Any], ops: Sequence[Any], controls: Sequence[Any],
        refusal: str | None,
    ) -> None:
        """The task ran: keep what it did as an entry, unless ``refusal`` or something
        in it can't be keyed or pickled (the run's decision then says so)."""
        assert plan.code is not None
        run_id, task_id = self.run_id, plan.task_id
        # A result that can't change is fingerprinted only if something asks (a reader, the next run).
        fixed = _immutable(result)
        result_token = None if fixed else _content_token(result, plan, run_id, "result", self.class_digest)
        self._remember(plan.result_key, result, result_token, task_id)
        write_tokens: dict[str, bytes] = {}
        if ops:
            final = {key: args for op, key, args in ops if op == "set"}
            for key, args in final.items():
                write_tokens[key] = token = _content_token(args[0], plan, run_id, key, self.class_digest)
                self._remember(key, args[0], token, task_id)
        if refusal is not None:
            self._decide(plan, False, f"{self._ran(plan)}; not cached: {refusal}")
            return
        try:
            if reads:
                with self._lock:
                    kept_reads = tuple(Read(key, *self._token(key, value)) for key, value in reads.items())
            else:
                kept_reads = ()
        except Unfingerprintable as error:
            self._decide(plan, False, f"{self._ran(plan)}; not cached: an input can't be fingerprinted: {error}")
            return
        objects: list[Any] = []
        payload: bytes | tuple[Any, ...]
        if not controls and fixed and (not ops or all(_immutable(args) for _, _, args in ops)):
            payload = (result, tuple(ops), ())  # nothing in it can be changed in place: kept as it is
        else:
            encoded = [(name, _encode_control(name, args, objects)) for name, args in controls]
            try:
                payload = dump((result, ops, encoded), objects)
            except Exception as error:
                self._decide(plan, False, f"{self._ran(plan)}; not cached: what it returned or wrote can't be "
                                          f"pickled ({type(error).__name__}: {error})")
                return
        self.store.add(Entry(task_id, plan.code, kept_reads, payload, result_token, write_tokens, run_id,
                             tuple(objects) if objects else ()))

    def _ran(self, plan: Plan) -> str:
        """What was decided before the call, for a reason that says why it isn't kept."""
        decision = self.decisions.get(plan.order_key)
        return decision.reason if decision is not None else "ran"

    # -- tokens -----------------------------------------------------------------------
    def _token(self, key: str, value: Any) -> tuple[bytes, str | None]:
        """``(token, producer)`` of ``value`` stored under ``key`` (module docstring)."""
        if value is MISSING:
            return _MISSING_TOKEN, None
        with self._lock:
            known = self._tokens.get((key, id(value)))
            producer = None
            if known is not None and known[0] is value:
                if known[1] is not None:
                    return known[1], known[2]
                producer = known[2]  # a value that can't change, its fingerprint not taken yet
            try:
                token = fingerprint(value, self.class_digest)
            except RecursionError:
                raise Unfingerprintable(f"`{key}` is nested too deeply to read") from None
            self._tokens[(key, id(value))] = (value, token, producer)
            return token, producer

    def class_digest(self, cls: type) -> bytes:
        """A notebook class's definition digest, for the fingerprint of its instances
        (the run's ``KeyMaker`` keeps it for the run, as it does for a task's code)."""
        with self._lock:
            return self.keys.function_digest(cls)

    def _remember(self, key: str, value: Any, token: bytes | None, producer: str) -> None:
        self._tokens[(key, id(value))] = (value, token, producer)  # one store: atomic, no lock needed

    # -- another process's share (graflow_nb.distributed: a branch on a Dask worker) ---
    def known_tokens(self, values: dict[str, Any]) -> dict[str, tuple[bytes, str | None]]:
        """``{key: (token, producer)}`` for the ``values`` ({key: value}) this run gave a
        token (a task wrote or replayed it, or it was fingerprinted), without
        fingerprinting anything: what a copy of them in another process carries."""
        known: dict[str, tuple[bytes, str | None]] = {}
        with self._lock:
            for key, value in values.items():
                seen = self._tokens.get((key, id(value)))
                if seen is not None and seen[0] is value:
                    known[key] = (seen[1], seen[2]) if seen[1] is not None else self._token(key, value)
        return known

    def adopt_tokens(self, values: dict[str, Any], tokens: dict[str, tuple[bytes, str | None]]) -> None:
        """``values`` ({key: value}, copies made from another process's) carry the
        ``tokens`` that process's run gave them (``known_tokens``)."""
        with self._lock:
            for key, (token, producer) in tokens.items():
                if key in values:
                    value = values[key]
                    self._tokens[(key, id(value))] = (value, token, producer)

    def __repr__(self) -> str:
        hits = sum(1 for d in self.decisions.values() if d.cached)
        return f"<RunCache run={self.run_id!r} {hits} of {len(self.decisions)} cached, store={self.store!r}>"


def opted_out(task: Executable) -> str | None:
    """Why ``task`` is never replayed, by a cache or by a ``rerun`` (None: it may be)."""
    return _opt_out(task)


def _opt_out(task: Executable) -> str | None:
    """Why ``task`` is never cached (None: it may be)."""
    if type(task) is not TaskWrapper and not isinstance(task, TaskWrapper):  # an ABC's isinstance: slower
        return f"{type(task).__name__} is no function task"
    if task.cache is False:
        return "@task(cache=False)"
    if task.cache is None and task.side_effects:
        return "it has side effects (side_effects=True; cache=True caches it anyway)"
    if task.handler_type is not None:
        return f"it runs under the custom handler {task.handler_type!r}"
    if task.inject_llm_client or task.inject_llm_agent is not None:
        return "it is given an LLM client or agent"
    return None


def _content_token(value: Any, plan: Plan, run_id: str, what: str, classes: ClassDigests) -> bytes:
    """A written value's token: its fingerprint, or one unique to this write (run,
    session, execution, key) if it has none."""
    kind = type(value)
    if kind is NoneType or kind is bool:
        return _CONSTANT_TOKENS[value]
    try:
        return fingerprint(value, classes)
    except (Unfingerprintable, RecursionError):
        unique = repr((run_id, plan.session_id, plan.order_key)).encode() + what.encode()
        return hashlib.blake2b(b"unique" + unique, digest_size=32).digest()


def _immutable(value: Any, depth: int = 0) -> bool:
    """Whether nothing in ``value`` can be changed in place: an atom of an exact
    immutable type, or a tuple of such (tuples nested deeper than ``_IMMUTABLE_DEPTH``
    are pickled: the check stays short)."""
    kind = type(value)
    if kind in _IMMUTABLE_ATOMS:
        return True
    return kind is tuple and depth < _IMMUTABLE_DEPTH and all(_immutable(item, depth + 1) for item in value)


def _task_globals(task: Executable) -> dict[str, Any]:
    """The globals of ``task``'s function, where a replay in another process finds the
    notebook classes it uses (``payload.load``)."""
    func = getattr(task, "func", None)
    return getattr(func, "__globals__", None) or {}


def _encode_control(name: str, args: tuple[Any, ...], objects: list[Any]) -> tuple[Any, ...]:
    """``next_task``'s target by id when it is a task of the graph; a task made at run
    time is kept by reference (``Entry.objects``): such an entry stays in memory."""
    if name != "next_task" or not isinstance(args[0], Executable):
        return args
    objects.append(args[0])
    return (("object", len(objects) - 1), *args[1:])


def _is_object_ref(args: tuple[Any, ...]) -> bool:
    first = args[0] if args else None
    return type(first) is tuple and len(first) == 2 and first[0] == "object"
