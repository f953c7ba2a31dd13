"""SyntheticSource: the feed's seeded synthetic market (services/feed/synthetic.py) published on md."""

from __future__ import annotations

from services.feed.md_publisher import MdPublisher
from services.feed.synthetic import RateSchedule, SyntheticMarket
from services.runtime.service import ServiceRuntime

NS_PER_S = 1_000_000_000
MIN_TIMER_INTERVAL_NS = 1_000_000


class SyntheticSource:
    """Publishes the synthetic market at a steady rate, catching up whatever a late timer missed."""

    def __init__(self, rt: ServiceRuntime, md: MdPublisher, market: SyntheticMarket, rate_hz: float) -> None:
        self._rt = rt
        self._md = md
        self._market = market
        self._rate_hz = rate_hz

    def start(self) -> None:
        clock = self._rt.clock
        schedule = RateSchedule(self._rate_hz, clock.mono_ns())
        # Loop timers have millisecond resolution, so above 1000/s each tick sends a batch.
        interval_ns = max(MIN_TIMER_INTERVAL_NS, round(NS_PER_S / self._rate_hz))
        self._rt.loop.every(interval_ns, lambda: self._publish(schedule.take_due(clock.mono_ns())))
        self._rt.log.info("md_publishing", source="synthetic", rate_hz=self._rate_hz)

    def close(self) -> None:
        """Nothing to release."""

    def _publish(self, count: int) -> None:
        clock = self._rt.clock
        for _ in range(count):
            event = self._market.next_event(0, clock.wall_ns(), 0)
            # Tick-to-trade starts when the event leaves the feed, not while the simulator builds it.
            event.ingest_ts_ns = clock.mono_ns()
            self._md.send(event)
