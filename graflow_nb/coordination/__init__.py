"""graflow's ``graflow.coordination`` package: only the backend names are public here."""
