"""Where branch sessions run: ``base`` (the seam: ``Branches``, ``BranchExecutor``,
``Batch``), ``threads`` (the thread executor, on ``pool``: the bounded worker pool whose
fork-join never deadlocks on nested groups) and ``registry`` (which executor a group
gets; other backends by name, where graflow_nb/__init__ registers "dask").  Core
registers no backend but its threads."""
