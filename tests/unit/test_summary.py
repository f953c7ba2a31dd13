"""The run summary read off control's status: the counters of every instance of a service add up."""

from __future__ import annotations

from typing import Any

from services.summary import summarize


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
                         ["tick_to_trade_samples", {}, 5.0]),
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
