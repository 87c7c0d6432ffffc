"""graflow's ``graflow.hitl`` package: human input types and the feedback manager."""
