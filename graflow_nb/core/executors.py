"""``graflow_nb.core.executors``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.runtime.executors.base``, with every one of its names (the same objects)."""

from .runtime.executors import base as _module
from .runtime.executors.base import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
