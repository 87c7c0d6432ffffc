"""Checking a pipeline document completely before anything runs.

Two passes, both always run so that every problem is reported at once:

1. shape: the shipped JSON Schema (``schema.py``), plus each step type's params schema;
2. meaning: unique ids, known step types, importable functions, template references
   that name a step which has certainly finished (not a later step, not a sibling in
   the same parallel block, not a step that is merely elsewhere in a DAG), ``compensate``
   only on a step that is a whole branch of an ``on_error: rollback`` block (the engine
   undoes succeeded branches), acyclic edges.

The second pass walks whatever the first found usable, so a missing ``type`` in one
step does not hide a bad reference in another.  The result is a ``model.Pipeline``.
"""

from __future__ import annotations

import copy
import difflib
import math
from typing import Any

from ..core.checks import MAX_GROUP_DEPTH
from . import dag
from .depth import depth_message, too_deep_in_object
from .errors import Issue, PipelineValidationError, json_path
from .model import Batch, Input, MapSpec, Parallel, Pipeline, Region, Sequence, Step, steps_of
from .schema import pipeline_schema, schema_problems
from .steps import get_step_type, known_step_types
from .templates import Ref, TemplateSyntaxError, parse, references

RESERVED = "workflow"


class _Scope:
    """What a step may reference: steps certainly finished before it, and why others are not."""

    def __init__(
        self, done: frozenset[str], siblings: dict[str, str] | None = None, edges_format: bool = False,
        depth: int = 0,
    ):
        self.done = done
        self.siblings = siblings or {}  # id -> JSON path of the parallel block it shares with us
        self.edges_format = edges_format
        self.depth = depth  # parallel blocks around this point

    def enter_branch(self, done: frozenset[str], siblings: dict[str, str]) -> _Scope:
        return _Scope(done, {**self.siblings, **siblings}, self.edges_format, self.depth + 1)


class Checker:
    def __init__(self, document: Any, origin: str, name: str | None = None):
        self.doc = document
        self.origin = origin
        self.name = name
        self.issues: list[Issue] = []
        self._order: list[tuple] = []
        self._seen: set[tuple[str, str]] = set()
        self.step_ids: dict[str, tuple] = {}
        self.block_ids: dict[str, tuple] = {}
        self.block_members: dict[str, list[str]] = {}
        self.inputs: dict[str, Input] = {}
        self.declares_inputs = False

    # -- reporting ---------------------------------------------------------------------
    def add(self, parts: tuple, message: str) -> None:
        path = json_path(parts)
        if (path, message) not in self._seen:
            self._seen.add((path, message))
            self.issues.append(Issue(self.origin, path, message))
            self._order.append(tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in parts))

    def fail(self) -> PipelineValidationError:
        """Every issue, in document order (top to bottom), as one error."""
        ranked = sorted(range(len(self.issues)), key=lambda i: self._order[i])
        return PipelineValidationError([self.issues[i] for i in ranked])

    # -- entry -------------------------------------------------------------------------
    def check(self) -> Pipeline:
        doc = self.doc
        if not isinstance(doc, dict):
            self.add((), f"expected a mapping with 'pipeline', or 'nodes' and 'edges', got {type(doc).__name__}")
            raise self.fail()
        for parts, message in schema_problems(doc, pipeline_schema()):
            self.add(parts, message)
        fmt = self._format()
        self._inputs()
        self._collect_ids(fmt)
        root: Sequence | None = None
        if fmt == "pipeline" and isinstance(doc.get("pipeline"), list):
            root = self._sequence(doc["pipeline"], ("pipeline",), _Scope(frozenset()))[0]
        elif fmt == "edges" and isinstance(doc.get("nodes"), list):
            root = self._edges()
        if self.issues or root is None:
            raise self.fail()
        steps = {s.id: s for s in steps_of(root)}
        return Pipeline(
            name=doc.get("name") or self.name or "pipeline",
            origin=self.origin,
            format=fmt,
            root=root,
            steps=steps,
            inputs=self.inputs,
            declares_inputs=self.declares_inputs,
            description=doc.get("description", ""),
            document=doc,
        )

    def _format(self) -> str | None:
        doc = self.doc
        has_pipeline = "pipeline" in doc
        has_graph = "nodes" in doc or "edges" in doc
        if has_pipeline and has_graph:
            self.add((), "use either 'pipeline' (steps in order) or 'nodes' with 'edges', not both")
            return None
        if has_pipeline:
            return "pipeline"
        if "edges" in doc and "nodes" not in doc:
            self.add((), "'edges' needs 'nodes': list every step under 'nodes'")
            return None
        if has_graph:
            return "edges"
        self.add((), "nothing to run: give 'pipeline': [steps...] or 'nodes': [...] with 'edges': [{from, to}]")
        return None

    def _inputs(self) -> None:
        declared = self.doc.get("inputs")
        if not isinstance(declared, dict):
            return
        self.declares_inputs = True
        for name, spec in declared.items():
            spec = spec if isinstance(spec, dict) else {}
            self.inputs[name] = Input(
                name, spec.get("default"), "default" not in spec, str(spec.get("description", ""))
            )

    # -- ids ---------------------------------------------------------------------------
    def _collect_ids(self, fmt: str | None) -> None:
        if fmt == "pipeline" and isinstance(self.doc.get("pipeline"), list):
            self._collect_sequence(self.doc["pipeline"], ("pipeline",))
        elif fmt == "edges" and isinstance(self.doc.get("nodes"), list):
            for index, node in enumerate(self.doc["nodes"]):
                self._claim(node, ("nodes", index), self.step_ids)

    def _collect_sequence(self, items: list[Any], parts: tuple) -> list[str]:
        found: list[str] = []
        for index, item in enumerate(items):
            found += self._collect_item(item, (*parts, index))
        return found

    def _collect_item(self, item: Any, parts: tuple) -> list[str]:
        if not isinstance(item, dict):
            return []
        if "parallel" in item:
            inner: list[str] = []
            if isinstance(item["parallel"], list):
                inner = self._collect_sequence(item["parallel"], (*parts, "parallel"))
            block_id = self._claim(item, parts, self.block_ids)
            if block_id:
                self.block_members[block_id] = inner
            return inner
        if "pipeline" in item:
            return (
                self._collect_sequence(item["pipeline"], (*parts, "pipeline"))
                if isinstance(item["pipeline"], list)
                else []
            )
        step_id = self._claim(item, parts, self.step_ids)
        return [step_id] if step_id else []

    def _claim(self, item: Any, parts: tuple, table: dict[str, tuple]) -> str | None:
        step_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(step_id, str):
            return None
        if step_id == RESERVED:
            self.add((*parts, "id"), f"'{RESERVED}' is reserved for ${{workflow.<input>}}: choose another id")
            return None
        first = self.step_ids.get(step_id) or self.block_ids.get(step_id)
        if first is not None:
            self.add(
                (*parts, "id"),
                f"duplicate id {step_id!r} (first used at {json_path(first)}): ids must be unique in a file",
            )
            return None
        table[step_id] = parts
        return step_id

    # -- pipeline format ---------------------------------------------------------------
    def _sequence(self, items: list[Any], parts: tuple, scope: _Scope) -> tuple[Sequence, set[str]]:
        done = set(scope.done)
        nodes: list[Any] = []
        for index, item in enumerate(items):
            inner = _Scope(frozenset(done), scope.siblings, scope.edges_format, scope.depth)
            node, ids = self._item(item, (*parts, index), inner, rollback_branch=False)
            if node is not None:
                nodes.append(node)
            done |= ids
        return Sequence(nodes, json_path(parts)), done - scope.done

    def _item(self, item: Any, parts: tuple, scope: _Scope, rollback_branch: bool) -> tuple[Any, set[str]]:
        """``rollback_branch``: the item is a whole branch of an ``on_error: rollback`` block."""
        if not isinstance(item, dict):
            return None, set()
        if "parallel" in item:
            return self._parallel(item, parts, scope)
        if "pipeline" in item:
            if not isinstance(item["pipeline"], list) or not item["pipeline"]:
                return None, set()
            return self._sequence(item["pipeline"], (*parts, "pipeline"), scope)
        step = self._step(item, parts, scope, rollback_branch)
        step_id = item.get("id")
        # A step with problems of its own still counts as run, so later references to it
        # are not reported as unknown on top of its own problems.
        return step, ({step_id} if isinstance(step_id, str) else set())

    def _parallel(self, item: dict[str, Any], parts: tuple, scope: _Scope) -> tuple[Any, set[str]]:
        branches = item.get("parallel")
        if not isinstance(branches, list) or not branches:
            return None, set()
        if scope.depth >= MAX_GROUP_DEPTH:
            self.add(
                parts,
                f"parallel blocks nest {scope.depth + 1} deep here; at most {MAX_GROUP_DEPTH} levels "
                f"are allowed: flatten the inner blocks or run them one after another",
            )
            return None, set(self._collect_item_quiet(item))
        on_error = item.get("on_error")
        rollback = on_error == "rollback"
        block_path = json_path(parts)
        branch_ids = [set(self._collect_item_quiet(b)) for b in branches]
        nodes: list[Any] = []
        done: set[str] = set()
        for index, branch in enumerate(branches):
            others = {sid: block_path for j, ids in enumerate(branch_ids) if j != index for sid in ids}
            node, ids = self._item(
                branch, (*parts, "parallel", index), scope.enter_branch(scope.done, others), rollback
            )
            if node is not None:
                nodes.append(node)
            done |= ids
        self._finite(item, parts, ("timeout",))
        timeout = item.get("timeout")
        block = Parallel(
            nodes,
            block_path,
            id=item.get("id") if isinstance(item.get("id"), str) else None,
            on_error=on_error if isinstance(on_error, str) else None,
            max_concurrency=_whole(item.get("max_concurrency")),
            timeout=timeout if _is_number(timeout) else None,
        )
        return (block if len(nodes) == len(branches) else None), done

    def _collect_item_quiet(self, item: Any) -> list[str]:
        """Step ids under ``item`` without claiming them again."""
        if not isinstance(item, dict):
            return []
        if "parallel" in item and isinstance(item["parallel"], list):
            return [i for b in item["parallel"] for i in self._collect_item_quiet(b)]
        if "pipeline" in item and isinstance(item["pipeline"], list):
            return [i for b in item["pipeline"] for i in self._collect_item_quiet(b)]
        step_id = item.get("id")
        return [step_id] if isinstance(step_id, str) else []

    # -- one step ----------------------------------------------------------------------
    def _step(self, item: dict[str, Any], parts: tuple, scope: _Scope, rollback: bool) -> Step | None:
        step_id = item.get("id")
        type_name = item.get("type")
        ok = isinstance(step_id, str) and isinstance(type_name, str)
        batch = self._batch(item, parts, scope, step_id)
        mapped = self._map(item, parts, scope, step_id)
        if not isinstance(type_name, str):
            return None
        stype = self._type(type_name, (*parts, "type"))
        if stype is not None:
            ok &= self._type_checks(item, parts, stype)
        visible = set(scope.done) | ({batch.name} if batch is not None else set()) | ({mapped.name} if mapped else set())
        ok &= self._refs(item.get("params"), (*parts, "params"), scope, visible, step_id, batch)
        ok &= self._finite(item, parts, ("timeout", "retry_delay"))
        if "retry_delay" in item and not item.get("max_retries"):
            self.add((*parts, "retry_delay"), "retry_delay needs max_retries (extra attempts) > 0 to mean anything")
        compensate = self._compensate(item, parts, scope, rollback, step_id)
        if not ok or not isinstance(item.get("params", {}), dict):
            return None
        return Step(
            id=step_id,
            type=type_name,
            path=json_path(parts),
            raw=item,
            params=item.get("params", {}),
            function=item.get("function"),
            max_retries=_whole(item.get("max_retries", 0)) or 0,
            retry_delay=float(item["retry_delay"]) if _is_number(item.get("retry_delay")) else 0.0,
            timeout=item.get("timeout"),
            batch=batch,
            map=mapped,
            compensate=compensate,
        )

    def _finite(self, item: dict[str, Any], parts: tuple, keys: tuple[str, ...]) -> bool:
        """NaN and infinity pass the schema's lower bounds (every comparison with NaN
        is false), so they are refused here, before a timeout that never fires is set."""
        ok = True
        for key in keys:
            value = item.get(key)
            if isinstance(value, float) and (math.isnan(value) or value == math.inf):
                self.add((*parts, key), f"{key} must be a finite number of seconds, got {value!r}")
                ok = False
        return ok

    def _type(self, name: str, parts: tuple) -> Any:
        found = get_step_type(name)
        if found is None:
            known = known_step_types()
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            self.add(
                parts,
                f"unknown step type {name!r}: {hint}known types are {', '.join(known)} "
                f"(register more with @step_type or the 'graflow_nb.step_types' entry point)",
            )
        return found

    def _type_checks(self, item: dict[str, Any], parts: tuple, stype: Any) -> bool:
        before = len(self.issues)
        params = item.get("params", {})
        if stype.params_schema is not None and isinstance(params, dict):
            for where, message in schema_problems(params, stype.params_schema, (*parts, "params")):
                self.add(where, message)
        if stype.check is not None:
            for where, message in stype.check(item):
                self.add((*parts, *where), message)
        if "function" in item and stype.name != "python":
            self.add(
                (*parts, "function"),
                f"'function' is for python steps; a {stype.name} step takes its settings in params",
            )
        return len(self.issues) == before

    def _items(self, spec: Any, where: tuple, scope: _Scope, step_id: Any) -> str | None:
        """The item name of a ``batch:`` or ``map:`` spec (``where`` ends with which),
        after checking its ``as`` name and its ``items``; None if there is none."""
        if not isinstance(spec, dict) or "items" not in spec:
            return None
        kind = where[-1]
        name = spec.get("as", "item")
        if not isinstance(name, str):
            return None
        if name == RESERVED or name in self.step_ids or name in self.block_ids:
            self.add(
                (*where, "as"), f"{kind} item name {name!r} is also a step id or reserved: choose another 'as' name"
            )
        items = spec["items"]
        if isinstance(items, str):
            try:
                pieces: list[Any] | None = parse(items)
            except TemplateSyntaxError:
                pieces = None  # reported by _refs below
            if pieces is not None and (len(pieces) != 1 or not isinstance(pieces[0], Ref)):
                self.add(
                    (*where, "items"),
                    f"{kind} items must be a list or one template giving a list, like '${{fetch.files}}'; got {items!r}",
                )
        self._refs(items, (*where, "items"), scope, set(scope.done), step_id, None)
        return name

    def _map(self, item: dict[str, Any], parts: tuple, scope: _Scope, step_id: Any) -> MapSpec | None:
        spec = item.get("map")
        name = self._items(spec, (*parts, "map"), scope, step_id)
        if name is None:
            return None
        if "batch" in item:
            self.add(
                (*parts, "map"),
                "a step has batch: (all items in one task) or map: (one branch session per item), not both",
            )
        on_error = spec.get("on_error", "fail_fast")
        return MapSpec(
            items=spec["items"],
            name=name,
            max_concurrency=_whole(spec.get("max_concurrency")),
            on_error=on_error if isinstance(on_error, str) else "fail_fast",
        )

    def _batch(self, item: dict[str, Any], parts: tuple, scope: _Scope, step_id: Any) -> Batch | None:
        spec = item.get("batch")
        where = (*parts, "batch")
        name = self._items(spec, where, scope, step_id)
        if name is None:
            return None
        items = spec["items"]
        if spec.get("max_concurrency") is not None and not spec.get("parallel", False):
            self.add(
                (*where, "max_concurrency"), "max_concurrency limits a parallel batch: add parallel: true, or remove it"
            )
        on_error = spec.get("on_error", "fail_fast")
        return Batch(
            items=items,
            name=name,
            parallel=bool(spec.get("parallel", False)),
            max_concurrency=_whole(spec.get("max_concurrency")),
            on_error=on_error if isinstance(on_error, str) else "fail_fast",
        )

    def _compensate(
        self, item: dict[str, Any], parts: tuple, scope: _Scope, rollback: bool, step_id: Any
    ) -> Step | None:
        spec = item.get("compensate")
        if not isinstance(spec, dict):
            return None
        where = (*parts, "compensate")
        if not rollback:
            self.add(
                where,
                "compensate runs only for a step that is a whole branch of a parallel block with on_error: "
                "rollback (the block undoes its succeeded branches); this step is not one",
            )
        type_name = spec.get("type")
        if not isinstance(type_name, str):
            return None
        stype = self._type(type_name, (*where, "type"))
        ok = stype is not None and self._type_checks(spec, where, stype)
        visible = set(scope.done) | ({step_id} if isinstance(step_id, str) else set())
        ok &= self._refs(spec.get("params"), (*where, "params"), scope, visible, None, None)
        if not ok or not isinstance(step_id, str):
            return None
        return Step(
            id=f"{step_id}.compensate",
            type=type_name,
            path=json_path(where),
            raw=spec,
            params=spec.get("params", {}),
            function=spec.get("function"),
        )

    # -- template references -----------------------------------------------------------
    def _refs(
        self, value: Any, parts: tuple, scope: _Scope, visible: set[str], step_id: Any, batch: Batch | None
    ) -> bool:
        ok = True
        for where, found in references(value):
            if isinstance(found, TemplateSyntaxError):
                self.add((*parts, *where), str(found))
                ok = False
                continue
            problem = self._ref_problem(found, scope, visible, step_id, batch)
            if problem:
                self.add((*parts, *where), problem)
                ok = False
        return ok

    def _ref_problem(self, ref: Ref, scope: _Scope, visible: set[str], step_id: Any, batch: Batch | None) -> str | None:
        root = ref.root
        if root == RESERVED:
            if not ref.path:
                return "${workflow} needs an input name: write ${workflow.<input>}"
            if self.declares_inputs and ref.path[0] not in self.inputs:
                declared = ", ".join(self.inputs) or "none"
                return f"unknown workflow input in {ref}: declare {ref.path[0]!r} under 'inputs' (declared: {declared})"
            return None
        if root in visible:
            return None
        if root == step_id:
            return f"step {root!r} cannot read its own output in {ref} (only its compensate can)"
        if root in self.block_ids:
            members = ", ".join(self.block_members.get(root, [])) or "its steps"
            return f"{ref}: parallel block {root!r} has no output of its own; reference one of its steps ({members})"
        if root in scope.siblings:
            return (
                f"{ref} reads parallel sibling {root!r}: both run at the same time in the block at "
                f"{scope.siblings[root]}, so its output does not exist yet; move {root!r} before the block"
            )
        if root in self.step_ids:
            if scope.edges_format:
                return f"{ref}: step {root!r} is not upstream of this step; add an edge path from {root!r} to it"
            return f"{ref}: step {root!r} runs after this one; move it earlier, or this step later"
        known = [*sorted(visible), "workflow.<input>"]
        close = difflib.get_close_matches(root, sorted(self.step_ids), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (available here: {', '.join(known)})"
        return f"unknown template reference {ref}: no step {root!r} runs before this one{hint}"

    # -- edge format -------------------------------------------------------------------
    def _edges(self) -> Sequence | None:
        raw_nodes = self.doc["nodes"]
        ids = [n["id"] for n in raw_nodes if isinstance(n, dict) and isinstance(n.get("id"), str)]
        known = set(ids)
        edges: list[tuple[str, str]] = []
        edge_parts: dict[tuple[str, str], tuple] = {}
        raw_edges = self.doc.get("edges", [])
        raw_edges = raw_edges if isinstance(raw_edges, list) else []
        for index, edge in enumerate(raw_edges):
            if not isinstance(edge, dict):
                continue
            ends = (edge.get("from"), edge.get("to"))
            good = True
            for key, end in zip(("from", "to"), ends, strict=True):
                if isinstance(end, str) and end not in known:
                    close = difflib.get_close_matches(end, ids, n=1)
                    hint = f"did you mean {close[0]!r}?" if close else f"nodes are {', '.join(ids)}"
                    self.add(("edges", index, key), f"edge names unknown node {end!r}: {hint}")
                    good = False
                elif not isinstance(end, str):
                    good = False
            if good and ends not in edge_parts:
                edges.append(ends)
                edge_parts[ends] = ("edges", index)
        cycles = dag.find_cycles(ids, edges)
        for cycle in cycles:
            closing = edge_parts[(cycle[-2], cycle[-1])]
            self.add(closing, f"cycle {' -> '.join(cycle)}: a pipeline must not loop back; remove one of these edges")
        if cycles:
            return None
        upstream = dag.ancestors(ids, edges)
        steps: dict[str, Step] = {}
        for index, node in enumerate(raw_nodes):
            if not isinstance(node, dict) or not isinstance(node.get("id"), str) or node["id"] not in upstream:
                continue
            scope = _Scope(frozenset(upstream[node["id"]]), edges_format=True)
            step = self._step(node, ("nodes", index), scope, rollback=False)
            if step is not None:
                steps[step.id] = step
        succ = dag.reduce(ids, edges)
        try:
            expr = dag.decompose(ids, succ, limit=MAX_GROUP_DEPTH)
        except dag.TooDeep as deep:
            self.add(
                ("edges",),
                f"fan-outs nest {deep.depth} deep or more (each becomes a parallel group inside the one "
                f"before); at most {MAX_GROUP_DEPTH} levels are allowed: join some branches before "
                f"fanning out again",
            )
            return None
        if dag.entries(expr, succ) > 1:
            starts = dag.region_sources(ids, succ)
            self.add(
                ("edges",),
                f"several start nodes ({', '.join(starts)}) lead into a part of the graph that is not nested "
                f"fan-out/fan-in, so they cannot start together as a parallel block; add one first step with an "
                f"edge to each of them",
            )
        if len(steps) != len(ids) or self.issues:
            return None
        root = _to_model(expr, steps, succ)
        return root if isinstance(root, Sequence) else Sequence([root], "$.nodes")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: Any) -> int | None:
    """An integer setting as an int: JSON Schema's "integer" also admits ``2.0``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _to_model(expr: Any, steps: dict[str, Step], succ: dict[str, list[str]]) -> Any:
    if isinstance(expr, str):
        return steps[expr]
    kind, parts = expr
    if kind == "seq":
        return Sequence([_to_model(p, steps, succ) for p in parts], "$.nodes")
    if kind == "par":
        return Parallel([_to_model(p, steps, succ) for p in parts], "$.edges")
    inside = set(parts)
    edges = [(a, b) for a in parts for b in succ[a] if b in inside]
    return Region([steps[i] for i in parts], edges)


def check_document(document: Any, origin: str, name: str | None = None) -> Pipeline:
    """The checked pipeline, or PipelineValidationError listing every problem.

    The document is copied first, so changing the caller's dict later changes nothing;
    one nested past ``MAX_DOCUMENT_DEPTH`` is refused before (copying recurses)."""
    deep = too_deep_in_object(document)
    if deep is not None:
        parts, depth = deep
        raise PipelineValidationError([Issue(origin, json_path(parts), depth_message(depth))])
    return Checker(copy.deepcopy(document), origin, name).check()
