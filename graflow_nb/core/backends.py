"""``graflow_nb.core.backends``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.model.backends``, with every one of its names (the same objects)."""

from .model import backends as _module
from .model.backends import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
