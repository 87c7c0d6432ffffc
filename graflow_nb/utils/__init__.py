"""graflow's ``graflow.utils`` package: graph drawings (``utils.graph``)."""
