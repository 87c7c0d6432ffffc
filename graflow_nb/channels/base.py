"""graflow's ``graflow.channels.base``."""

from ..core.data.channel import Channel

__all__ = ["Channel"]
