"""graflow's ``TypedChannel``: a channel view that checks values against a TypedDict."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, get_type_hints

from .channel import Channel

T = TypeVar("T")


class TypedChannel(Generic[T]):
    def __init__(self, channel: Channel, message_type: type):
        self.channel = channel
        self.message_type = message_type
        self._hints = get_type_hints(message_type)
        self._required = getattr(message_type, "__required_keys__", frozenset(self._hints))

    def _valid(self, value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        if not self._required.issubset(value):
            return False
        for key, hint in self._hints.items():
            if key in value and isinstance(hint, type) and not isinstance(value[key], hint):
                return False
        return True

    def send(self, key: str, message: Any) -> None:
        if not self._valid(message):
            raise TypeError(f"message for {key!r} does not match {self.message_type.__name__}: {message!r}")
        self.channel.set(key, message)

    set = send

    def receive(self, key: str) -> Any:
        value = self.channel.get(key)
        return value if self._valid(value) else None

    get = receive
