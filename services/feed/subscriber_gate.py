"""SubscriberGate: with `feed.wait_subscribers`, the feed's source starts only once its subscribers are there."""

from __future__ import annotations

from collections.abc import Callable

from services.runtime.service import ServiceRuntime

SUBSCRIBE_FRAME_PREFIX = b"\x01"


class SubscriberGate:
    """Holds publishing until `wanted` subscriptions have reached the md XPUB, or the wait times out.

    XPUB_VERBOSE reports every subscription, one frame each (first byte 1), so a subscriber that
    subscribes to several topics counts once per topic.
    """

    def __init__(self, rt: ServiceRuntime, wanted: int, on_open: Callable[[], None]) -> None:
        self._rt = rt
        self._wanted = wanted
        self._on_open = on_open
        self._subscriptions = 0
        self._open = False

    def on_frames(self, frames: list[bytes]) -> None:
        if self._open or not frames or not frames[0].startswith(SUBSCRIBE_FRAME_PREFIX):
            return
        self._subscriptions += 1
        if self._subscriptions >= self._wanted:
            self._rt.log.info("subscribers_ready", subscriptions=self._subscriptions)
            self._open_gate()

    def on_timeout(self) -> None:
        if self._open:
            return
        self._rt.log.warning(
            "subscribers_wait_timed_out", subscriptions=self._subscriptions, wanted=self._wanted
        )
        self._open_gate()

    def _open_gate(self) -> None:
        self._open = True
        self._on_open()
