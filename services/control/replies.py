"""RecentReplies: control's memory of what it answered, so a client's retry never runs a verb twice.

`orderpath ctl` (and any client, docs/wire.md) sends a request again, with the same request_id, when no
answer came in time: the answer may have been lost (the client reconnected and its old ROUTER identity is
gone, a high-water mark was full), or the request never arrived. Control answers a repeat of a verb that
changes something from this memory, keyed by the CURVE key and the request id, so one key can never read
another's answers; reading verbs (status, ping, snapshot, …) are simply run again, their answer is fresh.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from contracts.codec import DecodeError, Decoder, loose_fields
from contracts.messages import ControlReply, ControlRequest

DEFAULT_CAPACITY = 1024
"""Operator commands come a few a minute: a thousand covers any retry window many times over."""

_requests = Decoder(ControlRequest)


@dataclass(frozen=True, slots=True)
class Remembered:
    verb: str
    reply: ControlReply


class RecentReplies:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._replies: OrderedDict[tuple[str, str], Remembered] = OrderedDict()

    def get(self, key: str, request_id: str) -> Remembered | None:
        return self._replies.get((key, request_id))

    def remember(self, key: str, request_id: str, verb: str, reply: ControlReply) -> None:
        """Keep this answer; the oldest is forgotten past `capacity`."""
        self._replies[(key, request_id)] = Remembered(verb, reply)
        self._replies.move_to_end((key, request_id))
        while len(self._replies) > self.capacity:
            self._replies.popitem(last=False)

    def __len__(self) -> int:
        return len(self._replies)


def undecodable_request_reply(payload: bytes) -> ControlReply | None:
    """The refusal of a payload on the ops socket that is not a valid ControlRequest but names its
    request_id (a map with `t` "request"), with the decoder's error, which names the field; None when it
    is valid or names no request (nobody to answer)."""
    fields = loose_fields(payload)
    if fields is None or fields.get("t") != "request":
        return None
    request_id = fields.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        return None
    try:
        _requests.decode(payload)
    except DecodeError as exc:
        return ControlReply(request_id=request_id, ok=False, error=f"request not decoded: {exc}")
    return None
