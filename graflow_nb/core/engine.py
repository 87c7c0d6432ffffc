"""``graflow_nb.core.engine``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.engine``, with every one of its names (the same objects)."""

from .runtime import engine as _module
from .runtime.engine import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
