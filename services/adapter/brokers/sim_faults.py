"""What makes the simulator misbehave like the real broker: its own order budget, and injected faults.

OrderBudget is Shioaji's rule for order calls (place, update_status, update_qty, update_price and
cancel_order share one budget): more than `rate_cap` calls within `rate_window_ms` suspends the
account for `suspension_ms`, and every call in that time is refused.

SimFaults decides, when a call is made, how it will go wrong: from the config's rates with a
seeded generator (a run is reproducible for one seed and one sequence of calls), or from one-shot
hooks that tests set so they do not depend on chance.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from contracts.enums import BrokerAction
from services.adapter.brokers.base import BrokerError
from services.runtime.config.order_adapter import SimBrokerConfig

NS_PER_MS = 1_000_000

EXCHANGE_REJECTS = ("價格超過漲跌停範圍", "可委託金額不足", "委託數量超過上限", "證券代號錯誤")
"""op_msg texts of exchange rejections (price outside the daily limits, not enough buying power,
quantity over the per-order limit, unknown symbol): what Shioaji puts in a failed order event."""


def max_calls_in_window(call_times_ns: Sequence[int], window_ns: int) -> int:
    """The most calls any sliding window of `window_ns` held, exactly.

    Two calls `window_ns` or more apart never share a window: the broker counts, at each call,
    the calls of the last `window_ns` that came strictly after now - window_ns.
    """
    times = sorted(call_times_ns)
    most = 0
    start = 0
    for end, time_ns in enumerate(times):
        while time_ns - times[start] >= window_ns:
            start += 1
        most = max(most, end - start + 1)
    return most


class OrderBudget:
    """The broker's own rate limit: every call that arrives counts, refused ones included."""

    def __init__(
        self, config: SimBrokerConfig, recent_calls_ns: Iterable[int] = (), suspended_until_ns: int = 0,
    ) -> None:
        self.cap = config.rate_cap
        self.window_ns = config.rate_window_ms * NS_PER_MS
        self.suspension_ns = config.suspension_ms * NS_PER_MS
        self.suspended_until_ns = suspended_until_ns
        self._window: deque[int] = deque(recent_calls_ns)

    def refusal(self, now_ns: int) -> str:
        """Count a call arriving now; the broker's refusal message, or "" when the call may proceed."""
        self._window.append(now_ns)
        while self._window[0] <= now_ns - self.window_ns:
            self._window.popleft()
        if now_ns < self.suspended_until_ns:
            return self._message(f"account suspended for {(self.suspended_until_ns - now_ns) // NS_PER_MS} ms more")
        if len(self._window) > self.cap:
            self.suspended_until_ns = now_ns + self.suspension_ns
            return self._message(f"{len(self._window)} order calls within {self.window_ns // NS_PER_MS} ms "
                                 f"(limit {self.cap}): suspended for {self.suspension_ns // NS_PER_MS} ms")
        return ""

    @staticmethod
    def _message(why: str) -> str:
        """Shioaji has no rate-limit exception: over-use surfaces as a TokenError (401)."""
        return f"TokenError(401): Token is expired: {why}"


@dataclass(slots=True)
class CallPlan:
    """How one call will go wrong, decided when it is made."""

    late_ns: int = 0
    """Extra delay, after the call is processed, before its answers are delivered (the call 'times out')."""
    reject_detail: str = ""
    """A NEW the exchange rejects, with this op_msg."""
    deals_first: bool = False
    """A NEW that matches at once has its FILLs delivered before its ACK."""
    duplicate: bool = False
    """Every event of the call is delivered twice."""


@dataclass(frozen=True, slots=True)
class InjectedFailure:
    """A call that raises `error`; with `went_live` the broker still got it and acts on it."""

    error: BrokerError
    went_live: bool


class SimFaults:
    """The config's fault rates (seeded) and the one-shot hooks tests set."""

    def __init__(self, config: SimBrokerConfig) -> None:
        self._config = config
        self._rng = random.Random(config.seed)
        self.base_latency_ns = config.ack_latency_us * 1000
        self._failures: deque[InjectedFailure] = deque()
        self._next_delay_ns: int | None = None
        self._next_reject = ""
        self._next_deals_first = False
        self._next_duplicate = False

    def fail_next(self, error: BrokerError, *, went_live: bool = False) -> None:
        """The next call raises `error` (queued: each call takes one). `went_live=True`: the broker got the
        call anyway (an OrderOutcomeUnknown whose order exists), processes it and answers as usual."""
        self._failures.append(InjectedFailure(error, went_live))

    def delay_next_answers(self, delay_ns: int) -> None:
        """The next call that reaches the broker is processed on time, but answered only `delay_ns` after it."""
        self._next_delay_ns = delay_ns

    def reject_next(self, detail: str = EXCHANGE_REJECTS[0]) -> None:
        """The next NEW is rejected by the exchange with this op_msg."""
        self._next_reject = detail

    def deals_before_ack_next(self) -> None:
        """The next NEW, if it matches at once, has its deals delivered before its ack."""
        self._next_deals_first = True

    def duplicate_next(self) -> None:
        """Every event of the next call that reaches the broker (queries excepted) is delivered twice."""
        self._next_duplicate = True

    def take_failure(self) -> InjectedFailure | None:
        return self._failures.popleft() if self._failures else None

    def latency_ns(self) -> int:
        """When the broker processes a call: the configured latency plus uniform jitter, plus the tail's
        delay for a call that meets it (tail_rate)."""
        config = self._config
        jitter_us = config.latency_jitter_us
        tail_us = config.tail_latency_us if self._chance(config.tail_rate) else 0
        return self.base_latency_ns + (self._rng.randint(0, jitter_us) * 1000 if jitter_us else 0) + tail_us * 1000

    def plan(self, action: BrokerAction, latency_ns: int) -> CallPlan:
        """The faults of one call that reaches the broker; takes the hooks that apply to it (a query answers
        with a status, never duplicated; only a place can be rejected or see deals before its ack)."""
        plan = CallPlan(late_ns=max(0, self._answer_delay_ns() - latency_ns))
        if action is not BrokerAction.QUERY:
            plan.duplicate = self._take_duplicate()
        if action is BrokerAction.PLACE:
            plan.reject_detail = self._take_reject()
            plan.deals_first = self._take_deals_first()
        return plan

    def duplicate_event(self) -> bool:
        """Whether one more event is delivered twice (duplicate_rate)."""
        return self._chance(self._config.duplicate_rate)

    def _answer_delay_ns(self) -> int:
        delay_ns, self._next_delay_ns = self._next_delay_ns, None
        if delay_ns is not None:
            return delay_ns
        return self._config.late_answer_ms * NS_PER_MS if self._chance(self._config.timeout_rate) else 0

    def _take_duplicate(self) -> bool:
        hooked, self._next_duplicate = self._next_duplicate, False
        return hooked

    def _take_reject(self) -> str:
        detail, self._next_reject = self._next_reject, ""
        if detail:
            return detail
        return self._rng.choice(EXCHANGE_REJECTS) if self._chance(self._config.reject_rate) else ""

    def _take_deals_first(self) -> bool:
        hooked, self._next_deals_first = self._next_deals_first, False
        return hooked or self._chance(self._config.deal_before_ack_rate)

    def _chance(self, rate: float) -> bool:
        """Draws only when the rate is set, so a run with every fault off never touches the generator."""
        return rate > 0 and self._rng.random() < rate
