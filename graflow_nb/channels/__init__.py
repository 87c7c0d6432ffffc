"""graflow's ``graflow.channels`` package (channels are defined in ``core.channel``)."""

from ..core.data.channel import Channel, MemoryChannel
from ..core.data.typed_channel import TypedChannel

__all__ = ["Channel", "MemoryChannel", "TypedChannel"]
