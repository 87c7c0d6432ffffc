"""Where core reaches the layers above it, in one place, filled once by graflow_nb/__init__.

Core imports nothing above itself (the notebook, renders, pandas, graphviz); where one
of its objects offers what only a higher layer can make, it calls a hook named here:

- ``RUN_FRAMES(run)``: ``run.frames``, the pandas frames (graflow_nb.observe.frames);
- ``ASCII_DRAWING(graph)``: ``str(graph)``, graflow's drawing (graflow_nb.utils.graph);
- ``PAUSED_FORM(paused)``: a ``PausedRun`` ending a notebook cell shows its input form
  (graflow_nb.notebook.human_input);
- ``STARTED_RUN_PANEL(handle, live_view)``: ``wf.start(...)`` in a notebook shows the
  run's panel in the starting cell (graflow_nb.notebook.background); it does nothing
  outside a notebook.

The front door's own extension points (the live view, the pipeline export and the step
debugger) are ``core.workflow``'s, where graflow_nb/__init__ fills them the same way.
"""

from __future__ import annotations

from typing import Any

RUN_FRAMES: Any = None
ASCII_DRAWING: Any = None
PAUSED_FORM: Any = None
STARTED_RUN_PANEL: Any = None
