"""LatestByTopic: a SUB socket read when its reader needs it instead of on every message.

Risk needs the book of a symbol only when an intent for it arrives (and when it revalues
positions), while md arrives on every tick: woken for each one, risk cost the whole path a
process wake-up per tick on a 2-core machine. Read this way, what queued since the last look is
drained at once and only the newest message of each topic is decoded; the older ones are
superseded and counted, not validated. A frame that is not [topic, payload] is still counted bad.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import zmq
from prometheus_client import Counter

from contracts.messages import Message
from services.runtime.inbox import Inbox
from services.runtime.sockets import EVENTS, NOBLOCK, POLLIN

M = TypeVar("M", bound=Message)

MAX_DRAIN = 100_000


class LatestByTopic(Generic[M]):
    def __init__(self, sock: zmq.Socket, inbox: Inbox[M], handler: Callable[[M], None], superseded: Counter) -> None:
        self.sock = sock
        self.inbox = inbox
        self.handler = handler
        self.superseded = superseded
        self.last_seqs: dict[bytes, int] = {}
        """The seq of the newest message read on each topic (services/runtime/stream_guard.py reads it)."""

    def refresh(self) -> None:
        """Hand the newest queued message of every topic to the handler, oldest topic first."""
        sock = self.sock
        latest: dict[bytes, list[bytes]] = {}
        drained = 0
        while drained < MAX_DRAIN and sock.get(EVENTS) & POLLIN:
            frames = sock.recv_multipart(NOBLOCK)
            drained += 1
            if len(frames) == 2:
                latest[frames[0]] = frames
            else:
                self.inbox.decode(frames)
        if drained > len(latest):
            self.superseded.inc(drained - len(latest))
        for topic, frames in latest.items():
            message = self.inbox.decode(frames)
            if message is not None:
                self.last_seqs[topic] = message.seq  # type: ignore[attr-defined]
                self.handler(message)
