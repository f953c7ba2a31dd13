"""The run summary read off control's status: the counters of every instance of a service add up, and
tick-to-trade's quantiles come from the adapter's histogram buckets as Prometheus's histogram_quantile
would compute them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from services.summary import histogram_buckets, histogram_quantile, progress_line, report, summarize

INF = float("inf")


def entry(service: str, *samples: list[Any]) -> dict[str, Any]:
    return {"service": service, "state": "alive", "pid": 1, "heartbeat_age_s": 0.1, "metrics": list(samples)}


def test_two_runners_counters_add_up_and_each_instance_is_listed() -> None:
    status = {"services": {
        "strategy": entry("strategy", ["intents_total", {"strategy": "mm1"}, 30.0],
                          ["process_resident_memory_bytes", {}, 50e6]),
        "strategy-2": entry("strategy", ["intents_total", {"strategy": "rest1"}, 12.0],
                            ["bad_messages_total", {"socket": "md"}, 2.0],
                            ["process_resident_memory_bytes", {}, 40e6]),
        "adapter": entry("adapter", ["bad_messages_total", {"socket": "orders"}, 1.0],
                         ["tick_to_trade_latency_seconds_bucket", {"le": "+Inf"}, 5.0],
                         ["tick_to_trade_latency_seconds_count", {}, 5.0]),
    }}
    summary = summarize(status)
    assert summary["intents"] == 42
    assert summary["bad_messages"] == 3
    assert summary["tick_to_trade_us"]["n"] == 5
    assert summary["rss_mb"] == {"adapter": 0.0, "strategy": 50.0, "strategy-2": 40.0}
    assert summary["services"] == {"adapter": "alive", "strategy": "alive", "strategy-2": "alive"}


def test_an_entry_without_its_service_counts_under_its_name() -> None:
    """A status from a control older than instance names."""
    old = {"services": {"strategy": {"state": "alive", "pid": 1, "metrics": [["intents_total", {}, 7.0]]}}}
    assert summarize(old)["intents"] == 7


def test_quantiles_are_linear_within_the_bucket_they_fall_in() -> None:
    buckets = [(100.0, 0.0), (200.0, 100.0), (INF, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(150.0)
    assert histogram_quantile(0.99, buckets) == pytest.approx(199.0)
    assert histogram_quantile(0.5, [(100.0, 10.0), (INF, 10.0)]) == pytest.approx(50.0)  # the first starts at 0


def test_a_quantile_in_the_inf_bucket_is_the_largest_finite_bound_and_none_is_nan() -> None:
    assert histogram_quantile(0.99, [(100.0, 50.0), (200.0, 90.0), (INF, 100.0)]) == 200.0
    assert math.isnan(histogram_quantile(0.5, [(100.0, 0.0), (INF, 0.0)]))


def test_buckets_of_several_series_add_up_bound_by_bound() -> None:
    samples = [["strategy_latency_seconds_bucket", {"strategy": "a", "le": "+Inf"}, 3.0],
               ["strategy_latency_seconds_bucket", {"strategy": "a", "le": "0.001"}, 2.0],
               ["strategy_latency_seconds_bucket", {"strategy": "b", "le": "0.001"}, 1.0],
               ["strategy_latency_seconds_bucket", {"strategy": "b", "le": "+Inf"}, 1.0],
               ["strategy_latency_seconds_count", {"strategy": "a"}, 3.0]]
    assert histogram_buckets(samples, "strategy_latency_seconds") == [(0.001, 3.0), (INF, 4.0)]


def test_tick_to_trade_in_us_from_the_adapters_histogram() -> None:
    t2t = "tick_to_trade_latency_seconds"
    status = {"services": {"adapter": entry(
        "adapter", [f"{t2t}_bucket", {"le": "0.0001"}, 0.0], [f"{t2t}_bucket", {"le": "0.0002"}, 80.0],
        [f"{t2t}_bucket", {"le": "0.001"}, 100.0], [f"{t2t}_bucket", {"le": "+Inf"}, 100.0],
        [f"{t2t}_count", {}, 100.0], [f"{t2t}_sum", {}, 0.02])}}
    t2t_us = summarize(status)["tick_to_trade_us"]
    assert t2t_us == {"p50": pytest.approx(162.5), "p99": pytest.approx(960.0), "n": 100, "after_start_up": False}
    assert "p50   162.5µs p99   960.0µs" in progress_line(summarize(status), 1.0)
    assert "p50 162.5 µs  p99 960.0 µs  over 100 orders (whole run, start-up included)" in report(summarize(status))


def adapter_t2t(*counts: float) -> dict[str, Any]:
    """A status whose adapter timed orders into buckets of 100 µs, 200 µs, 1 ms and +Inf (cumulative counts)."""
    t2t = "tick_to_trade_latency_seconds"
    bounds = ("0.0001", "0.0002", "0.001", "+Inf")
    return {"services": {"adapter": entry("adapter", *([f"{t2t}_bucket", {"le": bound}, count]
                                                       for bound, count in zip(bounds, counts, strict=True)))}}


def test_tick_to_trade_after_start_up_leaves_out_the_orders_timed_before_it() -> None:
    warmed = adapter_t2t(0.0, 0.0, 10.0, 10.0)  # start-up: ten slow orders, all between 200 µs and 1 ms
    final = adapter_t2t(50.0, 100.0, 110.0, 110.0)  # then a hundred fast ones
    summary = summarize(final, warmed)
    assert summary["tick_to_trade_us"] == {"p50": pytest.approx(100.0), "p99": pytest.approx(198.0), "n": 100,
                                           "after_start_up": True}
    assert summary["tick_to_trade_whole_run_us"]["n"] == 110
    text = report(summary)
    assert "over 100 orders after start-up" in text and "over 110 orders (start-up bursts included)" in text


def test_an_adapter_restarted_since_start_up_gives_the_whole_run() -> None:
    """Its histogram started over: what came after start-up cannot be told from the buckets."""
    summary = summarize(adapter_t2t(1.0, 2.0, 3.0, 3.0), adapter_t2t(0.0, 0.0, 10.0, 10.0))
    assert summary["tick_to_trade_us"]["after_start_up"] is False
    assert summary["tick_to_trade_us"]["n"] == 3


def test_a_run_with_no_order_timed_after_start_up_gives_the_whole_run() -> None:
    summary = summarize(adapter_t2t(0.0, 0.0, 10.0, 10.0), adapter_t2t(0.0, 0.0, 10.0, 10.0))
    assert summary["tick_to_trade_us"]["after_start_up"] is False
    assert summary["tick_to_trade_us"]["n"] == 10


def test_no_order_timed_yet_reads_zero_not_nan() -> None:
    assert summarize({"services": {}})["tick_to_trade_us"] == {"p50": 0.0, "p99": 0.0, "n": 0,
                                                               "after_start_up": False}
