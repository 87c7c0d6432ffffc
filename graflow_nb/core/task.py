"""``graflow_nb.core.task``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.model.task``, with every one of its names (the same objects)."""

from .model import task as _module
from .model.task import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
