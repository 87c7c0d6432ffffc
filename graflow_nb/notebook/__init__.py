"""The notebook layer: magics, the graph view, the debugger widget, the task inspector,
human-input forms and the graph builder.  ``%load_ext graflow_nb`` (or ``graflow_nb.notebook``)
registers ``%%graflow`` / ``%graflow``.
"""

from .background import RunPanel
from .builder import BuilderWidget
from .debugger_widget import DebuggerWidget
from .graph_view import GraphView
from .human_input import HumanInputPanel, InputSource, PendingInput, RunInputs
from .inspector import TaskInspector, task_details
from .magics import GraflowMagics, load_ipython_extension
from .running import RunOutcome, run_interruptibly

__all__ = [
    "BuilderWidget", "DebuggerWidget", "GraflowMagics", "GraphView", "HumanInputPanel", "InputSource", "PendingInput",
    "RunInputs", "RunOutcome", "RunPanel", "TaskInspector", "load_ipython_extension", "run_interruptibly",
    "task_details",
]
