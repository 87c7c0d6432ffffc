"""``graflow_nb.core.coordinator``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.groups.coordinator``, with every one of its names (the same objects)."""

from .runtime.groups import coordinator as _module
from .runtime.groups.coordinator import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
