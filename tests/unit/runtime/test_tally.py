"""Tally: a plain-int counter exported as an ordinary Prometheus counter and in heartbeats."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.runtime.metrics import ServiceMetrics, Tally


def test_a_tally_is_exported_as_a_counter_and_rides_in_heartbeat_samples() -> None:
    metrics = ServiceMetrics("strategy")
    tally = Tally("strategy_md_events", "Market events handled", metrics.registry)
    tally.value += 3
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())}
    family = families["strategy_md_events"]
    assert family.type == "counter"
    assert [(s.name, s.value) for s in family.samples] == [("strategy_md_events_total", 3.0)]
    assert any(s.name == "strategy_md_events_total" and s.value == 3 for s in metrics.samples())
