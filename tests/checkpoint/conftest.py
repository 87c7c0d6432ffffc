"""Checkpoint tests: this folder is on ``sys.path`` (pytest adds each conftest's
folder), so tests and the fresh processes they start import ``ckpt_flows``."""
