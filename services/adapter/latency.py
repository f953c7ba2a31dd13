"""Tick-to-trade samples: from a market event's ingest stamp to the moment its order met the broker.

A fixed ring of the most recent samples (bounded memory), summarised as percentiles on demand.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LatencySummary(NamedTuple):
    p50_ns: float
    p99_ns: float
    p999_ns: float
    count: int


class LatencyRing:
    def __init__(self, capacity: int) -> None:
        self._samples = np.zeros(capacity, dtype=np.int64)
        self.capacity = capacity
        self.count = 0

    def record(self, latency_ns: int) -> None:
        self._samples[self.count % self.capacity] = latency_ns
        self.count += 1

    def summary(self) -> LatencySummary:
        """Percentiles over the retained samples; `count` is every sample ever recorded."""
        kept = self._samples[: min(self.count, self.capacity)]
        if kept.size == 0:
            return LatencySummary(0.0, 0.0, 0.0, 0)
        p50, p99, p999 = np.percentile(kept, [50, 99, 99.9])
        return LatencySummary(float(p50), float(p99), float(p999), self.count)
