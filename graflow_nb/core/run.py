"""``graflow_nb.core.run``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.run``, with every one of its names (the same objects)."""

from .runtime import run as _module
from .runtime.run import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
