"""graflow_nb: graflow's authoring API on an engine that isolates parallel branches,
with renders, metrics and notebook tooling built on its event stream.

``from graflow_nb import task, workflow`` is all a notebook needs; code written for
``graflow`` runs after renaming the import.
"""

import sys
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .alias import alias_graflow
from .core import (
    ExecutionContext,
    MapTask,
    ParallelGroup,
    RetryPolicy,
    TaskExecutionContext,
    TaskGraph,
    TaskWrapper,
    WorkflowEngine,
    chain,
    hooks,
    parallel,
    task,
    workflow,
)
from .core.data.isolation import IsolationWarning
from .core.errors import (
    CycleLimitExceededError,
    DuplicateTaskError,
    GraflowError,
    GraflowRuntimeError,
    GraflowWorkflowCanceledError,
    GraphCompilationError,
    MergeConflictError,
    ParallelGroupError,
    RetryLimitExceededError,
)
from .core.model.task import DASK_EXTRA
from .core.runtime.executors.registry import register_executor
from .core.runtime.loop import BlockedLoopWarning
from .graflow_names import install_refusals
from .utils.browser_imports import loaded_by_a_cell
from .utils.programs import dot_runs_here

if TYPE_CHECKING:  # loaded on first use at run time (see __getattr__); typed for checkers
    from .notebook import BuilderWidget, DebuggerWidget, GraphView, HumanInputPanel, RunInputs, TaskInspector
    from .observe import draw_graph, draw_run, draw_sessions, draw_timeline, record
    from .pipeline import load_pipeline, to_pipeline


def _live_view(workflow: Any, options: Any) -> Any:
    """``execute(live=...)``: the live view and its graphviz/IPython load on first use;
    in a Jupyter kernel it is drawn by the GraphView widget (and anywidget loads then)."""
    from .observe.live import LiveView, widget_front_end

    if widget_front_end():
        from .notebook.graph_live import GraphLiveView

        return GraphLiveView(workflow, options)
    return LiveView(workflow, options)


def _show_graph_render(render: Any) -> None:
    """``draw_graph(...)`` shown in a Jupyter kernel: the notebook layer (and anywidget)
    load on first use."""
    from .notebook.graph_view import show_graph_render

    show_graph_render(render)


def _show_drawing(render: Any) -> None:
    """Any other render (``draw_sessions``) shown in a Jupyter kernel where ``dot`` can't
    run: laid out in the browser by the GraphView widget."""
    from .notebook.drawing_view import show_drawing

    show_drawing(render)


def _register_graph_view() -> None:
    """In a Jupyter kernel, tell IPython how to show ``draw_graph``'s renders, and where
    ``dot`` can't run (Pyodide, no Graphviz) every other render too (by type name:
    nothing is imported until one is shown)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    formatter = shell.display_formatter.ipython_display_formatter
    formatter.for_type_by_name("graflow_nb.observe.render", "GraphRender", _show_graph_render)
    if not dot_runs_here():
        formatter.for_type_by_name("graflow_nb.observe.render", "Render", _show_drawing)


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext graflow_nb``: the %%graflow / %graflow magics (see graflow_nb.notebook)."""
    from .notebook import load_ipython_extension as load

    load(ip)


def _ascii_drawing(graph: Any) -> str:
    """``str(graph)``: graflow's ASCII drawing, laid out by dot, loaded on first use."""
    from .utils.graph import draw_ascii

    return draw_ascii(graph)


def _run_frames(run: Any) -> Any:
    """``run.frames``: the pandas frames, with pandas loaded on first use."""
    with loaded_by_a_cell("run.frames"):
        from .observe.frames import RunFrames

    return RunFrames(run)


def _to_pipeline(workflow: Any, path: Any) -> Any:
    """``wf.to_pipeline()``: the pipeline format and its yaml load on first use."""
    with loaded_by_a_cell("wf.to_pipeline()"):
        from .pipeline import to_pipeline

    return to_pipeline(workflow, path)


def _debugger(workflow: Any, start_node: Any, **execute_options: Any) -> Any:
    """``wf.debug()``: the step debugger and its views load on first use."""
    from .debug import Debugger

    return Debugger(workflow, start_node, **execute_options)


def _paused_form(paused: Any) -> None:
    """A ``PausedRun`` ending a cell: its input form, with ipywidgets loaded on first use."""
    from .notebook.human_input import show_paused_form

    show_paused_form(paused)


def _started_run_panel(handle: Any, live_view: Any) -> None:
    """``wf.start`` in a notebook: the run's panel, with ipywidgets loaded on first use
    (never in a plain script: no IPython shell runs there)."""
    ipython = sys.modules.get("IPython")
    if ipython is None or ipython.get_ipython() is None:
        return
    from .notebook.background import show_started_run

    show_started_run(handle, live_view)


def _dask_executor(config: Any) -> Any:
    """``backend="dask"``: graflow_nb.distributed (and Dask) load on first use."""
    try:
        from .distributed import DaskExecutor
    except ModuleNotFoundError as missing:
        if missing.name not in ("distributed", "cloudpickle"):
            raise
        raise ImportError(DASK_EXTRA) from missing
    return DaskExecutor.from_config(config)


register_executor("dask", _dask_executor)  # core never loads graflow_nb.distributed itself
# Core reaches the layers above only through hooks, filled here: the front door's own
# (core.workflow: live view, pipeline export, debugger) and core.hooks' two.
vars(sys.modules[__name__ + ".core.workflow"])["LIVE_VIEW_FACTORY"] = _live_view
vars(sys.modules[__name__ + ".core.workflow"])["PIPELINE_EXPORT"] = _to_pipeline
vars(sys.modules[__name__ + ".core.workflow"])["DEBUGGER"] = _debugger
hooks.RUN_FRAMES = _run_frames
hooks.ASCII_DRAWING = _ascii_drawing
hooks.PAUSED_FORM = _paused_form
hooks.STARTED_RUN_PANEL = _started_run_panel
install_refusals()  # graflow_nb.llm, .worker, ...: an ImportError saying what to use instead
_register_graph_view()


_LAZY = {
    "draw_graph": "observe",
    "draw_sessions": "observe",
    "draw_run": "observe",
    "draw_timeline": "observe",
    "record": "observe",
    "load_pipeline": "pipeline",
    "to_pipeline": "pipeline",
    "DebuggerWidget": "notebook",
    "GraphView": "notebook",
    "HumanInputPanel": "notebook",
    "RunInputs": "notebook",
    "TaskInspector": "notebook",
    "BuilderWidget": "notebook",
}


def __getattr__(name: str) -> Any:
    """Renders, pipeline files and the widgets load their libraries (graphviz, yaml,
    ipywidgets) on first use: ``from graflow_nb import DebuggerWidget`` works, and
    ``import graflow_nb`` alone imports none of them."""
    if name in _LAZY:
        import importlib

        with loaded_by_a_cell(f"graflow_nb.{name}"):
            module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'graflow_nb' has no attribute {name!r}")


__all__ = [
    "__version__", "task", "workflow", "TaskExecutionContext", "RetryPolicy", "chain", "parallel",
    "TaskWrapper", "ParallelGroup", "MapTask", "TaskGraph", "ExecutionContext", "WorkflowEngine",
    "GraflowError", "GraflowRuntimeError", "ParallelGroupError", "CycleLimitExceededError",
    "RetryLimitExceededError", "GraflowWorkflowCanceledError", "GraphCompilationError",
    "DuplicateTaskError", "MergeConflictError", "IsolationWarning", "BlockedLoopWarning", "draw_graph", "draw_sessions", "draw_run", "draw_timeline",
    "record", "load_pipeline", "to_pipeline", "alias_graflow",
    "DebuggerWidget", "GraphView", "HumanInputPanel", "RunInputs", "TaskInspector", "BuilderWidget",
]
