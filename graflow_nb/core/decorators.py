"""``graflow_nb.core.decorators``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.model.decorators``, with every one of its names (the same objects)."""

from .model import decorators as _module
from .model.decorators import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
