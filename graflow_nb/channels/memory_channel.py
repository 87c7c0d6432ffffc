"""graflow's ``graflow.channels.memory_channel``."""

from ..core.data.channel import MemoryChannel

__all__ = ["MemoryChannel"]
