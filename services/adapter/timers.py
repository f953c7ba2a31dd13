"""Timers with handles: the adapter's deferred callbacks, each one cancellable by whoever set it.

Wraps the loop's Scheduler (ServiceLoop.call_later, or ManualScheduler in tests), which has no way
to take a callback back: a cancelled handle stays in the scheduler until its time and then does
nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from services.runtime.clock import Scheduler


class TimerHandle:
    """One callback set for later: `pending` until it runs or is cancelled; `cancel` makes sure it never runs."""

    __slots__ = ("_callback", "pending")

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self.pending = True

    def cancel(self) -> None:
        self.pending = False

    def fire(self) -> None:
        if self.pending:
            self.pending = False
            self._callback()


class Timers:
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    def call_later(self, delay_ns: int, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback` on the loop after `delay_ns`, unless the handle is cancelled first."""
        handle = TimerHandle(callback)
        self._scheduler.call_later(delay_ns, handle.fire)
        return handle
