"""``graflow_nb.core.cycle``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.cycle``, with every one of its names (the same objects)."""

from .runtime import cycle as _module
from .runtime.cycle import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
