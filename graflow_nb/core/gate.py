"""``graflow_nb.core.gate``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.gate``, with every one of its names (the same objects)."""

from .runtime import gate as _module
from .runtime.gate import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
