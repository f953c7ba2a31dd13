"""The real OrderManager over ShioajiBroker over the fake SDK: what a strategy sees for each thing
Shioaji does, the answers arriving from the fake server's own thread."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from contracts.enums import ExecType, IntentAction, OrderStatus, Reason, StormGuardLevel
from contracts.prices import to_e4
from services.adapter.brokers.base import BrokerError, BrokerOrderState
from services.adapter.brokers.shioaji_broker import MISSING_CHECKS
from services.adapter.circuit_breaker import BreakerState
from services.adapter.recovery import recover
from services.risk.stormguard import StormGuard
from services.runtime.config.shioaji import FakeShioajiConfig, QtyMode, ShioajiConfig
from services.runtime.config.strategy_limits import StormGuardConfig
from services.shioaji.fake_exchange import PRICE_OUTSIDE_LIMITS
from services.shioaji.sdk import sj
from tests.unit.adapter.manager_harness import command
from tests.unit.shioaji.broker_harness import ShioajiHarness, book

S = 1_000_000_000
QUIET_BOOK = book("2330", bids=[("990", 5)], asks=[("1000", 5)])


def resting(sh: ShioajiHarness, client_order_id: str = "c1", qty: int = 3, price: str = "995") -> None:
    """A NEW that rests at the fake exchange, acknowledged."""
    sh.server.exchange_market(QUIET_BOOK)
    sh.h.send(command(client_order_id=client_order_id, qty=qty, price=price, deadline_ns=sh.clock.mono_ns() + S))
    sh.until_report(ExecType.ACK, client_order_id)


def barrier(sh: ShioajiHarness) -> None:
    """An order on another symbol, acknowledged: the fake answers in order, so whatever it sent before
    has been handed to the manager by then."""
    sh.server.exchange_market(book("2317", bids=[("199.5", 5)], asks=[("200", 5)]))
    sh.barriers += 1
    cid = f"b{sh.barriers}"
    sh.h.send(msgspec.structs.replace(command(client_order_id=cid, qty=1, price="199", deadline_ns=sh.clock.mono_ns()
                                              + S), symbol="2317"))
    sh.until_report(ExecType.ACK, cid)


def test_place_ack_partial_fills_then_fill(sh: ShioajiHarness) -> None:
    sh.server.exchange_market(book("2330", bids=[("995", 5)], asks=[("1000", 1), ("1005", 1)]))
    sh.h.send(command(qty=3, price="1005"))
    sh.until_report(ExecType.FILL, count=2)
    ack = next(r for r in sh.reports if r.exec_type is ExecType.ACK)
    fills = [r for r in sh.reports if r.exec_type is ExecType.FILL]
    assert (ack.status, ack.qty, ack.broker_order_id != "") == (OrderStatus.WORKING, 3, True)
    assert [(f.last_price_e4, f.last_qty, f.cum_qty, f.status) for f in fills] == [
        (to_e4("1000"), 1, 1, OrderStatus.PARTIALLY_FILLED), (to_e4("1005"), 1, 2, OrderStatus.PARTIALLY_FILLED)]
    sh.server.exchange_market(book("2330", bids=[("995", 5)], asks=[("1010", 5)], last=("1005", 4)))
    last = sh.until_report(ExecType.FILL, count=3)
    assert (last.last_price_e4, last.last_qty, last.cum_qty, last.leaves_qty, last.status) == (
        to_e4("1005"), 1, 3, 0, OrderStatus.FILLED)
    assert sh.h.manager.orders.get("c1") is None
    assert sh.api.simulation is True, "simulation is passed to the SDK's constructor explicitly"


def test_amend_price_then_amend_through_the_book_fills(sh: ShioajiHarness) -> None:
    resting(sh)
    sh.h.send(command(IntentAction.AMEND, price="990", intent_id="a1"))
    amended = sh.until_report(ExecType.AMENDED)
    assert (amended.intent_id, amended.price_e4, amended.qty, amended.status) == (
        "a1", to_e4("990"), 3, OrderStatus.WORKING)
    assert sh.server.trades()[0].status.modified_price == 990.0
    sh.clock.advance(10_000_000)  # past the coalescing window
    sh.h.send(command(IntentAction.AMEND, price="1000", intent_id="a2"))
    fill = sh.until_report(ExecType.FILL)
    assert (fill.last_price_e4, fill.last_qty, fill.status) == (to_e4("1000"), 3, OrderStatus.FILLED)


@pytest.mark.parametrize("mode", ["reduce_by", "new_total"])
def test_reduce_qty_with_the_broker_and_server_reading_qty_alike(tmp_path: Path, mode: QtyMode) -> None:
    config = ShioajiConfig(simulation=True, qty_mode=mode, fake=FakeShioajiConfig(ack_latency_ms=0, qty_mode=mode))
    sh = ShioajiHarness(tmp_path, shioaji=config)
    try:
        resting(sh, qty=3)
        sh.h.send(command(IntentAction.AMEND, qty=1, price="995"))
        amended = sh.until_report(ExecType.AMENDED)
        assert (amended.qty, amended.leaves_qty, amended.status) == (1, 1, OrderStatus.WORKING)
        (trade,) = sh.server.trades()
        assert (trade.status.order_quantity, trade.status.cancel_quantity) == (3, 2)
    finally:
        sh.close()


def test_calls_refused_before_the_sdk_is_called_say_they_never_left(sh: ShioajiHarness) -> None:
    """Their budget slot comes back; a ValueError of the quantity rule is a BrokerError, not a crash."""
    resting(sh, qty=3)
    calls_before = len(sh.server.trades())
    with pytest.raises(BrokerError) as too_many:
        sh.broker.reduce_qty("c1", 5)
    with pytest.raises(BrokerError) as unknown:
        sh.broker.amend_price("nope", to_e4("990"))
    with pytest.raises(BrokerError) as no_contract:
        sh.broker.place(msgspec.structs.replace(command(client_order_id="x1"), symbol="0000"))
    assert [error.value.sent for error in (too_many, unknown, no_contract)] == [False, False, False]
    assert len(sh.server.trades()) == calls_before
    assert sh.broker.open_orders_calls >= 1


def test_cancel_with_a_fill_racing_it(sh: ShioajiHarness) -> None:
    resting(sh, qty=3, price="995")
    # The trade prints at the exchange before the cancel gets there: the manager has not seen the fill.
    sh.server.exchange_market(book("2330", bids=[("990", 5)], asks=[("1000", 5)], last=("995", 2)))
    sh.h.send(command(IntentAction.CANCEL, intent_id="x1"))
    cancelled = sh.until_report(ExecType.CANCELLED)
    fill = next(r for r in sh.reports if r.exec_type is ExecType.FILL)
    assert sh.kinds() == [ExecType.ACK, ExecType.FILL, ExecType.CANCELLED]
    assert (fill.last_qty, fill.cum_qty) == (2, 2)
    assert (cancelled.intent_id, cancelled.cum_qty, cancelled.leaves_qty, cancelled.status) == (
        "x1", 2, 0, OrderStatus.CANCELLED)


def test_cancel_that_loses_the_race_to_the_last_fill(sh: ShioajiHarness) -> None:
    resting(sh, qty=2, price="995")
    sh.server.exchange_market(book("2330", bids=[("990", 5)], asks=[("995", 5)]))
    sh.h.send(command(IntentAction.CANCEL))
    sh.until_report(ExecType.FILL)
    barrier(sh)  # c1's cancel has been answered too
    assert sh.kinds() == [ExecType.ACK, ExecType.FILL]
    assert sh.reports[-2].status is OrderStatus.FILLED
    assert sh.h.metric("late_broker_events_total") == 1, "the cancel's refusal came for a filled order"


def test_reject_with_a_chinese_op_msg_reaches_the_strategy_once(sh: ShioajiHarness) -> None:
    sh.h.send(command(price="1200"))  # over limit up (1100): the fake exchange refuses it
    reject = sh.until_report(ExecType.REJECT)
    assert (reject.reason, reject.detail, reject.status, reject.leaves_qty) == (
        Reason.BROKER_REJECT, PRICE_OUTSIDE_LIMITS, OrderStatus.REJECTED, 0)
    barrier(sh)  # by now the refusal's event and its cb have both come
    assert sh.kinds("c1") == [ExecType.REJECT], "refused in the cb and in an event: reported once"
    sh.server.reject_next("可委託金額不足")
    sh.h.send(command(client_order_id="c3"))
    assert sh.until_report(ExecType.REJECT, "c3").detail == "可委託金額不足"


def test_timeout_that_went_live_is_reconciled_and_cancelled(sh: ShioajiHarness) -> None:
    sh.server.exchange_market(QUIET_BOOK)
    sh.server.hold_next_answers()
    sh.h.send(command(qty=2, price="995"))
    sh.h.scheduler.advance(2 * S + 1)  # the NEW's timeout: the fake has taken the order but said nothing
    failed = sh.reports[-1]
    assert (failed.exec_type, failed.reason) == (ExecType.REJECT, Reason.BROKER_TIMEOUT)
    # The manager queried it: the broker has no trade id, so it searched the account and adopts the order.
    cancelled = sh.until_report(ExecType.CANCELLED)
    assert cancelled.reason is None and cancelled.status is OrderStatus.CANCELLED
    assert [t.status.status for t in sh.server.trades()] == [sj.OrderStatus.Cancelled]
    sh.server.release_held_answers()  # the place's late cb and ack: the order is closed already
    barrier(sh)
    assert sh.kinds("c1") == [ExecType.REJECT, ExecType.CANCELLED]
    assert sh.h.metric("late_broker_events_total") >= 1


def test_outcome_unknown_that_went_live_is_found_and_cancelled(sh: ShioajiHarness) -> None:
    sh.server.exchange_market(QUIET_BOOK)
    sh.server.fail_next(sj.OrderOutcomeUnknownError("409 OrderOutcomeUnknown"), went_live=True)
    sh.h.send(command(qty=2, price="995"))
    assert (sh.reports[-1].exec_type, sh.reports[-1].reason) == (ExecType.REJECT, Reason.BROKER_TIMEOUT)
    sh.until_report(ExecType.CANCELLED)
    assert [t.status.status for t in sh.server.trades()] == [sj.OrderStatus.Cancelled]
    assert sh.h.manager.orders.get("c1") is None


def test_outcome_unknown_that_never_arrived_is_dropped_after_searches(sh: ShioajiHarness) -> None:
    statuses: list[BrokerOrderState] = []

    def record(state: BrokerOrderState) -> None:
        statuses.append(state)
        sh.h.manager.on_status(state)

    sh.broker.set_status_callback(record)
    sh.server.fail_next(sj.OrderOutcomeUnknownError("409 OrderOutcomeUnknown"))
    sh.h.send(command())  # reported failed, and queried: the broker searches the account for it
    while sh.h.manager.orders.get("c1") is not None:
        assert len(statuses) < 10, "the order should be declared absent after a few fruitless searches"
        seen = len(statuses)
        sh.pump_until(lambda seen=seen: len(statuses) > seen, "a search of the account answered")
        sh.clock.advance(S)
        sh.h.manager.sweep()  # asks again while the order is unresolved
    assert [state.status for state in statuses] == [OrderStatus.PENDING_NEW] * (MISSING_CHECKS - 1) + [None]
    assert sh.kinds() == [ExecType.REJECT], "already reported failed: dropped silently"
    assert sh.server.trades() == []


def test_deals_before_the_ack_and_a_deal_delivered_twice(sh: ShioajiHarness) -> None:
    delivered: list[tuple[Any, Any]] = []
    forward = sh.server.callbacks.order
    assert forward is not None

    def record(state: Any, msg: Any) -> None:
        delivered.append((state, msg))
        forward(state, msg)

    sh.server.callbacks.order = record
    sh.server.exchange_market(book("2330", bids=[("990", 5)], asks=[("1000", 1)]))
    sh.server.deals_before_ack_next()
    sh.h.send(command(qty=3, price="1000"))
    sh.until_report(ExecType.ACK)
    assert sh.kinds() == [ExecType.FILL, ExecType.ACK]
    assert sh.reports[-1].status is OrderStatus.PARTIALLY_FILLED, "a late ack does not undo the fill"
    deal = next((state, msg) for state, msg in delivered if state == sj.OrderState.StockDeal)
    record(*deal)  # Shioaji delivers the same deal again
    barrier(sh)
    assert sh.kinds() == [ExecType.FILL, ExecType.ACK]
    assert sh.h.metric("duplicate_broker_events_total") == 1


def test_rate_limit_suspension_opens_the_breaker_escalates_stormguard_and_recovers(tmp_path: Path) -> None:
    sh = ShioajiHarness(tmp_path, fake=FakeShioajiConfig(ack_latency_ms=0, rate_cap=3))
    try:
        sh.server.exchange_market(book("2330", bids=[("990", 50)], asks=[("1000", 50)]))
        for n in range(3):
            sh.h.send(command(client_order_id=f"c{n}", qty=1, price="1000"))
            sh.until_report(ExecType.FILL, f"c{n}")
        sh.h.send(command(client_order_id="c3", qty=1, price="1000"))  # the 4th call in 10 s: suspended
        refused = sh.reports[-1]
        assert (refused.exec_type, refused.reason) == (ExecType.REJECT, Reason.RATE_LIMITED)
        assert "Token is expired" in refused.detail
        assert sh.h.manager.breaker.state is BreakerState.OPEN
        assert sh.h.usage_changes >= 1, "the adapter published its usage at once: breaker_open"
        stormguard = StormGuard(sh.clock, StormGuardConfig(), {"global": Decimal(100_000_000)})
        stormguard.update_breaker(sh.h.manager.breaker.state is not BreakerState.CLOSED)
        assert stormguard.level("global") is StormGuardLevel.STORM

        sh.clock.advance(31 * S)  # the breaker lets a probe through, but the account is still suspended
        sh.h.send(command(client_order_id="p1", qty=1, price="1000", deadline_ns=sh.clock.mono_ns() + S))
        assert sh.reports[-1].reason is Reason.RATE_LIMITED
        assert sh.h.manager.breaker.state is BreakerState.OPEN

        sh.clock.advance(31 * S)  # the suspension is over, and the breaker's new cooldown too
        sh.h.send(command(client_order_id="p2", qty=1, price="1000", deadline_ns=sh.clock.mono_ns() + S))
        sh.until_report(ExecType.FILL, "p2")
        assert sh.h.manager.breaker.state is BreakerState.CLOSED
        stormguard.update_breaker(sh.h.manager.breaker.state is not BreakerState.CLOSED)
        assert not stormguard.breaker_open
    finally:
        sh.close()


def test_session_down_refuses_orders_until_it_is_back(sh: ShioajiHarness) -> None:
    sh.server.drop_session()
    sh.h.send(command())
    refused = sh.reports[-1]
    assert (refused.exec_type, refused.reason) == (ExecType.REJECT, Reason.CIRCUIT_OPEN)
    assert "ShioajiConnectionError" in refused.detail
    assert sh.h.manager.breaker.state is BreakerState.OPEN
    sh.server.restore_session()
    sh.clock.advance(31 * S)
    resting(sh, client_order_id="c2")
    assert sh.h.manager.breaker.state is BreakerState.CLOSED


def test_restarted_adapter_recognises_its_working_orders(sh: ShioajiHarness) -> None:
    resting(sh, client_order_id="c1")
    sh.broker.close()
    sh.broker = sh.connect()
    sh.h.broker = sh.broker
    sh.h.start()
    summary = recover(sh.h.manager)
    assert (summary.from_journal, summary.at_broker, summary.unknown_at_broker) == (1, 1, 0)
    sh.h.send(command(IntentAction.CANCEL))
    assert sh.until_report(ExecType.CANCELLED).client_order_id == "c1"
