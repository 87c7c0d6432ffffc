"""graflow's ``graflow.channels.memory_channel``."""

from ..core.channel import MemoryChannel

__all__ = ["MemoryChannel"]
