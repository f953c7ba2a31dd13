"""services.adapter.timers: a timer's handle cancels it."""

from __future__ import annotations

from services.adapter.timers import Timers
from services.runtime.clock import FakeClock, ManualScheduler


def test_a_cancelled_timer_never_runs() -> None:
    clock = FakeClock()
    scheduler = ManualScheduler(clock)
    timers = Timers(scheduler)
    ran: list[str] = []
    kept = timers.call_later(10, lambda: ran.append("kept"))
    dropped = timers.call_later(5, lambda: ran.append("dropped"))
    dropped.cancel()
    scheduler.advance(20)
    assert ran == ["kept"]
    assert not kept.pending and not dropped.pending
