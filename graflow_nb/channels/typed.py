"""graflow's ``graflow.channels.typed``."""

from ..core.typed_channel import TypedChannel

__all__ = ["TypedChannel"]
