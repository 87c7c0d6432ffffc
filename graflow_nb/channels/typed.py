"""graflow's ``graflow.channels.typed``."""

from ..core.typed_channel import ChannelTypeRegistry, TypedChannel

__all__ = ["ChannelTypeRegistry", "TypedChannel"]
