"""Pipeline files: workflows written as JSON or YAML instead of Python.

Two formats, one meaning.  The *pipeline* format lists steps in order, with
``{"parallel": [...]}`` blocks (nestable, with ``on_error`` and ``max_concurrency``);
the *edge* format lists ``nodes`` and ``edges`` and has its fan-out/fan-in found for
it.  Both compile to the graph the Python operators would build
(``fetch >> (a | b) >> store``), so the result renders, runs and debugs like any other
workflow::

    from graflow_nb.pipeline import load_pipeline
    wf = load_pipeline("etl.yaml")
    wf.execute(initial_channel={"region": "eu"})

A file is checked completely before anything runs; every problem is reported at once
in a ``PipelineValidationError`` naming the file and JSON path.  ``to_pipeline(wf)``
writes a Python-built workflow back out when the format can express it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.workflow import WorkflowContext
from .compile import build_workflow
from .errors import (
    BatchError,
    HttpStatusError,
    Issue,
    NotExpressibleError,
    PipelineError,
    PipelineValidationError,
    ShellCommandError,
    StepStoppedError,
    StepTimeoutError,
    TemplateError,
)
from .export import to_pipeline
from .model import Pipeline
from .schema import pipeline_schema
from .source import parse_text, read_file
from .steps import StepContext, StepType, register_step_type, step_type, unregister_step_type
from .summary import run_summary
from .validate import check_document


def validate_pipeline(source: str | os.PathLike[str] | dict[str, Any], *, name: str | None = None) -> Pipeline:
    """Check a pipeline file (path) or dict without building anything; returns the
    checked model or raises ``PipelineValidationError`` with every problem."""
    if isinstance(source, dict):
        return check_document(source, name or "<dict>", name)
    document, origin = read_file(source)
    return check_document(document, origin, name or Path(source).stem)


def load_pipeline(source: str | os.PathLike[str] | dict[str, Any], *, name: str | None = None) -> WorkflowContext:
    """A workflow from a pipeline file (``.json``, ``.yaml``/``.yml``) or a dict.

    The workflow is named after the file's ``name`` key, else ``name``, else the file
    name; its checked model is ``wf.pipeline``.
    """
    return build_workflow(validate_pipeline(source, name=name))


def pipeline_from_text(text: str, name: str | None = None) -> WorkflowContext:
    """A workflow from YAML or JSON text (what ``%%graflow --pipeline`` hands over);
    messages name it ``name`` (default ``<cell>``)."""
    origin = name or "<cell>"
    return build_workflow(check_document(parse_text(text, origin), origin, name))


__all__ = [
    "BatchError",
    "HttpStatusError",
    "Issue",
    "NotExpressibleError",
    "Pipeline",
    "PipelineError",
    "PipelineValidationError",
    "ShellCommandError",
    "StepContext",
    "StepStoppedError",
    "StepTimeoutError",
    "StepType",
    "TemplateError",
    "load_pipeline",
    "pipeline_from_text",
    "pipeline_schema",
    "register_step_type",
    "run_summary",
    "step_type",
    "to_pipeline",
    "unregister_step_type",
    "validate_pipeline",
]
