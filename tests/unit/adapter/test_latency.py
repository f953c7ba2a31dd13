"""services.adapter.latency: a bounded ring of tick-to-trade samples and its percentiles."""

from __future__ import annotations

import pytest

from services.adapter.latency import LatencyRing, LatencySummary


def test_empty_ring_summarises_to_zero() -> None:
    assert LatencyRing(8).summary() == LatencySummary(0.0, 0.0, 0.0, 0)


def test_one_sample_is_every_percentile() -> None:
    ring = LatencyRing(8)
    ring.record(1234)
    assert ring.summary() == LatencySummary(1234.0, 1234.0, 1234.0, 1)


def test_percentiles_over_the_samples() -> None:
    ring = LatencyRing(1000)
    for latency_ns in range(1000, 0, -1):  # 1000 .. 1, order does not matter
        ring.record(latency_ns)
    summary = ring.summary()
    assert summary.count == 1000
    assert summary.p50_ns == pytest.approx(500.5)
    assert summary.p99_ns == pytest.approx(990.01)
    assert summary.p999_ns == pytest.approx(999.001)
    assert summary.p50_ns <= summary.p99_ns <= summary.p999_ns


def test_capacity_keeps_only_the_most_recent_samples() -> None:
    ring = LatencyRing(4)
    for latency_ns in (1_000_000, 1_000_000, 1_000_000, 1_000_000, 10, 20, 30, 40):
        ring.record(latency_ns)
    summary = ring.summary()
    assert summary.count == 8  # every sample ever recorded
    assert summary.p999_ns < 1_000_000  # the old slow samples were overwritten
    assert summary.p50_ns == pytest.approx(25.0)


def test_partial_wrap_mixes_old_and_new() -> None:
    ring = LatencyRing(3)
    for latency_ns in (100, 200, 300, 400):
        ring.record(latency_ns)
    assert ring.summary().p50_ns == pytest.approx(300.0)  # retained: 400, 200, 300
