"""``graflow_nb.core.timed``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.timed``, with every one of its names (the same objects)."""

from .runtime import timed as _module
from .runtime.timed import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
