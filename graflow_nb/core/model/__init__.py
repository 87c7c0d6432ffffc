"""What a workflow *is*: tasks and their operators (``task``), the graph (``graph``),
``@task`` (``decorators``), retry and group policies, backends' names, and ``scope``
(where a new task registers: the workflow being wired or the running session).
Imports only core's ground modules (errors, checks, events, user_frames) and
``core.data``; never the runtime or the front door."""
