"""``graflow_nb.core.policies``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.model.policies``, with every one of its names (the same objects)."""

from .model import policies as _module
from .model.policies import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
