"""services.adapter.usage_window: broker calls spent in the sliding 10 s window."""

from __future__ import annotations

from services.adapter.usage_window import WINDOW_NS, BrokerUsageWindow
from services.runtime.clock import FakeClock


def test_window_is_ten_seconds() -> None:
    assert WINDOW_NS == 10_000_000_000
    assert BrokerUsageWindow(FakeClock()).window_ns == WINDOW_NS


def test_counts_calls_in_the_window() -> None:
    clock = FakeClock()
    usage = BrokerUsageWindow(clock)
    assert usage.in_window() == 0
    for _ in range(3):
        usage.record()
        clock.advance(1_000_000_000)
    assert usage.in_window() == 3


def test_forgets_each_call_ten_seconds_after_it() -> None:
    clock = FakeClock()
    usage = BrokerUsageWindow(clock)
    usage.record()  # t = 0
    clock.advance(4_000_000_000)
    usage.record()  # t = 4 s
    clock.advance(6_000_000_000 - 1)
    assert usage.in_window() == 2
    clock.advance(1)  # t = 10 s: the first call is out
    assert usage.in_window() == 1
    clock.advance(4_000_000_000)  # t = 14 s: the second too
    assert usage.in_window() == 0


def test_a_custom_window() -> None:
    clock = FakeClock()
    usage = BrokerUsageWindow(clock, window_ns=1_000)
    usage.record()
    usage.record()
    clock.advance(999)
    assert usage.in_window() == 2
    usage.record()
    clock.advance(1)
    assert usage.in_window() == 1
