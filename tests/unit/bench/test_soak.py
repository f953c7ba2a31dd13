"""The soak bench's per-minute percentiles: Prometheus-style quantiles of histogram bucket deltas."""

from __future__ import annotations

import math

import pytest

from bench.soak import bucket_deltas, quantile

INF = float("inf")


def test_a_minute_is_the_difference_of_two_cumulative_scrapes() -> None:
    before = [(100.0, 10.0), (200.0, 10.0), (INF, 10.0)]
    after = [(100.0, 10.0), (200.0, 110.0), (INF, 112.0)]
    assert bucket_deltas(before, after) == [(100.0, 0.0), (200.0, 100.0), (INF, 102.0)]


def test_changed_buckets_are_refused() -> None:
    with pytest.raises(ValueError, match="buckets changed"):
        bucket_deltas([(100.0, 1.0), (INF, 1.0)], [(50.0, 1.0), (INF, 1.0)])


def test_quantiles_are_linear_within_the_bucket_they_fall_in() -> None:
    buckets = [(100.0, 0.0), (200.0, 100.0), (INF, 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(150.0)
    assert quantile(0.99, buckets) == pytest.approx(199.0)
    assert quantile(0.5, [(100.0, 10.0), (INF, 10.0)]) == pytest.approx(50.0)  # the first bucket starts at 0


def test_a_quantile_in_the_inf_bucket_is_the_largest_finite_bound_and_none_is_nan() -> None:
    assert quantile(0.99, [(100.0, 50.0), (200.0, 90.0), (INF, 100.0)]) == 200.0
    assert math.isnan(quantile(0.5, [(100.0, 0.0), (INF, 0.0)]))
