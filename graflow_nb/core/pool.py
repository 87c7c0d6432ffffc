"""``graflow_nb.core.pool``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.executors.pool``, with every one of its names (the same objects)."""

from .runtime.executors import pool as _module
from .runtime.executors.pool import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
