"""``graflow_nb.core.feedback_manager``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.feedback_manager``, with every one of its names (the same objects)."""

from .runtime import feedback_manager as _module
from .runtime.feedback_manager import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
