"""``graflow_nb.core.merge``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.data.merge``, with every one of its names (the same objects)."""

from .data import merge as _module
from .data.merge import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
