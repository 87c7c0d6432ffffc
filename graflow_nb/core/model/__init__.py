"""What a workflow *is*: tasks, the graph, groups' settings, retry and merge policies,
and ``scope`` (where a new task registers).  Imports only the ground modules of
``core`` (errors, checks, events, user_frames) and ``core.data``; never the runtime or
the front door."""
