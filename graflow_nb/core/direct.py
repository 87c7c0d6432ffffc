"""``graflow_nb.core.direct``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.groups.direct``, with every one of its names (the same objects)."""

from .runtime.groups import direct as _module
from .runtime.groups.direct import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
