"""From a checked pipeline to a ``WorkflowContext`` built with the real operators.

Each step is a ``TaskWrapper`` (with its retries, its timeout and, in a rollback
block, its compensation); a sequence is ``>>``; a parallel block is a
``ParallelGroup`` whose ``with_execution`` gets the block's ``on_error`` as the policy
(the engine's names: fail_fast, continue, ignore, rollback), ``max_concurrency`` and
``timeout``; an edge-format region is its edges, each ``a >> b``.  The workflow is
therefore exactly the one the Python API would build (same nodes, edges, groups and
group names), so renders, run records, metrics and the debugger need nothing
pipeline-specific.

Each task keeps its ``model.Step`` as ``pipeline_step`` and each group its block as
``pipeline_block``; ``to_pipeline`` uses them to write the file back out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.model.retry import RetryPolicy
from ..core.model.task import Executable, MapTask, ParallelGroup, TaskWrapper
from ..core.workflow import WorkflowContext, workflow
from .model import Parallel, Pipeline, Region, Sequence, Step
from .runtime import MapItemsReader, StepTask
from .steps import get_step_type


@dataclass
class _Fragment:
    """A compiled piece: the tasks it starts from and the tasks it ends with."""

    entries: list[Executable]
    exits: list[Executable]


class _Compiler:
    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline

    def node(self, node: Any) -> _Fragment:
        if isinstance(node, Step):
            task: Executable = self.task(node) if node.map is None else self.mapped(node)
            return _Fragment([task], [task])
        if isinstance(node, Sequence):
            return self.sequence(node.items)
        if isinstance(node, Parallel):
            return self.parallel(node)
        if isinstance(node, Region):
            return self.region(node)
        raise TypeError(f"cannot compile {node!r}")

    def task(self, step: Step) -> TaskWrapper:
        retries = step.max_retries if step.batch is None else 0  # a batch retries per item
        policy = RetryPolicy(retries, initial_interval=step.retry_delay, backoff_factor=1.0) if retries else None
        # A type that times itself (a subprocess, a socket) gets the timeout in its
        # StepContext; any other step is timed by the engine, which abandons the attempt.
        times_itself = get_step_type(step.type).supports_timeout
        func = StepTask(step, self.pipeline.inputs)
        task = TaskWrapper(
            step.id,
            func,
            inject_context=True,
            resolve_keyword_args=False,
            max_retries=retries,
            retry_policy=policy,
            timeout=None if times_itself else step.timeout,
            compensate=self.compensation(step.compensate) if step.compensate is not None else None,
            # Shell, HTTP and other steps act on the world, so a run with a cache calls them; a
            # python step is keyed by the function it names, once that is known.
            side_effects=step.type != "python" or "keyed_function" not in vars(func),
        )
        task.pipeline_step = step
        return task

    def mapped(self, step: Step) -> MapTask:
        """A ``map:`` step: its task mapped over its items, one branch session each,
        with the map's ``on_error`` as the policy (as a parallel block's)."""
        assert step.map is not None
        node = self.task(step).map(over=MapItemsReader(step, self.pipeline.inputs), param="item")
        node.with_execution(policy=step.map.on_error, max_concurrency=step.map.max_concurrency)
        node.pipeline_step = step
        return node

    def compensation(self, step: Step) -> TaskWrapper:
        """The task the engine runs, in the branch's session, when a rollback undoes it."""
        return TaskWrapper(
            step.id,
            StepTask(step, self.pipeline.inputs),
            inject_context=True,
            resolve_keyword_args=False,
            register_to_context=False,
        )

    def sequence(self, items: list[Any]) -> _Fragment:
        fragments = [self.node(item) for item in items]
        for before, after in zip(fragments, fragments[1:], strict=False):
            for left in before.exits:
                for right in after.entries:
                    left >> right
        return _Fragment(fragments[0].entries, fragments[-1].exits)

    def parallel(self, block: Parallel) -> _Fragment:
        members: list[Executable] = []
        for branch in block.branches:
            (entry,) = self.node(branch).entries  # the validator guarantees one entry per branch
            members.append(entry)
        group = ParallelGroup(members)
        if block.id:  # named the way Python code names a group, so numbering matches too
            group.set_group_name(block.id)
        # A block without on_error stops at its first failure, as the file format documents
        # (a Python group's default, strict, lets every member run).
        group.with_execution(policy=block.on_error or "fail_fast", max_concurrency=block.max_concurrency, timeout=block.timeout)
        group.pipeline_block = block
        return _Fragment([group], [group])

    def region(self, region: Region) -> _Fragment:
        tasks = {step.id: self.task(step) for step in region.steps}
        for left, right in region.edges:
            tasks[left] >> tasks[right]
        return _Fragment([tasks[i] for i in region.sources], [tasks[i] for i in region.sinks])


def build_workflow(pipeline: Pipeline) -> WorkflowContext:
    """A new workflow named after the pipeline, holding its graph."""
    with workflow(pipeline.name) as wf:
        _Compiler(pipeline).node(pipeline.root)
    wf.pipeline = pipeline
    return wf
