"""``to_pipeline(wf)``: a workflow's graph written back out as a pipeline document.

Chains and parallel groups become the pipeline format (a branch that is a chain
becomes ``{"pipeline": [...]}``); a graph with plain fan-out or fan-in edges becomes
the edge format, its groups flattened into the edges they stand for (allowed only for
groups with default settings, which loading re-creates exactly).

A step compiled from a file is written as it was.  A Python ``@task`` becomes a
``python`` step when it can be called from a file: a module-level function in an
importable module, no injected context or LLM client; each parameter named after a
task becomes ``${task}``, any other required parameter ``${workflow.<name>}``, and
values bound with ``t(task_id=..., x=1)`` are written as literals.  Anything else
raises ``NotExpressibleError`` saying which node and why.  The document is validated
before it is returned, so whatever is written loads again.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import GraphCompilationError, PicklableError
from ..core.model.graph import require_single_start
from ..core.model.task import ParallelGroup, TaskWrapper
from .errors import NotExpressibleError, PipelineValidationError
from .steps.python import ImportPathError, import_callable

_AUTO_GROUP = re.compile(r"ParallelGroup_\d+")


class _Branching(PicklableError, Exception):
    """The graph has plain fan-out or fan-in: not a chain of steps and blocks."""


def _on_error(group: ParallelGroup) -> str | None:
    """The block's ``on_error`` (None: not set, the run's default applies)."""
    policy = group.policy
    if policy in (None, "fail_fast", "strict"):
        # fail_fast is a block's default; a file can't say "every branch runs, then
        # fail" (strict), so a strict group is written as the nearest block, fail_fast.
        return None
    if isinstance(policy, str) and policy in ("fail_fast", "continue", "ignore", "rollback"):
        return policy
    raise NotExpressibleError(
        f"group {group.task_id!r} uses policy {policy!r}; a pipeline file can say on_error "
        f"fail_fast (strict), continue / ignore or rollback only"
    )


def _concurrency(group: ParallelGroup) -> int | None:
    return getattr(group, "max_concurrency", None) or group.backend_config.get("thread_count")


def _check_group_settings(group: ParallelGroup) -> None:
    if group.backend != "threading":
        raise NotExpressibleError(
            f"group {group.task_id!r} uses backend {group.backend!r}; files run groups on threads"
        )
    if group.merge is not None:
        raise NotExpressibleError(
            f"group {group.task_id!r} sets merge={group.merge!r}, which pipeline files cannot say"
        )


class _Exporter:
    def __init__(self, wf: Any):
        self.wf = wf
        self.graph = wf.graph

    # -- pipeline format ---------------------------------------------------------------
    def chain(self, node_id: str) -> list[dict[str, Any]]:
        graph = self.graph
        items: list[dict[str, Any]] = []
        current = node_id
        while True:
            items.append(self.item(current))
            successors = graph.successors(current)
            if not successors:
                return items
            if len(successors) > 1 or len(graph.predecessors(successors[0])) > 1:
                raise _Branching(current)
            current = successors[0]

    def item(self, node_id: str) -> dict[str, Any]:
        node = self.graph.nodes[node_id]
        if isinstance(node, ParallelGroup) and not node.is_map:  # a map is a step (its map: says so)
            return self.block(node)
        return self.step(node)

    def block(self, group: ParallelGroup) -> dict[str, Any]:
        _check_group_settings(group)
        out: dict[str, Any] = {"parallel": [self.branch(m.task_id) for m in group.tasks]}
        block = getattr(group, "pipeline_block", None)
        named = block.id if block is not None else (None if _AUTO_GROUP.fullmatch(group.task_id) else group.task_id)
        if named:
            out["id"] = named
        on_error = _on_error(group)
        if on_error is not None:
            out["on_error"] = on_error
        if _concurrency(group):
            out["max_concurrency"] = _concurrency(group)
        if group.timeout is not None:
            out["timeout"] = group.timeout
        return out

    def branch(self, member_id: str) -> dict[str, Any]:
        items = self.chain(member_id)
        return items[0] if len(items) == 1 else {"pipeline": items}

    # -- steps -------------------------------------------------------------------------
    def step(self, task: Any) -> dict[str, Any]:
        spec = getattr(task, "pipeline_step", None)
        if spec is not None:
            return copy.deepcopy(spec.raw)
        if type(task) is not TaskWrapper:
            raise NotExpressibleError(f"node {task.task_id!r} is a {type(task).__name__}, not a function task")
        return _python_step(task, self.upstream(task.task_id))

    def upstream(self, task_id: str) -> set[str]:
        """Every task id in the graph except this one (the validator checks the order)."""
        return {n for n, node in self.graph.nodes.items() if n != task_id and (node.is_map or not node.is_group)}

    # -- edge format -------------------------------------------------------------------
    def edges_document(self) -> dict[str, Any]:
        graph = self.graph
        for group in graph.groups():
            _check_group_settings(group)
            plain = _on_error(group) in (None, "fail_fast") and not _concurrency(group) and group.timeout is None
            if not plain or not _AUTO_GROUP.fullmatch(group.task_id):
                raise NotExpressibleError(
                    f"the graph has plain fan-out/fan-in edges (edge format) and group {group.task_id!r} has its own "
                    f"name or settings, which the edge format cannot say; wire the fan-out as a group too"
                )
        order = sorted(graph.nodes, key=graph.topological_index().__getitem__)
        nodes = [self.step(graph.nodes[n]) for n in order if not isinstance(graph.nodes[n], ParallelGroup)]
        edges: list[dict[str, str]] = []
        for left, right in graph.edges:
            for a in self.flat_exits(left):
                for b in self.flat_entries(right):
                    if {"from": a, "to": b} not in edges:
                        edges.append({"from": a, "to": b})
        return {"nodes": nodes, "edges": edges}

    def flat_entries(self, node_id: str) -> list[str]:
        node = self.graph.nodes[node_id]
        if isinstance(node, ParallelGroup):
            return [e for m in node.tasks for e in self.flat_entries(m.task_id)]
        return [node_id]

    def flat_exits(self, node_id: str) -> list[str]:
        node = self.graph.nodes[node_id]
        if isinstance(node, ParallelGroup):
            return [x for m in node.tasks for end in self.chain_ends(m.task_id) for x in self.flat_exits(end)]
        return [node_id]

    def chain_ends(self, start: str) -> list[str]:
        ends: list[str] = []
        seen = {start}
        todo = [start]
        while todo:
            node = todo.pop(0)
            successors = self.graph.successors(node)
            if not successors and node not in ends:
                ends.append(node)
            for nxt in successors:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return ends

    # -- whole document ----------------------------------------------------------------
    def document(self) -> dict[str, Any]:
        try:
            start = require_single_start(self.graph)
        except GraphCompilationError as error:
            raise NotExpressibleError(f"workflow {self.wf.name!r}: {error}") from None
        doc: dict[str, Any] = {"name": self.wf.name}
        pipeline = getattr(self.wf, "pipeline", None)
        if pipeline is not None and pipeline.description:
            doc["description"] = pipeline.description
        if pipeline is not None and pipeline.declares_inputs:
            doc["inputs"] = copy.deepcopy(pipeline.document.get("inputs", {}))
        try:
            doc["pipeline"] = self.chain(start)
        except _Branching:
            doc.update(self.edges_document())
        return doc


def _python_step(task: TaskWrapper, task_ids: set[str]) -> dict[str, Any]:
    where = f"task {task.task_id!r}"
    if task.inject_context or task.inject_llm_client or task.inject_llm_agent:
        raise NotExpressibleError(f"{where} takes an injected context or LLM client, which a python step cannot pass")
    if task.compensation is not None:
        raise NotExpressibleError(f"{where} has a compensation written in Python; a file says it with compensate:")
    func = task.func
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        raise NotExpressibleError(
            f"{where}: {qualname or func!r} is not importable (defined in a notebook, a function or a lambda); "
            f"move it to a module at top level"
        )
    path = f"{module}:{qualname}"
    try:
        found = import_callable(path)
    except ImportPathError as error:
        raise NotExpressibleError(f"{where}: {error}") from None
    if found is not func:
        raise NotExpressibleError(f"{where}: {path} does not lead back to the task's function")
    step: dict[str, Any] = {"id": task.task_id, "type": "python", "function": path}
    params: dict[str, Any] = {}
    for name, parameter in inspect.signature(func).parameters.items():
        if parameter.kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            continue
        if name in task.bound_kwargs:
            value = task.bound_kwargs[name]
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                raise NotExpressibleError(f"{where}: bound value {name}={value!r} is not JSON data") from None
            params[name] = value
        elif name in task_ids:
            params[name] = "${" + name + "}"
        elif parameter.default is inspect.Parameter.empty:
            params[name] = "${workflow." + name + "}"
    if params:
        step["params"] = params
    if task.timeout is not None:
        step["timeout"] = task.timeout
    retries = task.max_retries or 0
    if retries:
        step["max_retries"] = retries
        policy = task.retry_policy
        if policy is not None and policy.initial_interval:
            if policy.backoff_factor != 1 and retries > 1:
                raise NotExpressibleError(
                    f"{where}: retries back off by {policy.backoff_factor}x; a pipeline step has one fixed retry_delay"
                )
            step["retry_delay"] = policy.initial_interval
    return step


def to_pipeline(wf: Any, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``wf``'s graph as a pipeline document (a dict), also written to ``path`` when
    given (``.json``, or ``.yaml`` / ``.yml``).  Raises NotExpressibleError otherwise."""
    from .validate import check_document

    doc = _Exporter(wf).document()
    try:
        check_document(copy.deepcopy(doc), f"to_pipeline({wf.name})", wf.name)
    except PipelineValidationError as error:
        raise NotExpressibleError(f"the graph of {wf.name!r} does not make a valid pipeline file:\n{error}") from None
    if path is not None:
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix == ".json":
            target.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        elif suffix in (".yaml", ".yml"):
            target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        else:
            raise ValueError(f"cannot tell the format of {target.name!r}: use a .json, .yaml or .yml file name")
    return doc
