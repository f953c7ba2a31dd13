"""Turning frames into messages at a socket's edge: bad input is counted, logged once a second, dropped.

Messages from a publisher (an inbox built with sequenced=True) carry a per-topic sequence number
(runtime/sockets.py Publisher); the inbox counts every skipped number in missed_messages_total:
a PUB socket drops messages to a slow subscriber when its high-water mark fills. A number that goes
back means the publisher restarted, and counting starts again from it. What to do about a gap is the
service's business
(md tolerates it, the next book supersedes the last).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import structlog

from contracts.codec import DecodeError, Decoder
from contracts.messages import Message
from services.runtime.clock import Clock
from services.runtime.metrics import ServiceMetrics

M = TypeVar("M", bound=Message)

LOG_INTERVAL_NS = 1_000_000_000


class Inbox(Generic[M]):
    """Decodes `[topic, payload]` frames of one socket into the message types it carries."""

    def __init__(
        self,
        socket_name: str,
        decoder: Decoder[M],
        metrics: ServiceMetrics,
        log: structlog.stdlib.BoundLogger,
        clock: Clock,
        *,
        sequenced: bool = False,
        on_undecodable: Callable[[bytes, str], None] | None = None,
    ) -> None:
        """`on_undecodable(payload, error)`: told of every payload that failed to decode, after it was
        counted and logged, so the service can answer a sender it can still name (risk's bad_message reject)."""
        self.socket_name = socket_name
        self.sequenced = sequenced
        self._on_undecodable = on_undecodable
        self._decoder = decoder
        self._bad = metrics.bad_messages_total.labels(metrics.service, socket_name)
        self._missed = metrics.missed_messages_total.labels(metrics.service, socket_name)
        self._last_seq: dict[bytes, int] = {}
        self._log = log
        self._clock = clock
        self._last_logged_ns: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}

    def decode(self, frames: list[bytes]) -> M | None:
        """The message in the frames, or None (counted and logged) if they are not a valid one."""
        if len(frames) != 2:
            self.reject("frame_count", f"expected [topic, payload], got {len(frames)} frame(s)")
            return None
        try:
            message = self._decoder.decode(frames[1])
        except (DecodeError, RecursionError) as exc:  # msgspec raises RecursionError on deeply nested input
            self.reject(type(exc).__name__, str(exc))
            if self._on_undecodable is not None:
                self._on_undecodable(frames[1], str(exc))
            return None
        if self.sequenced:
            self._check_sequence(frames[0], message.seq)  # type: ignore[attr-defined]
        return message

    def _check_sequence(self, topic: bytes, seq: int) -> None:
        last = self._last_seq.get(topic)
        self._last_seq[topic] = seq
        if last is not None and seq > last + 1:
            self._missed.inc(seq - last - 1)
            self._log_once("sequence_gap", "sequence_gap", topic=topic.decode(errors="replace"),
                           expected=last + 1, got=seq, reason="missed_messages")

    def reject(self, kind: str, detail: str) -> None:
        """Count and log (once a second per kind) a message that decoded but makes no sense to its handler."""
        self._bad.inc()
        self._log_once(kind, "bad_message", kind=kind, detail=detail, reason="bad_message")

    def _log_once(self, log_key: str, event: str, **fields: object) -> None:
        """Log at most once a second per key, saying how many were not logged since."""
        now = self._clock.mono_ns()
        last = self._last_logged_ns.get(log_key)
        if last is not None and now - last < LOG_INTERVAL_NS:
            self._suppressed[log_key] = self._suppressed.get(log_key, 0) + 1
            return
        self._last_logged_ns[log_key] = now
        self._log.warning(event, socket=self.socket_name, suppressed_since_last=self._suppressed.pop(log_key, 0),
                          **fields)
