"""BudgetWatch: a strategy's compute-budget violations in a sliding minute.

The plan's rule: more than three violations a minute raises an alert (and, if the strategy's
config asks for it, disables the strategy). The window reads the injected clock, so the rule is
tested without waiting a minute; the calls themselves are timed with perf_counter_ns.
"""

from __future__ import annotations

from collections import deque

from services.runtime.clock import Clock

WINDOW_NS = 60_000_000_000
MAX_PER_WINDOW = 3


class BudgetWatch:
    def __init__(self, clock: Clock, max_per_window: int = MAX_PER_WINDOW, window_ns: int = WINDOW_NS) -> None:
        self.clock = clock
        self.max_per_window = max_per_window
        self.window_ns = window_ns
        self._violations: deque[int] = deque(maxlen=max_per_window + 1)

    def violated(self) -> bool:
        """Record one violation; True when this one makes more than the allowed number in the window."""
        now = self.clock.mono_ns()
        violations = self._violations
        while violations and violations[0] <= now - self.window_ns:
            violations.popleft()
        violations.append(now)
        return len(violations) > self.max_per_window
