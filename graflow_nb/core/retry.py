"""``graflow_nb.core.retry``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.model.retry``, with every one of its names (the same objects)."""

from .model import retry as _module
from .model.retry import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
