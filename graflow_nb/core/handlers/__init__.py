"""graflow's ``graflow.core.handlers`` package: the direct handler and group policies."""
