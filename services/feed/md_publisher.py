"""The md stream out of the feed: every MarketEvent and InstrumentRef a source publishes goes through here."""

from __future__ import annotations

import msgspec
from prometheus_client import Counter

from contracts.messages import InstrumentRef, MarketEvent
from services.feed.metrics import FeedMetrics
from services.runtime.sockets import Publisher


class MdPublisher:
    """The md stream: sends each event (the Publisher numbers it, per symbol) and counts it per symbol."""

    def __init__(self, publisher: Publisher, metrics: FeedMetrics) -> None:
        self._publisher = publisher
        self._events = metrics.md_events
        self._per_symbol: dict[str, Counter] = {}

    def send(self, event: MarketEvent) -> None:
        self._publisher.send(event)
        counter = self._per_symbol.get(event.symbol)
        if counter is None:
            counter = self._per_symbol[event.symbol] = self._events.labels(event.symbol)
        counter.inc()

    def send_reference(self, ref: InstrumentRef) -> None:
        self._publisher.send(msgspec.structs.replace(ref, seq=0))  # a copy: the Publisher numbers each send
