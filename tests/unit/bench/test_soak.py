"""The soak bench's per-minute bucket deltas (their quantiles: tests/unit/test_summary.py) and its memory slope."""

from __future__ import annotations

import math

import pytest

from bench.soak import Minute, bucket_deltas, memory_report, slope_mb_per_min

INF = float("inf")


def test_a_minute_is_the_difference_of_two_cumulative_scrapes() -> None:
    before = [(100.0, 10.0), (200.0, 10.0), (INF, 10.0)]
    after = [(100.0, 10.0), (200.0, 110.0), (INF, 112.0)]
    assert bucket_deltas(before, after) == [(100.0, 0.0), (200.0, 100.0), (INF, 102.0)]


def test_changed_buckets_are_refused() -> None:
    with pytest.raises(ValueError, match="buckets changed"):
        bucket_deltas([(100.0, 1.0), (INF, 1.0)], [(50.0, 1.0), (INF, 1.0)])


def minutes(*adapter_mb: float) -> list[Minute]:
    return [Minute(number=n, seconds=60.0, ticks=0, orders=0, timed=0, p50_us=0.0, p99_us=0.0,
                   rss_mb={"adapter": mb}) for n, mb in enumerate(adapter_mb, start=1)]


def test_the_slope_is_least_squares_from_the_end_of_minute_two() -> None:
    # Minute 1 (filling) is left out; then 2 MB a minute with noise around the line.
    assert slope_mb_per_min(minutes(50.0, 70.0, 72.5, 73.5, 76.0), "adapter") == pytest.approx(1.9)
    assert slope_mb_per_min(minutes(50.0, 70.0, 70.0, 70.0), "adapter") == 0.0


def test_the_slope_needs_two_readings_from_minute_two() -> None:
    assert math.isnan(slope_mb_per_min(minutes(50.0, 70.0), "adapter"))
    assert math.isnan(slope_mb_per_min(minutes(50.0, 70.0, 71.0), "risk"))


def test_the_memory_report_prints_the_slope_per_service() -> None:
    lines = memory_report({"adapter": 40.0}, minutes(50.0, 70.0, 73.0))
    assert lines[0].split()[-4:] == ["MB/min", "from", "minute", "2"]
    adapter = next(line for line in lines if line.split()[0] == "adapter")
    assert adapter.split() == ["adapter", "40.0", "73.0", "73.0", "+3.00"]
    assert next(line for line in lines if line.split()[0] == "risk").split()[-1] == "n/a"
