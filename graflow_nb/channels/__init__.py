"""graflow's ``graflow.channels`` package (channels are defined in ``core.channel``)."""

from ..core.channel import Channel, MemoryChannel
from ..core.typed_channel import TypedChannel

__all__ = ["Channel", "MemoryChannel", "TypedChannel"]
