"""Where branch sessions run: ``base`` (the seam: ``BranchExecutor``, ``Batch``, the
thread executor, and the registry of other backends by name, where graflow_nb/__init__
registers "dask") and ``pool`` (the bounded worker pool with fork-join that never
deadlocks on nested groups).  Core registers no backend but its threads."""
