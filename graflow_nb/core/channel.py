"""``graflow_nb.core.channel``, the module path graflow (and graflow_nb before its floors)
used: a face over ``core.data.channel``, with every one of its names (the same objects)."""

from .data import channel as _module
from .data.channel import *  # noqa: F403

globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
