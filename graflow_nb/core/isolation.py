"""``graflow_nb.core.isolation``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.data.isolation``, with every one of its names (the same objects)."""

from .data import isolation as _module
from .data.isolation import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
