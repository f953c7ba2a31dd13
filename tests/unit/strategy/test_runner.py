"""services.strategy: the StrategyRunner, the StrategyContext verbs, the Quoter and the loader."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest
import structlog
from prometheus_client import CollectorRegistry

from contracts.enums import (
    ExecType,
    IntentAction,
    OrderStatus,
    Reason,
    Side,
    StormGuardLevel,
    TimeInForce,
)
from contracts.messages import AdapterUsage, ExecutionReport, MarketEvent, OrderIntent, RiskDecision, StormGuardState
from contracts.prices import to_e4
from services.runtime.clock import FakeClock
from services.runtime.config.strategy_limits import StrategyEntry
from services.strategy.api import Strategy, StrategyContext, StrategyState
from services.strategy.loader import StrategyLoadError, load_strategy
from services.strategy.runner import RunnerMetrics, StrategyRunner
from services.strategy.strategies.quoter import Quoter

TTL_MS = 500
TTL_NS = TTL_MS * 1_000_000
LONG_BUDGET_US = 60_000_000  # a minute: never exceeded by these strategies


class Recorder(Strategy):
    """Buys one lot at the best bid on every book (if `buy` is set) and remembers what it saw."""

    def __init__(self, strategy_id: str, symbols: list[str], params: dict[str, Any] | None = None) -> None:
        super().__init__(strategy_id, symbols, params or {})
        self.books: list[MarketEvent] = []
        self.fills: list[ExecutionReport] = []
        self.rejects: list[RiskDecision] = []
        self.started = 0
        self.levels: list[StormGuardLevel] = []

    def on_start(self, ctx: StrategyContext) -> None:
        self.started += 1

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        self.books.append(event)
        self.levels.append(ctx.stormguard)
        if self.params.get("buy", True):
            ctx.buy(event.symbol, 1, event.bid_prices_e4[0])

    def on_fill(self, ctx: StrategyContext, report: ExecutionReport) -> None:
        self.fills.append(report)

    def on_reject(self, ctx: StrategyContext, decision: RiskDecision) -> None:
        self.rejects.append(decision)


class Exploder(Strategy):
    def __init__(self, strategy_id: str, symbols: list[str], *, buy_first: bool = False) -> None:
        super().__init__(strategy_id, symbols, {})
        self.calls = 0
        self.buy_first = buy_first

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        self.calls += 1
        if self.buy_first:
            ctx.buy(event.symbol, 1, event.bid_prices_e4[0])
        raise RuntimeError("boom")


class Spinner(Strategy):
    """Spends more than its budget for certain: it spins until perf_counter_ns has moved past it."""

    def __init__(self, strategy_id: str, symbols: list[str], spin_ns: int) -> None:
        super().__init__(strategy_id, symbols, {})
        self.spin_ns = spin_ns

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        started = time.perf_counter_ns()
        while time.perf_counter_ns() - started <= self.spin_ns:
            pass


class Harness:
    def __init__(self) -> None:
        self.clock = FakeClock(mono_ns=7_000_000_000)
        self.registry = CollectorRegistry()
        self.runner = StrategyRunner(self.clock, RunnerMetrics(self.registry), structlog.get_logger(), epoch="e1")
        self.md_seq = 0
        self.exec_seq = 0

    def add(self, strategy: Strategy, *, budget_us: int = LONG_BUDGET_US, enabled: bool = True,
            disable_on_budget: bool = False) -> None:
        self.runner.add(strategy, budget_us=budget_us, intent_ttl_ms=TTL_MS, enabled=enabled,
                        disable_on_budget=disable_on_budget)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def book(self, bid: str = "999", ask: str = "1000", symbol: str = "2330") -> list[OrderIntent]:
        self.md_seq += 1
        event = MarketEvent(
            symbol=symbol, seq=self.md_seq, exch_ts_ns=1, ingest_ts_ns=self.clock.mono_ns() - 50_000,
            bid_prices_e4=[to_e4(bid)] if bid else [], bid_qtys=[5] if bid else [],
            ask_prices_e4=[to_e4(ask)] if ask else [], ask_qtys=[5] if ask else [],
        )
        return self.runner.on_market(event)

    def report(
        self, intent: OrderIntent, exec_type: ExecType, status: OrderStatus, *, cum_qty: int = 0,
        leaves_qty: int | None = None, last_qty: int = 0, price_e4: int | None = None,
    ) -> list[OrderIntent]:
        self.exec_seq += 1
        return self.runner.on_execution(ExecutionReport(
            seq=self.exec_seq, client_order_id=intent.client_order_id, intent_id=intent.intent_id,
            strategy_id=intent.strategy_id, symbol=intent.symbol, side=intent.side, exec_type=exec_type,
            status=status, price_e4=intent.price_e4 if price_e4 is None else price_e4, qty=intent.qty,
            cum_qty=cum_qty, leaves_qty=intent.qty - cum_qty if leaves_qty is None else leaves_qty,
            last_price_e4=intent.price_e4 if last_qty else 0, last_qty=last_qty, ts_ns=0,
        ))

    def ack(self, intent: OrderIntent) -> list[OrderIntent]:
        return self.report(intent, ExecType.ACK, OrderStatus.WORKING)

    def reject(self, intent: OrderIntent, reason: Reason = Reason.SIZE_LIMIT) -> list[OrderIntent]:
        return self.runner.on_reject(RiskDecision(
            seq=1, intent_id=intent.intent_id, strategy_id=intent.strategy_id,
            client_order_id=intent.client_order_id, action=intent.action, approved=False, reason=reason, ts_ns=0,
        ))

    def state(self, sid: str = "s1") -> StrategyState:
        return self.runner.states[sid]


@pytest.fixture
def h() -> Harness:
    return Harness()


# --- runner: dispatch and intents ------------------------------------------------------------


def test_only_strategies_trading_the_symbol_are_called(h: Harness) -> None:
    tsmc, honhai = Recorder("s1", ["2330"]), Recorder("s2", ["2317", "2454"])
    h.add(tsmc)
    h.add(honhai)
    intents = h.book(symbol="2330")
    assert len(tsmc.books) == 1 and honhai.books == []
    assert [i.strategy_id for i in intents] == ["s1"]
    h.book(symbol="2454")
    assert len(tsmc.books) == 1 and len(honhai.books) == 1
    assert h.book(symbol="9999") == []
    assert h.runner.symbols == ["2317", "2330", "2454"]
    assert h.metric("strategy_md_events_total") == 3


def test_on_start_runs_once_before_the_first_book(h: Harness) -> None:
    strategy = Recorder("s1", ["2330"])
    h.add(strategy)
    assert strategy.started == 0
    h.book()
    h.book()
    assert strategy.started == 1


def test_intents_are_stamped_from_the_event_and_the_clock(h: Harness) -> None:
    h.add(Recorder("s1", ["2330"]))
    h.clock.advance(1_234)
    (first,) = h.book(bid="999.5")
    assert first.intent_id == first.client_order_id == "s1.e1.1"
    assert first.seq == 1
    assert (first.action, first.side, first.qty, first.price_e4) == (IntentAction.NEW, Side.BUY, 1, to_e4("999.5"))
    assert first.md_seq == 1
    assert first.ingest_ts_ns == h.clock.mono_ns() - 50_000
    assert first.deadline_ns == h.clock.mono_ns() + TTL_NS
    assert first.created_ts_ns == h.clock.wall_ns()
    h.clock.advance(10_000)
    (second,) = h.book()
    assert (second.intent_id, second.seq, second.md_seq) == ("s1.e1.2", 2, 2)
    assert second.deadline_ns == h.clock.mono_ns() + TTL_NS
    assert h.metric("intents_total", strategy="s1", action="new") == 2


def test_intent_ids_count_per_strategy(h: Harness) -> None:
    h.add(Recorder("a", ["2330"]))
    h.add(Recorder("b", ["2330"]))
    h.book()
    assert [i.intent_id for i in h.book()] == ["a.e1.2", "b.e1.2"]


def test_disabled_strategy_is_not_called(h: Harness) -> None:
    strategy = Recorder("s1", ["2330"])
    h.add(strategy, enabled=False)
    assert h.book() == []
    assert strategy.books == []
    h.runner.set_enabled("s1", True)
    assert len(h.book()) == 1


def test_context_carries_the_stricter_stormguard_level(h: Harness) -> None:
    strategy = Recorder("s1", ["2330"], {"buy": False})
    h.add(strategy)
    h.runner.on_stormguard(StormGuardState(seq=1, global_level=StormGuardLevel.WARM,
                                           strategy_levels={"s1": StormGuardLevel.STORM}, ts_ns=0))
    h.book()
    h.runner.on_stormguard(StormGuardState(seq=2, global_level=StormGuardLevel.HALT,
                                           strategy_levels={"s1": StormGuardLevel.WARM}, ts_ns=0))
    h.book()
    assert strategy.levels == [StormGuardLevel.STORM, StormGuardLevel.HALT]


# --- runner: failures and budgets ------------------------------------------------------------


def test_a_strategy_that_raises_is_disabled_and_the_others_run_on(h: Harness) -> None:
    bad, good = Exploder("bad", ["2330"]), Recorder("good", ["2330"])
    h.add(bad)
    h.add(good)
    assert [i.strategy_id for i in h.book()] == ["good"]
    assert h.runner.hosted["bad"].enabled is False
    assert h.metric("strategy_errors_total", strategy="bad") == 1
    assert [i.strategy_id for i in h.book()] == ["good"]
    assert bad.calls == 1
    assert h.metric("strategy_errors_total", strategy="bad") == 1
    assert h.metric("strategy_errors_total", strategy="good") == 0


def test_intents_of_a_call_that_raised_are_not_sent(h: Harness) -> None:
    h.add(Exploder("bad", ["2330"], buy_first=True))
    assert h.book() == []


def test_a_call_that_raised_leaves_no_open_orders_behind(h: Harness) -> None:
    h.add(Exploder("bad", ["2330"], buy_first=True))
    h.book()
    assert h.runner.open_order_count() == 0


def test_a_call_over_budget_is_counted(h: Harness) -> None:
    budget_us = 20
    h.add(Spinner("slow", ["2330"], spin_ns=2 * budget_us * 1000), budget_us=budget_us)
    h.book()
    h.book()
    assert h.metric("strategy_budget_violations_total", strategy="slow") == 2
    assert h.metric("strategy_latency_seconds_count", strategy="slow") == 2
    assert h.runner.hosted["slow"].enabled is True


@pytest.mark.parametrize("disable", [False, True])
def test_more_than_three_violations_a_minute_raise_an_alert_and_may_disable(h: Harness, disable: bool) -> None:
    budget_us = 20
    h.add(Spinner("slow", ["2330"], spin_ns=2 * budget_us * 1000), budget_us=budget_us, disable_on_budget=disable)
    for _ in range(3):
        h.book()
        h.clock.advance(15_000_000_000)
    assert h.metric("strategy_alerts_total", strategy="slow", rule="budget") == 0, "three in a minute is the limit"
    h.book()
    assert h.metric("strategy_alerts_total", strategy="slow", rule="budget") == 1
    assert h.runner.hosted["slow"].enabled is not disable


def test_violations_spread_over_more_than_a_minute_raise_no_alert(h: Harness) -> None:
    budget_us = 20
    h.add(Spinner("slow", ["2330"], spin_ns=2 * budget_us * 1000), budget_us=budget_us, disable_on_budget=True)
    for _ in range(8):
        h.book()
        h.clock.advance(20_000_001_000)
    assert h.metric("strategy_budget_violations_total", strategy="slow") == 8
    assert h.metric("strategy_alerts_total", strategy="slow", rule="budget") == 0
    assert h.runner.hosted["slow"].enabled is True


def test_a_call_within_a_generous_budget_is_not_counted(h: Harness) -> None:
    h.add(Recorder("s1", ["2330"]))
    h.book()
    assert h.metric("strategy_budget_violations_total", strategy="s1") == 0
    assert h.metric("strategy_latency_seconds_count", strategy="s1") == 1


# --- runner: reports -------------------------------------------------------------------------


def test_ack_makes_the_open_order_working(h: Harness) -> None:
    h.add(Recorder("s1", ["2330"]))
    (new,) = h.book()
    order = h.state().open_orders[new.client_order_id]
    assert order.status is OrderStatus.PENDING_NEW and not order.is_working
    assert h.ack(new) == []
    assert order.status is OrderStatus.WORKING and order.is_working
    assert order.leaves_qty == 1


def test_fills_move_the_position_and_the_last_one_removes_the_order(h: Harness) -> None:
    strategy = Recorder("s1", ["2330"], {"buy": False})
    h.add(strategy)
    new = _new(h, "s1", Side.BUY, qty=3)
    h.ack(new)
    h.report(new, ExecType.FILL, OrderStatus.PARTIALLY_FILLED, cum_qty=1, last_qty=1)
    order = h.state().open_orders[new.client_order_id]
    assert (order.status, order.leaves_qty) == (OrderStatus.PARTIALLY_FILLED, 2)
    assert h.state().positions["2330"] == 1
    h.report(new, ExecType.FILL, OrderStatus.FILLED, cum_qty=3, last_qty=2)
    assert new.client_order_id not in h.state().open_orders
    assert h.state().positions["2330"] == 3
    assert [r.last_qty for r in strategy.fills] == [1, 2]


def test_sell_fills_reduce_the_position(h: Harness) -> None:
    h.add(Recorder("s1", ["2330"], {"buy": False}))
    sell = _new(h, "s1", Side.SELL, qty=2)
    h.report(sell, ExecType.FILL, OrderStatus.FILLED, cum_qty=2, last_qty=2)
    assert h.state().positions["2330"] == -2


def test_cancelled_order_is_removed(h: Harness) -> None:
    h.add(Recorder("s1", ["2330"]))
    (new,) = h.book()
    h.ack(new)
    h.report(new, ExecType.CANCELLED, OrderStatus.CANCELLED, leaves_qty=0)
    assert h.state().open_orders == {}
    assert h.runner.open_order_count() == 0


def test_fill_of_a_disabled_strategy_still_moves_its_position(h: Harness) -> None:
    strategy = Recorder("s1", ["2330"])
    h.add(strategy)
    (new,) = h.book()
    h.runner.set_enabled("s1", False)
    h.report(new, ExecType.FILL, OrderStatus.FILLED, cum_qty=1, last_qty=1)
    assert h.state().positions["2330"] == 1
    assert strategy.fills == []


def test_reports_of_unknown_strategies_are_ignored(h: Harness) -> None:
    h.add(Recorder("s1", ["2330"]))
    (new,) = h.book()
    stranger = OrderIntent(**{**_fields(new), "strategy_id": "ghost"})
    assert h.report(stranger, ExecType.FILL, OrderStatus.FILLED, cum_qty=1, last_qty=1) == []
    assert h.state().positions == {}


def test_risk_reject_of_a_new_removes_the_open_order(h: Harness) -> None:
    strategy = Recorder("s1", ["2330"])
    h.add(strategy)
    (new,) = h.book()
    h.reject(new)
    assert h.state().open_orders == {}
    assert [d.reason for d in strategy.rejects] == [Reason.SIZE_LIMIT]


def test_risk_reject_of_an_amend_clears_amend_pending(h: Harness) -> None:
    h.add(Recorder("s1", ["2330"], {"buy": False}))
    new = _new(h, "s1", Side.BUY)
    h.ack(new)
    amend = _amend(h, "s1", new.client_order_id, to_e4("995"))
    order = h.state().open_orders[new.client_order_id]
    assert order.amend_pending is True
    h.reject(amend)
    assert order.amend_pending is False
    assert new.client_order_id in h.state().open_orders
    assert order.price_e4 == new.price_e4


def test_risk_reject_of_a_cancel_clears_cancel_pending(h: Harness) -> None:
    h.add(Recorder("s1", ["2330"], {"buy": False}))
    new = _new(h, "s1", Side.BUY)
    h.ack(new)
    cancel = _cancel(h, "s1", new.client_order_id)
    order = h.state().open_orders[new.client_order_id]
    assert order.cancel_pending is True
    h.reject(cancel)
    assert order.cancel_pending is False
    assert new.client_order_id in h.state().open_orders


def test_amended_report_moves_the_price_and_clears_amend_pending(h: Harness) -> None:
    h.add(Recorder("s1", ["2330"], {"buy": False}))
    new = _new(h, "s1", Side.BUY)
    h.ack(new)
    amend = _amend(h, "s1", new.client_order_id, to_e4("995"))
    order = h.state().open_orders[new.client_order_id]
    h.report(amend, ExecType.AMENDED, OrderStatus.WORKING, price_e4=to_e4("995"))
    assert (order.amend_pending, order.price_e4) == (False, to_e4("995"))


def test_dropped_intent_is_counted_and_becomes_a_reject(h: Harness) -> None:
    strategy = Recorder("s1", ["2330"])
    h.add(strategy)
    (new,) = h.book()
    decision = h.runner.dropped(new, Reason.QUEUE_BACKPRESSURE)
    assert decision.approved is False
    assert decision.reason is Reason.QUEUE_BACKPRESSURE
    assert (decision.intent_id, decision.client_order_id, decision.action) == (
        new.intent_id, new.client_order_id, IntentAction.NEW)
    assert h.metric("intents_dropped_total", strategy="s1", reason="queue_backpressure") == 1
    h.runner.on_reject(decision)
    assert h.state().open_orders == {}
    assert [d.reason for d in strategy.rejects] == [Reason.QUEUE_BACKPRESSURE]


# --- context verbs ---------------------------------------------------------------------------


def _context(h: Harness, sid: str) -> StrategyContext:
    return StrategyContext(sid, "e1", h.runner.states[sid], h.clock, TTL_NS, StormGuardLevel.NORMAL, None)


def _new(h: Harness, sid: str, side: Side, qty: int = 1) -> OrderIntent:
    ctx = _context(h, sid)
    (ctx.buy if side is Side.BUY else ctx.sell)("2330", qty, to_e4("1000"), TimeInForce.ROD)
    return ctx.intents[0]


def _amend(h: Harness, sid: str, client_order_id: str, price_e4: int) -> OrderIntent:
    ctx = _context(h, sid)
    ctx.amend(client_order_id, price_e4=price_e4)
    return ctx.intents[0]


def _cancel(h: Harness, sid: str, client_order_id: str) -> OrderIntent:
    ctx = _context(h, sid)
    ctx.cancel(client_order_id)
    return ctx.intents[0]


def _fields(intent: OrderIntent) -> dict[str, Any]:
    return {name: getattr(intent, name) for name in intent.__struct_fields__}


def test_amend_and_cancel_target_the_live_order(h: Harness) -> None:
    h.add(Recorder("s1", ["2330"], {"buy": False}))
    new = _new(h, "s1", Side.SELL, qty=4)
    amend = _amend(h, "s1", new.client_order_id, to_e4("1005"))
    cancel = _cancel(h, "s1", new.client_order_id)
    assert (amend.action, amend.client_order_id, amend.side, amend.qty, amend.price_e4) == (
        IntentAction.AMEND, new.client_order_id, Side.SELL, 4, to_e4("1005"))
    assert (cancel.action, cancel.client_order_id) == (IntentAction.CANCEL, new.client_order_id)
    assert amend.intent_id != new.intent_id != cancel.intent_id
    # with no market event behind it, an intent is its own ingest
    assert amend.ingest_ts_ns == h.clock.mono_ns() and amend.md_seq == 0


def test_amend_of_an_order_the_strategy_does_not_have_raises(h: Harness) -> None:
    h.add(Recorder("s1", ["2330"]))
    with pytest.raises(KeyError, match="nope"):
        _context(h, "s1").amend("nope", price_e4=1)


# --- Quoter ----------------------------------------------------------------------------------


def quoter(h: Harness, **params: Any) -> None:
    h.add(Quoter("q1", ["2330"], {"qty": 2, "max_position": 5, **params}))


def by_side(intents: list[OrderIntent]) -> dict[Side, OrderIntent]:
    sides = {intent.side: intent for intent in intents}
    assert len(sides) == len(intents)
    return sides


def test_quoter_joins_both_sides_of_the_first_book(h: Harness) -> None:
    quoter(h)
    quotes = by_side(h.book(bid="999", ask="1000"))
    assert {side: (q.action, q.qty, q.price_e4) for side, q in quotes.items()} == {
        Side.BUY: (IntentAction.NEW, 2, to_e4("999")),
        Side.SELL: (IntentAction.NEW, 2, to_e4("1000")),
    }


def test_quoter_waits_for_a_two_sided_book(h: Harness) -> None:
    quoter(h)
    assert h.book(bid="999", ask="") == []
    assert h.book(bid="", ask="1000") == []


def test_quoter_does_not_amend_an_unacked_quote(h: Harness) -> None:
    quoter(h)
    h.book(bid="999", ask="1000")
    assert h.book(bid="998", ask="999") == []


def test_quoter_follows_every_touch_move_and_leaves_coalescing_to_the_adapter(h: Harness) -> None:
    quoter(h)
    quotes = by_side(h.book(bid="999", ask="1000"))
    for quote in quotes.values():
        h.ack(quote)
    assert h.book(bid="999", ask="1000") == []  # touch unchanged: nothing to do
    amends = by_side(h.book(bid="998", ask="999"))
    assert {side: (a.action, a.client_order_id, a.price_e4) for side, a in amends.items()} == {
        Side.BUY: (IntentAction.AMEND, quotes[Side.BUY].client_order_id, to_e4("998")),
        Side.SELL: (IntentAction.AMEND, quotes[Side.SELL].client_order_id, to_e4("999")),
    }
    again = by_side(h.book(bid="997", ask="998"))  # amends unanswered: the newest touch is asked anyway
    assert {side: a.price_e4 for side, a in again.items()} == {Side.BUY: to_e4("997"), Side.SELL: to_e4("998")}
    assert h.book(bid="997", ask="998") == [], "the price already asked for is not asked again"
    h.report(amends[Side.BUY], ExecType.AMENDED, OrderStatus.WORKING, price_e4=to_e4("998"))
    assert h.book(bid="997", ask="998") == [], "an answer for an older amend does not resend the newest"


def test_quoter_cancels_the_bid_at_max_long(h: Harness) -> None:
    quoter(h, qty=3, max_position=2)
    quotes = by_side(h.book(bid="999", ask="1000"))
    bid = quotes[Side.BUY]
    h.ack(bid)
    h.ack(quotes[Side.SELL])
    h.report(bid, ExecType.FILL, OrderStatus.PARTIALLY_FILLED, cum_qty=2, last_qty=2)
    (cancel,) = h.book(bid="999", ask="1000")
    assert (cancel.action, cancel.side, cancel.client_order_id) == (IntentAction.CANCEL, Side.BUY,
                                                                    bid.client_order_id)
    assert h.book(bid="998", ask="1000") == []  # cancel pending: no second cancel, no amend
    h.report(bid, ExecType.CANCELLED, OrderStatus.CANCELLED, cum_qty=2, leaves_qty=0)
    assert h.book(bid="999", ask="1000") == []  # still at max long: no new bid


def test_quoter_cancels_the_ask_at_max_short(h: Harness) -> None:
    quoter(h, qty=1, max_position=1)
    quotes = by_side(h.book(bid="999", ask="1000"))
    ask = quotes[Side.SELL]
    h.ack(quotes[Side.BUY])
    h.ack(ask)
    h.report(ask, ExecType.FILL, OrderStatus.FILLED, cum_qty=1, last_qty=1)
    assert h.state("q1").positions["2330"] == -1
    assert h.book(bid="999", ask="1000") == []  # the ask is gone and no new one at max short


def test_quoter_requotes_a_filled_side(h: Harness) -> None:
    quoter(h)
    quotes = by_side(h.book(bid="999", ask="1000"))
    for quote in quotes.values():
        h.ack(quote)
    h.report(quotes[Side.BUY], ExecType.FILL, OrderStatus.FILLED, cum_qty=2, last_qty=2)
    (requote,) = h.book(bid="999", ask="1000")
    assert (requote.action, requote.side, requote.price_e4) == (IntentAction.NEW, Side.BUY, to_e4("999"))
    assert requote.client_order_id != quotes[Side.BUY].client_order_id


def test_quoter_requotes_after_risk_rejects_its_new(h: Harness) -> None:
    quoter(h)
    quotes = by_side(h.book(bid="999", ask="1000"))
    h.reject(quotes[Side.BUY], Reason.OFF_TICK)
    h.ack(quotes[Side.SELL])
    (requote,) = h.book(bid="999", ask="1000")
    assert (requote.action, requote.side) == (IntentAction.NEW, Side.BUY)


# --- loader ----------------------------------------------------------------------------------


def entry(class_path: str) -> StrategyEntry:
    return StrategyEntry.model_validate({"id": "mm7", "class": class_path, "symbols": ["2330"],
                                         "params": {"qty": 3}})


def test_loader_builds_the_configured_class() -> None:
    strategy = load_strategy(entry("services.strategy.strategies.quoter:Quoter"))
    assert isinstance(strategy, Quoter)
    assert (strategy.strategy_id, strategy.symbols, strategy.params) == ("mm7", ["2330"], {"qty": 3})


@pytest.mark.parametrize("class_path", [
    "services.strategy.strategies.nonexistent:Quoter",  # no such module
    "services.strategy.strategies.quoter:Missing",  # no such class
    "contracts.enums:Side",  # a class, but not a Strategy
    "contracts.market_rules:stock_tick_e4",  # not a class
])
def test_loader_names_the_strategy_when_the_class_is_bad(class_path: str) -> None:
    with pytest.raises(StrategyLoadError, match="mm7"):
        load_strategy(entry(class_path))


# --- context hints: recent fills, throttling, broker usage -----------------------------------


class Watcher(Strategy):
    """Notes what its context says on every book."""

    def on_start(self, ctx: StrategyContext) -> None:
        self.seen: list[tuple[int, bool, float]] = []

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        self.seen.append((len(ctx.recent_fills), ctx.throttled, ctx.broker_usage_pct))
        self.levels = (ctx.stormguard, ctx.stormguard_global)
        if not ctx.open_orders:
            ctx.buy(event.symbol, 1, event.bid_prices_e4[0])


def test_context_carries_recent_fills_throttling_and_broker_usage(h: Harness) -> None:
    watcher = Watcher("s1", ["2330"], {})
    h.add(watcher)
    (intent,) = h.book()
    h.report(intent, ExecType.FILL, OrderStatus.FILLED, cum_qty=1, leaves_qty=0, last_qty=1)
    (second,) = h.book()
    h.runner.dropped(second, Reason.QUEUE_BACKPRESSURE)
    h.runner.on_usage(AdapterUsage(seq=1, actions_in_window=125, window_ns=10_000_000_000, soft_cap=250, ts_ns=0))
    h.book()
    h.runner.sent(second)
    h.book()
    assert watcher.seen == [(0, False, 0.0), (1, False, 0.0), (1, True, 50.0), (1, False, 50.0)]
    assert h.state().recent_fills[0].client_order_id == intent.client_order_id
    h.runner.on_stormguard(StormGuardState(seq=1, global_level=StormGuardLevel.WARM,
                                           strategy_levels={"s1": StormGuardLevel.STORM}, ts_ns=0))
    h.book()
    assert watcher.levels == (StormGuardLevel.STORM, StormGuardLevel.WARM)


def test_history_rebuilds_positions_and_working_orders_without_the_strategy_reacting(h: Harness) -> None:
    """A restarted runner replays the adapter's history: state comes back, no intent goes out."""
    quoter(h)
    before = by_side(h.book(bid="999", ask="1000"))
    restarted = Harness()
    quoter(restarted)
    bid, ask = before[Side.BUY], before[Side.SELL]

    def history(intent: OrderIntent, exec_type: ExecType, status: OrderStatus, **fields: int) -> list[OrderIntent]:
        cum_qty = fields.get("cum_qty", 0)
        return restarted.runner.on_execution(ExecutionReport(
            seq=1, client_order_id=intent.client_order_id, intent_id=intent.intent_id, strategy_id="q1",
            symbol="2330", side=intent.side, exec_type=exec_type, status=status, price_e4=intent.price_e4,
            qty=intent.qty, cum_qty=cum_qty, leaves_qty=intent.qty - cum_qty, last_qty=fields.get("last_qty", 0),
            last_price_e4=intent.price_e4, ts_ns=0), history=True)

    assert history(bid, ExecType.ACK, OrderStatus.WORKING) == []
    assert history(bid, ExecType.FILL, OrderStatus.PARTIALLY_FILLED, cum_qty=1, last_qty=1) == []
    assert history(ask, ExecType.ACK, OrderStatus.WORKING) == []
    assert history(ask, ExecType.CANCELLED, OrderStatus.CANCELLED) == []
    state = restarted.runner.states["q1"]
    assert state.positions == {"2330": 1}
    assert list(state.open_orders) == [bid.client_order_id]
    assert state.open_orders[bid.client_order_id].leaves_qty == 1
    again = by_side(restarted.book(bid="999", ask="1000"))
    assert set(again) == {Side.SELL}, "the rebuilt bid is followed, not quoted twice"


def test_an_order_a_runner_before_sent_is_adopted_when_its_answer_comes_after_the_restart(h: Harness) -> None:
    """The old runner's NEW was still waiting for the broker when it stopped: the journal had nothing of it to
    replay, and its ack comes live. The new runner takes it in: its strategy sees the order it has at the
    broker (and can cancel it) instead of quoting a second one beside it."""
    quoter(h)
    inherited = by_side(h.book(bid="999", ask="1000"))[Side.BUY]
    restarted = Harness()
    quoter(restarted)
    ack = ExecutionReport(
        seq=9, client_order_id=inherited.client_order_id, intent_id=inherited.intent_id, strategy_id="q1",
        symbol="2330", side=Side.BUY, exec_type=ExecType.ACK, status=OrderStatus.WORKING, price_e4=inherited.price_e4,
        qty=inherited.qty, cum_qty=0, leaves_qty=inherited.qty, ts_ns=0)
    assert restarted.runner.on_execution(ack) == []
    state = restarted.runner.states["q1"]
    assert state.open_orders[inherited.client_order_id].leaves_qty == inherited.qty
    assert set(by_side(restarted.book(bid="999", ask="1000"))) == {Side.SELL}, "the inherited bid is followed"
    done = msgspec.structs.replace(ack, seq=10, exec_type=ExecType.CANCELLED, status=OrderStatus.CANCELLED,
                                   leaves_qty=0)
    restarted.runner.on_execution(done)
    assert inherited.client_order_id not in state.open_orders
