"""``graflow_nb.core.handler``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.handler``, with every one of its names (the same objects)."""

from .runtime import handler as _module
from .runtime.handler import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
