"""RateLimiter: holds every broker call that spends Shioaji's order budget under the cap, keeping a reserve for cancels.

Shioaji lets place, update and cancel orders and update_status share ONE budget of 250 calls per
10 s and suspends the account beyond it, so the adapter asks this limiter before each such call.
It is one sliding window over every granted call, a deque of grant times (memory bounded by the
calls of one window, O(1) amortised per call).

Boundary rule: a call granted at mono time t counts in the window from t up to, but not including,
t + window_ns; as of `now` the window holds the calls granted in (now - window_ns, now]. A grant
is made only if the window, counting the new call, stays within its limit, so no half-open
interval of length window_ns ever holds more than `cap` grants. Two calls exactly window_ns apart
are never in the same window.

The top `reserve` slots of the cap are kept for URGENT calls (cancels and the kill switch): a
NORMAL call (new, amend, query) is granted only while fewer than cap - reserve calls are in the
window, an URGENT one while fewer than cap are.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum

from services.runtime.clock import Clock

WINDOW_NS = 10_000_000_000


class Priority(IntEnum):
    URGENT = 0
    NORMAL = 1


@dataclass(frozen=True, slots=True)
class Grant:
    """One slot of the window, granted at `granted_ns`: what `release` takes to give exactly it back."""

    granted_ns: int
    priority: Priority


class RateLimiter:
    def __init__(self, clock: Clock, cap: int, reserve: int, window_ns: int = WINDOW_NS) -> None:
        if cap <= 0:
            raise ValueError(f"cap must be positive, got {cap}")
        if not 0 <= reserve < cap:
            raise ValueError(f"reserve must be in [0, cap), got {reserve} with cap {cap}")
        if window_ns <= 0:
            raise ValueError(f"window_ns must be positive, got {window_ns}")
        self.clock = clock
        self.cap = cap
        self.reserve = reserve
        self.window_ns = window_ns
        self._limits = (cap, cap - reserve)  # indexed by Priority
        self._grants: deque[int] = deque()

    def _expire(self, now_ns: int) -> deque[int]:
        grants = self._grants
        horizon = now_ns - self.window_ns
        while grants and grants[0] <= horizon:
            grants.popleft()
        return grants

    def acquire(self, priority: Priority) -> Grant | None:
        """Grant one call now and count it, or refuse it (None) without counting anything."""
        now_ns = self.clock.mono_ns()
        grants = self._expire(now_ns)
        if len(grants) >= self._limits[priority]:
            return None
        grants.append(now_ns)
        return Grant(now_ns, priority)

    def release(self, grant: Grant) -> None:
        """Give back the slot of `grant`: that call provably never reached the broker.
        Exactly that grant goes (a newer one in its place would leave the window later than the
        broker's count does); nothing if it has already left the window."""
        granted_ns = grant.granted_ns
        grants = self._expire(self.clock.mono_ns())
        for index in range(len(grants) - 1, -1, -1):
            if grants[index] == granted_ns:
                del grants[index]
                return
            if grants[index] < granted_ns:
                return

    def spend(self) -> bool:
        """Count a call that goes out whether or not there is room (start-up's blocking status
        refresh); False when it put the window over the cap."""
        now_ns = self.clock.mono_ns()
        grants = self._expire(now_ns)
        grants.append(now_ns)
        return len(grants) <= self.cap

    def restore(self, grants_ns: list[int]) -> None:
        """Count calls made before this limiter existed (a restarted adapter's last run), oldest first."""
        horizon = self.clock.mono_ns() - self.window_ns
        self._grants.extendleft(reversed([t for t in grants_ns if t > horizon]))

    def in_window(self) -> int:
        """Calls granted in the window as of now."""
        return len(self._expire(self.clock.mono_ns()))

    def next_slot_ns(self, priority: Priority) -> int:
        """When acquire(priority) will first succeed if nothing is granted before: now if it would now."""
        now_ns = self.clock.mono_ns()
        grants = self._expire(now_ns)
        excess = len(grants) - self._limits[priority]
        if excess < 0:
            return now_ns
        # The oldest excess + 1 grants must leave the window; the last of them leaves window_ns after it was granted.
        return grants[excess] + self.window_ns
