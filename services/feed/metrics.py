"""The feed's Prometheus metrics: what it published on md, and what its source skipped."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

SHIOAJI_SOURCES = ("shioaji", "fake-shioaji")


class FeedMetrics:
    """Every metric the feed exports. A source's own are exported only by a feed running that source: a
    synthetic feed shows no `replay_finished 0`."""

    def __init__(self, registry: CollectorRegistry, source: str) -> None:
        self.md_events = Counter("md_events", "MarketEvents published on md", ["symbol"], registry=registry)
        # Unregistered (registry None), a metric still counts but is never collected.
        replay = registry if source == "replay" else None
        self.replay_bad_lines = Counter("replay_bad_lines", "Recorded lines skipped as unreadable", registry=replay)
        self.replay_trial_records = Gauge("replay_trial_records",
                                          "Trial-match (simtrade) records of this pass, skipped", registry=replay)
        self.replay_finished = Gauge("replay_finished", "1 once the recording has been published to its end",
                                     registry=replay)
        shioaji = registry if source in SHIOAJI_SOURCES else None
        self.shioaji_quotes_skipped = Gauge("shioaji_quotes_skipped",
                                            "Quotes not published: trial matching, odd lots, unreadable",
                                            registry=shioaji)
