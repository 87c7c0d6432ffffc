"""``graflow_nb.core.interrupt``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.interrupt``, with every one of its names (the same objects)."""

from .runtime import interrupt as _module
from .runtime.interrupt import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
