"""services.risk.validators.order_rate: sliding windows per strategy and for the desk, scaled by StormGuard."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.enums import IntentAction, Reason, Side
from contracts.messages import GLOBAL_SCOPE, OrderIntent
from services.risk.validators.order_rate import OrderRateValidator, allowed_count
from services.runtime.clock import FakeClock
from services.runtime.config.strategy_limits import GlobalLimits, OrderLimits

MS = 1_000_000


def intent(strategy_id: str = "mm1", n: int = 1) -> OrderIntent:
    return OrderIntent(
        intent_id=f"{strategy_id}.e1.{n}", strategy_id=strategy_id, seq=n, action=IntentAction.NEW,
        client_order_id=f"{strategy_id}.e1.{n}", symbol="2330", side=Side.BUY, qty=1, price_e4=10_000_000,
        created_ts_ns=0, ingest_ts_ns=0, deadline_ns=0,
    )


class Rates:
    def __init__(self, *, per_strategy: int = 3, window_ms: int = 1000, desk: int = 400, desk_window_ms: int = 1000,
                 strategies: tuple[str, ...] = ("mm1",)) -> None:
        self.clock = FakeClock()
        self.multipliers: dict[str, Decimal] = {}
        self.asked: list[str] = []
        limits = {sid: OrderLimits(max_orders_per_window=per_strategy, rate_window_ms=window_ms) for sid in strategies}
        self.validator = OrderRateValidator(
            self.clock, limits, GlobalLimits(max_orders_per_window=desk, rate_window_ms=desk_window_ms),
            self.multiplier,
        )

    def multiplier(self, scope: str) -> Decimal:
        self.asked.append(scope)
        return self.multipliers.get(scope, Decimal(1))

    def passes(self, strategy_id: str = "mm1") -> bool:
        return self.validator.check(intent(strategy_id)) is None

    def burst(self, count: int, strategy_id: str = "mm1") -> list[bool]:
        return [self.passes(strategy_id) for _ in range(count)]


def test_window_holds_its_limit_and_slides() -> None:
    rates = Rates(per_strategy=3, window_ms=1000)
    assert rates.burst(3) == [True, True, True]
    rejection = rates.validator.check(intent())
    assert rejection is not None and rejection.reason is Reason.ORDER_RATE
    assert rejection.detail == "mm1: 3 orders in the last 1000 ms, allowed 3"
    rates.clock.advance(1000 * MS - 1)
    assert not rates.passes()  # the first is still inside (now − 1000 ms, now]
    rates.clock.advance(1)
    assert rates.burst(4) == [True, True, True, False]  # all three slid out together


def test_the_window_slides_one_order_at_a_time() -> None:
    rates = Rates(per_strategy=3, window_ms=1000)
    assert rates.passes()  # 0 ms
    rates.clock.advance(400 * MS)
    assert rates.passes()  # 400 ms
    rates.clock.advance(400 * MS)
    assert rates.burst(2) == [True, False]  # 800 ms
    rates.clock.advance(200 * MS - 1)
    assert not rates.passes()
    rates.clock.advance(1)  # 1000 ms: the one sent at 0 slid out
    assert rates.burst(2) == [True, False]
    rates.clock.advance(400 * MS)  # 1400 ms: the one sent at 400 slid out
    assert rates.burst(2) == [True, False]


def test_a_rejected_intent_does_not_use_up_the_window() -> None:
    rates = Rates(per_strategy=2, window_ms=1000)
    assert rates.burst(2) == [True, True]
    rates.clock.advance(500 * MS)
    assert rates.burst(50) == [False] * 50
    rates.clock.advance(500 * MS)  # the two passes slid out; the 50 rejects were never counted
    assert rates.burst(3) == [True, True, False]


@pytest.mark.parametrize(
    ("limit", "multiplier", "allowed"),
    [(10, "1", 10), (10, "0.5", 5), (10, "0.25", 2), (3, "0.5", 1), (10, "0.01", 1), (10, "0.125", 1),
     (200, "0.25", 50), (10, "1.5", 10)],
)
def test_allowed_count_is_the_floor_of_the_scaled_limit_at_least_one(limit: int, multiplier: str, allowed: int) -> None:
    assert allowed_count(limit, Decimal(multiplier)) == allowed


def test_multiplier_scales_the_strategy_window_as_it_changes() -> None:
    rates = Rates(per_strategy=10, window_ms=1000)
    rates.multipliers["mm1"] = Decimal("0.5")
    assert rates.burst(6) == [True] * 5 + [False]
    rejection = rates.validator.check(intent())
    assert rejection is not None
    assert rejection.detail == "mm1: 5 orders in the last 1000 ms, allowed 5 (limit 10 × 0.5)"
    rates.multipliers["mm1"] = Decimal("0.25")  # tighter at once: 5 already sent, 2 allowed
    assert not rates.passes()
    rates.multipliers["mm1"] = Decimal(1)  # loosened: room for the other five
    assert rates.burst(6) == [True] * 5 + [False]


def test_desk_window_counts_every_strategy_and_uses_the_global_multiplier() -> None:
    rates = Rates(per_strategy=3, desk=4, strategies=("mm1", "mm2"))
    assert rates.burst(3, "mm1") == [True] * 3
    assert rates.burst(2, "mm2") == [True, False]
    rejection = rates.validator.check(intent("mm2"))
    assert rejection is not None and rejection.reason is Reason.ORDER_RATE
    assert rejection.detail.startswith("desk: 4 orders")
    assert GLOBAL_SCOPE in rates.asked and "mm2" in rates.asked
    rates.clock.advance(1000 * MS)
    rates.multipliers[GLOBAL_SCOPE] = Decimal("0.5")  # broker slow-down: the desk gets 2
    assert rates.burst(3, "mm2") == [True, True, False]


def test_an_intent_the_desk_refuses_is_not_counted_for_its_strategy() -> None:
    rates = Rates(per_strategy=3, desk=2, desk_window_ms=100, strategies=("mm1", "mm2"))
    assert rates.burst(2, "mm2") == [True, True]
    assert rates.burst(5, "mm1") == [False] * 5  # the desk is full
    rates.clock.advance(100 * MS)  # the desk window is shorter: it empties, mm1's own is still unused
    assert rates.burst(2, "mm1") == [True, True]
    rates.clock.advance(100 * MS)
    assert rates.burst(2, "mm1") == [True, False]  # mm1: 3 in its 1000 ms window


def test_strategy_windows_are_separate() -> None:
    rates = Rates(per_strategy=2, strategies=("mm1", "mm2"))
    assert rates.burst(3, "mm1") == [True, True, False]
    assert rates.burst(3, "mm2") == [True, True, False]


def test_unknown_strategy_has_no_rate_allowance() -> None:
    rejection = Rates().validator.check(intent("ghost"))
    assert rejection is not None and rejection.reason is Reason.ORDER_RATE


def test_memory_is_bounded_by_the_limit() -> None:
    rates = Rates(per_strategy=5, desk=7, strategies=("mm1", "mm2"))
    for _ in range(1000):
        rates.passes("mm1")
        rates.passes("mm2")
        rates.clock.advance(3 * MS)
    validator = rates.validator
    assert len(validator.windows["mm1"].times_ns) <= 5
    assert len(validator.windows["mm2"].times_ns) <= 5
    assert len(validator.desk.times_ns) <= 7
    assert validator.windows["mm1"].times_ns.maxlen == 5 and validator.desk.times_ns.maxlen == 7


def test_new_limits_carry_over_the_windows() -> None:
    rates = Rates(per_strategy=5, desk=8, strategies=("mm1", "mm2"))
    assert rates.burst(4, "mm1") == [True] * 4
    assert rates.burst(2, "mm2") == [True] * 2
    reloaded = OrderRateValidator(
        rates.clock, {"mm1": OrderLimits(max_orders_per_window=3), "mm3": OrderLimits(max_orders_per_window=3)},
        GlobalLimits(max_orders_per_window=7), rates.multiplier,
    )
    reloaded.carry_over(rates.validator)
    assert len(reloaded.windows["mm1"].times_ns) == 3  # the newest three of four: already full
    assert reloaded.check(intent("mm1")) is not None
    assert reloaded.check(intent("mm3")) is None  # the desk had 6 of 7
    assert reloaded.check(intent("mm3")) is not None
