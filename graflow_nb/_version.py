"""The version of graflow_nb, defined here only: the package, `graflow-nb --version` and
the wheel's metadata (setuptools reads this file without importing the package) all
report it."""

__version__ = "0.1.0"
