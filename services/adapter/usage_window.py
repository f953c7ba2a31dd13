"""BrokerUsageWindow: how many broker calls were spent in the last 10 s (Shioaji's shared order budget).

Every call that spends the order budget (place, update, cancel, update_status) is recorded; the
count in the sliding window is what the adapter reports as AdapterUsage and, later, what the
rate limiter holds under the cap. Memory is bounded by the calls of one window.
"""

from __future__ import annotations

from collections import deque

from services.runtime.clock import Clock

WINDOW_NS = 10_000_000_000


class BrokerUsageWindow:
    def __init__(self, clock: Clock, window_ns: int = WINDOW_NS) -> None:
        self.clock = clock
        self.window_ns = window_ns
        self._calls: deque[int] = deque()

    def record(self) -> None:
        self._calls.append(self.clock.mono_ns())

    def in_window(self) -> int:
        """Calls made within the last window, as of now."""
        horizon = self.clock.mono_ns() - self.window_ns
        calls = self._calls
        while calls and calls[0] <= horizon:
            calls.popleft()
        return len(calls)
