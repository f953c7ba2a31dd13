"""The momentum taker and the misbehaving strategy, driven through the real runner."""

from __future__ import annotations

from decimal import Decimal

from contracts.enums import ExecType, OrderStatus, Side, StormGuardLevel, TimeInForce
from contracts.messages import StormGuardState
from contracts.prices import to_e4
from services.strategy.strategies.misbehaving import Misbehaving
from services.strategy.strategies.momentum import Momentum
from services.strategy.strategies.quoter import Quoter
from tests.unit.strategy.test_runner import Harness

PARAMS = {"qty": 2, "lookback": 4, "trigger_ticks": 3, "max_position": 2}


def walk(h: Harness, start: str, step: str, count: int) -> list:
    intents = []
    for k in range(count):
        bid = Decimal(start) + Decimal(step) * k
        intents += h.book(bid=str(bid), ask=str(bid + 1))
    return intents


def test_momentum_buys_at_the_ask_when_the_mid_rises_by_the_trigger() -> None:
    h = Harness()
    h.add(Momentum("mo", ["2330"], PARAMS))
    assert walk(h, "990", "1", 3) == [], "not enough history yet"
    (buy,) = h.book(bid="993", ask="994")
    assert (buy.side, buy.qty, buy.price_e4, buy.tif) == (Side.BUY, 2, to_e4("994"), TimeInForce.IOC)


def test_momentum_sells_at_the_bid_when_the_mid_falls() -> None:
    h = Harness()
    h.add(Momentum("mo", ["2330"], PARAMS))
    (sell,) = walk(h, "995", "-1", 4)
    assert (sell.side, sell.price_e4) == (Side.SELL, to_e4("992"))


def test_momentum_stays_within_its_position_and_is_close_only_in_storm() -> None:
    h = Harness()
    h.add(Momentum("mo", ["2330"], PARAMS))
    (buy,) = walk(h, "990", "1", 4)
    h.report(buy, ExecType.FILL, OrderStatus.FILLED, cum_qty=2, leaves_qty=0, last_qty=2)
    assert walk(h, "994", "1", 4) == [], "at max_position it buys no more"
    h.runner.on_stormguard(StormGuardState(seq=1, global_level=StormGuardLevel.STORM, ts_ns=0))
    assert walk(h, "998", "1", 4) == [], "STORM: a long does not buy"
    (sell,) = walk(h, "1010", "-1", 4)
    assert (sell.side, sell.qty) == (Side.SELL, 2), "STORM: selling toward flat is fine"
    h.runner.on_stormguard(StormGuardState(seq=2, global_level=StormGuardLevel.HALT, ts_ns=0))
    assert walk(h, "1000", "-1", 8) == []


def test_misbehaving_is_slow_then_raises_and_only_it_stops() -> None:
    h = Harness()
    h.add(Misbehaving("bad", ["2330"], {"slow_every": 2, "slow_us": 60_000, "raise_after": 5}),
          budget_us=20_000)
    h.add(Quoter("mm", ["2330"], {"qty": 1, "max_position": 5}))
    for _ in range(6):
        h.book()
    assert h.metric("strategy_budget_violations_total", strategy="bad") == 2
    assert h.metric("strategy_errors_total", strategy="bad") == 1
    assert h.runner.hosted["bad"].enabled is False
    assert h.runner.hosted["mm"].enabled is True
    assert h.metric("intents_total", strategy="mm", action="new") == 2
