"""graflow's ``graflow.channels.base``."""

from ..core.channel import Channel

__all__ = ["Channel"]
