"""graflow's ``graflow.channels.typed``."""

from ..core.data.typed_channel import ChannelTypeRegistry, TypedChannel

__all__ = ["ChannelTypeRegistry", "TypedChannel"]
