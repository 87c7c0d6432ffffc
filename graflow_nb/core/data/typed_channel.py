"""graflow's ``TypedChannel``: a channel view that checks values against a TypedDict,
and ``ChannelTypeRegistry``, which names message types for ``create_channel``.

Writes (``set`` / ``send``) of a value that does not match raise ``TypeError``; reads
(``get`` / ``receive``) of a missing or non-matching value give None, as in graflow.
List and counter operations pass through unchecked, as graflow's do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar, get_type_hints, is_typeddict

from ..errors import ConfigError
from .channel import Channel

T = TypeVar("T")


class TypedChannel(Generic[T]):
    def __init__(self, channel: Channel, message_type: type):
        if not is_typeddict(message_type):
            raise ValueError(f"message_type must be a TypedDict, got {message_type}")
        self.channel = channel
        self.message_type = message_type
        self._hints = get_type_hints(message_type)
        self._required = getattr(message_type, "__required_keys__", frozenset(self._hints))

    @property
    def name(self) -> str:
        return getattr(self.channel, "name", "")

    def _valid(self, value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        if not self._required.issubset(value):
            return False
        for key, hint in self._hints.items():
            if key in value and isinstance(hint, type) and not isinstance(value[key], hint):
                return False
        return True

    def send(self, key: str, message: Any, ttl: int | None = None) -> None:
        if not self._valid(message):
            raise TypeError(f"Message does not conform to {self.message_type.__name__}: {key!r} = {message!r}"[:600])
        self.channel.set(key, message, ttl)

    set = send

    def receive(self, key: str, default: Any = None) -> Any:
        value = self.channel.get(key, default)
        return value if value is not None and self._valid(value) else None

    get = receive

    def exists(self, key: str) -> bool:
        return self.channel.exists(key)

    def delete(self, key: str) -> bool:
        return self.channel.delete(key)

    def keys(self) -> list[str]:
        return self.channel.keys()

    def clear(self) -> None:
        self.channel.clear()

    def append(self, key: str, value: Any, ttl: int | None = None) -> int:
        return self.channel.append(key, value, ttl)

    def prepend(self, key: str, value: Any, ttl: int | None = None) -> int:
        return self.channel.prepend(key, value, ttl)

    def atomic_add(self, key: str, amount: int | float = 1) -> int | float:
        return self.channel.atomic_add(key, amount)

    @contextmanager
    def lock(self, key: str, timeout: float = 10.0) -> Iterator[None]:
        with self.channel.lock(key, timeout):
            yield


class ChannelTypeRegistry:
    """Message types by name (process-wide, as graflow's)."""

    _types: ClassVar[dict[str, type]] = {}

    @classmethod
    def register(cls, name: str, message_type: type) -> None:
        if not is_typeddict(message_type):
            raise ValueError(f"message_type must be a TypedDict, got {message_type}")
        cls._types[name] = message_type

    @classmethod
    def get(cls, name: str) -> type | None:
        return cls._types.get(name)

    @classmethod
    def create_channel(cls, channel: Channel, type_name: str) -> TypedChannel[Any]:
        message_type = cls.get(type_name)
        if message_type is None:
            known = ", ".join(repr(n) for n in sorted(cls._types)) or "none"
            raise ConfigError(f"Message type '{type_name}' not registered (registered: {known})")
        return TypedChannel(channel, message_type)
