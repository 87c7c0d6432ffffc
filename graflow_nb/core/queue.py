"""``graflow_nb.core.queue``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.queue``, with every one of its names (the same objects)."""

from .runtime import queue as _module
from .runtime.queue import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
