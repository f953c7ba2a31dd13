"""The feed service process: publishes MarketEvents on md, from the synthetic market, a recording, or
Shioaji's quote stream (the real one, or the fake server's: `source: shioaji` / `fake-shioaji`).

This is where tick-to-trade starts: every event is stamped with `ingest_ts_ns` (monotonic) just
before it is sent, and every intent downstream carries that stamp. With `feed.wait_subscribers`
set, md is an XPUB and nothing is published until that many subscriptions have arrived (or the
wait times out), so a stack started together does not lose its first events to slow joiners.
The sources, the md publisher and the gate live in their own modules; this one wires them.
"""

from __future__ import annotations

from typing import Any

import zmq

from contracts.enums import ServiceName
from services.feed.md_publisher import MdPublisher
from services.feed.metrics import FeedMetrics
from services.feed.sources import Source, SourceFactory, choose_source
from services.feed.subscriber_gate import SubscriberGate
from services.runtime.config.stack import FeedConfig, StackConfig
from services.runtime.service import ServiceRuntime
from services.runtime.sockets import Publisher

NS_PER_S = 1_000_000_000


class FeedService:
    """The md socket, the source publishing on it, and the gate that may hold the source's start."""

    def __init__(self, rt: ServiceRuntime, stack: StackConfig, make_source: SourceFactory,
                 details: dict[str, Any]) -> None:
        """`make_source` and `details`: choose_source's, read before the runtime's sockets were made."""
        self.rt = rt
        self.feed: FeedConfig = stack.feed
        self.endpoint: str = stack.endpoints.md
        self.details = details
        self.metrics = FeedMetrics(rt.metrics.registry, self.feed.source)
        self.socket: zmq.Socket = rt.sockets.publisher(self.endpoint, await_subscribers=self.feed.wait_subscribers > 0)
        self.md_out = Publisher(self.socket)
        self.source: Source = make_source(rt, MdPublisher(self.md_out, self.metrics), self.metrics)
        self.gate: SubscriberGate | None = (
            SubscriberGate(rt, self.feed.wait_subscribers, self.source.start) if self.feed.wait_subscribers > 0
            else None)
        self._register()

    def _register(self) -> None:
        self.rt.advertise("md", self.md_out.heads)
        if self.gate is None:
            self.rt.loop.call_later(0, self.source.start)
        else:
            self.rt.loop.add_reader(self.socket, self.gate.on_frames)
            self.rt.loop.call_later(round(self.feed.wait_subscribers_timeout_s * NS_PER_S), self.gate.on_timeout)

    def run(self) -> int:
        """Run until SIGINT/SIGTERM; returns the process exit code."""
        self.rt.log.info("feed_started", source=self.feed.source, endpoint=self.endpoint,
                         wait_subscribers=self.feed.wait_subscribers, **self.details)
        try:
            return self.rt.run()
        finally:
            self.source.close()


def main(stack: StackConfig) -> int:
    """Run the feed until SIGINT/SIGTERM; returns the process exit code."""
    make_source, details = choose_source(stack)
    return FeedService(ServiceRuntime(ServiceName.FEED, stack), stack, make_source, details).run()
