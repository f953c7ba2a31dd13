"""ServiceMetrics' heartbeat samples: what `orderpath up`, `ctl status` and the run summary read."""

from __future__ import annotations

from prometheus_client import Histogram

from services.runtime.metrics import ServiceMetrics


def test_heartbeat_samples_carry_histogram_buckets_and_no_created_stamps() -> None:
    metrics = ServiceMetrics("adapter")
    latency = Histogram("tick_to_trade_latency_seconds", "ingest to broker call", buckets=(1e-4, 1e-3),
                        registry=metrics.registry)
    latency.observe(5e-4)
    samples = {(s.name, s.labels.get("le")): s.value for s in metrics.samples()
               if s.name.startswith("tick_to_trade_latency_seconds")}
    assert samples == {
        ("tick_to_trade_latency_seconds_bucket", "0.0001"): 0.0,
        ("tick_to_trade_latency_seconds_bucket", "0.001"): 1.0,
        ("tick_to_trade_latency_seconds_bucket", "+Inf"): 1.0,
        ("tick_to_trade_latency_seconds_count", None): 1.0,
        ("tick_to_trade_latency_seconds_sum", None): 5e-4,
    }
    assert not any(s.name.endswith("_created") for s in metrics.samples())
