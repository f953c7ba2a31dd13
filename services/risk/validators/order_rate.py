"""OrderRate: how many NEW and AMEND intents a strategy, and the whole desk, may send per sliding window.

Each window is a deque of the monotonic times of the intents it let through. The count allowed is
the configured one scaled by StormGuard's rate multiplier (WARM halves it, broker slow-down cuts it
further): floor(limit × multiplier), never below one and never above the limit, so a window holds
at most its configured limit of timestamps. The desk window uses the multiplier of GLOBAL_SCOPE.
An intent that passes is counted in both windows; a rejected one in neither. The engine runs
this check last, so only intents that pass everything else use up the rate.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal

from contracts.enums import Reason
from contracts.messages import GLOBAL_SCOPE, OrderIntent
from services.risk.validators.base import Rejection
from services.runtime.clock import Clock
from services.runtime.config.strategy_limits import GlobalLimits, OrderLimits


def allowed_count(limit: int, multiplier: Decimal) -> int:
    """floor(limit × multiplier), clamped to 1..limit."""
    if multiplier >= 1:
        return limit
    scaled = int((limit * multiplier).to_integral_value(rounding=ROUND_FLOOR))
    return max(1, scaled)


class SlidingWindow:
    """Times of the events let through in the last `window_ns`, at most `limit` of them."""

    def __init__(self, limit: int, window_ns: int) -> None:
        self.limit = limit
        self.window_ns = window_ns
        self.times_ns: deque[int] = deque(maxlen=limit)
        self._allowed: dict[Decimal, int] = {}

    def allowed(self, multiplier: Decimal) -> int:
        allowed = self._allowed.get(multiplier)
        if allowed is None:
            if len(self._allowed) >= 16:  # StormGuard uses a handful of multipliers; stay bounded anyway
                self._allowed.clear()
            allowed = self._allowed[multiplier] = allowed_count(self.limit, multiplier)
        return allowed

    def has_room(self, now_ns: int, multiplier: Decimal) -> bool:
        """Whether one more event fits in (now − window_ns, now] under the multiplier; older events are forgotten."""
        times = self.times_ns
        horizon = now_ns - self.window_ns
        while times and times[0] <= horizon:
            times.popleft()
        allowed = self._allowed.get(multiplier)
        return len(times) < (self.allowed(multiplier) if allowed is None else allowed)


class OrderRateValidator:
    def __init__(
        self,
        clock: Clock,
        limits: dict[str, OrderLimits],
        global_limits: GlobalLimits,
        multiplier: Callable[[str], Decimal],
    ) -> None:
        self.clock = clock
        self.multiplier = multiplier
        self.windows = {
            sid: SlidingWindow(lim.max_orders_per_window, lim.rate_window_ms * 1_000_000) for sid, lim in limits.items()
        }
        self.desk = SlidingWindow(global_limits.max_orders_per_window, global_limits.rate_window_ms * 1_000_000)

    def carry_over(self, previous: OrderRateValidator) -> None:
        """Take over the windows of the validator this one replaces (new limits, same desk), so a config
        reload does not hand every strategy a fresh window; the newest times are kept up to each new limit."""
        for strategy_id, window in self.windows.items():
            old = previous.windows.get(strategy_id)
            if old is not None:
                window.times_ns.extend(old.times_ns)
        self.desk.times_ns.extend(previous.desk.times_ns)

    def start_day(self) -> None:
        """A new trading day: every window starts empty."""
        for window in (*self.windows.values(), self.desk):
            window.times_ns.clear()

    def check(self, intent: OrderIntent) -> Rejection | None:
        """Refuse an intent that would overfill its strategy's window or the desk's; count one that passes in both."""
        strategy_id = intent.strategy_id
        window = self.windows.get(strategy_id)
        if window is None:
            return Rejection(Reason.ORDER_RATE, f"no order rate allowance for {strategy_id}")
        now = self.clock.mono_ns()
        multiplier = self.multiplier(strategy_id)
        if not window.has_room(now, multiplier):
            return self._full(strategy_id, window, multiplier)
        desk = self.desk
        multiplier = self.multiplier(GLOBAL_SCOPE)
        if not desk.has_room(now, multiplier):
            return self._full("desk", desk, multiplier)
        window.times_ns.append(now)
        desk.times_ns.append(now)
        return None

    @staticmethod
    def _full(scope: str, window: SlidingWindow, multiplier: Decimal) -> Rejection:
        """Why the window has no room, right after `has_room` said so."""
        allowed = window.allowed(multiplier)
        scaled = "" if allowed == window.limit else f" (limit {window.limit} × {multiplier})"
        return Rejection(
            Reason.ORDER_RATE,
            f"{scope}: {len(window.times_ns)} orders in the last {window.window_ns // 1_000_000} ms, "
            f"allowed {allowed}{scaled}",
        )
