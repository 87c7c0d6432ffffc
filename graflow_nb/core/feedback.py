"""``graflow_nb.core.feedback``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.feedback``, with every one of its names (the same objects)."""

from .runtime import feedback as _module
from .runtime.feedback import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
