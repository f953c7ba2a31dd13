"""Turning frames into messages at a socket's edge: bad input is counted, logged once a second, dropped."""

from __future__ import annotations

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
    ) -> None:
        self.socket_name = socket_name
        self._decoder = decoder
        self._bad = metrics.bad_messages_total.labels(metrics.service, socket_name)
        self._log = log
        self._clock = clock
        self._last_logged_ns: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}

    def decode(self, frames: list[bytes]) -> M | None:
        """The message in the frames, or None (counted and logged) if they are not a valid one."""
        if len(frames) != 2:
            self._reject("frame_count", f"expected [topic, payload], got {len(frames)} frame(s)")
            return None
        try:
            return self._decoder.decode(frames[1])
        except DecodeError as exc:
            self._reject(type(exc).__name__, str(exc))
            return None

    def _reject(self, kind: str, detail: str) -> None:
        self._bad.inc()
        now = self._clock.mono_ns()
        last = self._last_logged_ns.get(kind)
        if last is not None and now - last < LOG_INTERVAL_NS:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._last_logged_ns[kind] = now
        self._log.warning(
            "bad_message",
            socket=self.socket_name,
            kind=kind,
            detail=detail,
            reason="bad_message",
            suppressed_since_last=self._suppressed.pop(kind, 0),
        )
