"""A run in this process: the session (``session.py``: a queue, a channel, a place in
the session tree, and every change of a branch's state), the run's record
(``run.py``), the engine that drains a session (``engine.py``) and how it calls a task
(``calls.py``), the event loop of its async tasks (``loop.py``), interrupts and
timed attempts, graflow's facades (cycle, feedback,
handler), ``groups/`` (how a group node runs) and ``executors/`` (where branch
sessions run).  Imports the model, data and ground; never the front door
(``core.workflow``), ``core.snapshot``, ``core.checkpoint`` or anything outside core."""
