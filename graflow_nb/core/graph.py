"""``graflow_nb.core.graph``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.model.graph``, with every one of its names (the same objects)."""

from .model import graph as _module
from .model.graph import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
