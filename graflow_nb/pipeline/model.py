"""The checked form of a pipeline file: what the compiler and ``to_pipeline`` work from.

Both file formats end up as one tree: a ``Sequence`` of items, where an item is a
``Step``, a ``Parallel`` block (whose branches are items or sequences), or a ``Region``
(part of an edge-format graph that is not nested fan-out/fan-in, kept as plain edges).
The tree mirrors the Python operators one to one: ``Sequence`` is ``>>``, ``Parallel``
is a ``ParallelGroup``, a ``Region`` is the edges ``a >> b`` it lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ON_ERROR = ("fail_fast", "continue", "ignore", "rollback")
BATCH_ON_ERROR = ("fail_fast", "continue", "ignore")


@dataclass
class Batch:
    items: Any  # a list, or a string that is one ${...} template giving a list
    name: str = "item"  # the `as` name templates use for the current item
    parallel: bool = False
    max_concurrency: int | None = None
    on_error: str = "fail_fast"


@dataclass
class MapSpec:
    """``map:``: one branch session per item (a map node), not one task over all items."""

    items: Any  # a list, or a string that is one ${...} template giving a list
    name: str = "item"  # the `as` name templates use for the item
    max_concurrency: int | None = None
    on_error: str = "fail_fast"


@dataclass
class Compensation:
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    function: str | None = None


@dataclass
class Step:
    id: str
    type: str
    path: str  # JSON path in the source, for runtime messages
    raw: dict[str, Any]  # the step as written, for to_pipeline
    params: dict[str, Any] = field(default_factory=dict)
    function: str | None = None
    max_retries: int = 0
    retry_delay: float = 0.0
    timeout: float | None = None
    batch: Batch | None = None
    map: MapSpec | None = None
    compensate: Compensation | None = None


@dataclass
class Parallel:
    branches: list[Any]  # Step | Parallel | Sequence | Region
    path: str
    id: str | None = None
    on_error: str | None = None  # None: the run's default policy, as for a Python group
    max_concurrency: int | None = None
    timeout: float | None = None

    def steps(self) -> list[Step]:
        return [s for b in self.branches for s in steps_of(b)]


@dataclass
class Sequence:
    items: list[Any]
    path: str


@dataclass
class Region:
    """Edge-format nodes whose wiring is not nested fan-out/fan-in: plain edges, one session."""

    steps: list[Step]
    edges: list[tuple[str, str]]

    @property
    def sources(self) -> list[str]:
        targets = {b for _, b in self.edges}
        return [s.id for s in self.steps if s.id not in targets]

    @property
    def sinks(self) -> list[str]:
        origins = {a for a, _ in self.edges}
        return [s.id for s in self.steps if s.id not in origins]


@dataclass
class Input:
    name: str
    default: Any = None
    required: bool = True
    description: str = ""


@dataclass
class Pipeline:
    name: str
    origin: str  # file name or label, for messages
    format: str  # "pipeline" | "edges"
    root: Sequence
    steps: dict[str, Step]
    inputs: dict[str, Input]
    declares_inputs: bool
    description: str = ""
    document: dict[str, Any] = field(default_factory=dict)


def steps_of(node: Any) -> list[Step]:
    """Every step under ``node``, in declaration order."""
    if isinstance(node, Step):
        return [node]
    if isinstance(node, Parallel):
        return node.steps()
    if isinstance(node, Sequence):
        return [s for item in node.items for s in steps_of(item)]
    if isinstance(node, Region):
        return list(node.steps)
    raise TypeError(f"not a pipeline node: {node!r}")
