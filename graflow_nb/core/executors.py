"""``graflow_nb.core.executors``, the module path graflow_nb used before its floors: a face
over ``core.runtime.executors`` (the seam in ``base``, the threads in ``threads``, the
registry in ``registry``), with every one of their names (the same objects)."""

from .runtime.executors import base as _base
from .runtime.executors import registry as _registry
from .runtime.executors import threads as _threads
from .runtime.executors.base import *  # noqa: F403
from .runtime.executors.registry import *  # noqa: F403
from .runtime.executors.threads import *  # noqa: F403

for _module in (_base, _threads, _registry):
    globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
