"""Encoding and decoding of wire messages, and the topics they are published under.

A frame is `[topic, payload]`. One `Decoder` per socket accepts only the message types that
socket carries, so a stray type is a validation error like any other bad input.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, Union

import msgspec

from contracts.messages import InstrumentRef, MarketEvent, Message

M = TypeVar("M", bound=Message)

DecodeError = msgspec.DecodeError
"""Raised for bytes that are not msgpack and for payloads that fail validation (a subclass)."""

_encoder = msgspec.msgpack.Encoder()
_loose = msgspec.msgpack.Decoder(dict[str, Any])


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def topic_for(message: Message) -> bytes:
    """Market data is published under its symbol (subscribers filter by symbol); an InstrumentRef under
    `instrument.` and its symbol, so a reader keeping the newest message per topic keeps one per
    symbol and a symbol filter never matches it; the rest by type."""
    if isinstance(message, MarketEvent):
        return message.symbol.encode()
    if isinstance(message, InstrumentRef):
        return b"instrument." + message.symbol.encode()
    return type(message).__struct_config__.tag.encode()


class Decoder(Generic[M]):
    """Decodes payloads of the given message types; anything else raises DecodeError."""

    def __init__(self, *types: type[M]) -> None:
        self.types = types
        target = types[0] if len(types) == 1 else Union[types]  # noqa: UP007
        self._decoder: msgspec.msgpack.Decoder[M] = msgspec.msgpack.Decoder(target)

    def decode(self, payload: bytes) -> M:
        return self._decoder.decode(payload)


def loose_fields(payload: bytes) -> dict[str, Any] | None:
    """The payload as a plain map, without validation, or None if it is not a msgpack map: for naming the
    sender of a message that failed to decode (its intent_id, its request_id), so it can be answered."""
    try:
        return _loose.decode(payload)
    except (msgspec.DecodeError, RecursionError):
        return None
