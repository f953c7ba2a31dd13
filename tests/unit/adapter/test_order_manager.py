"""services.adapter.order_manager: commands into broker calls, broker answers into ExecutionReports."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.enums import TERMINAL_STATUSES, ExecType, IntentAction, OrderStatus, Reason, StormGuardLevel, TimeInForce
from contracts.messages import MarketEvent, StormGuardState
from contracts.prices import to_e4
from services.adapter.brokers.sim import SimBroker
from services.runtime.config.order_adapter import SimBrokerConfig
from tests.unit.adapter.manager_harness import START_NS, TTL_NS, Harness, RecordingBroker, command


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def calls(h: Harness) -> list[str]:
    assert isinstance(h.broker, RecordingBroker)
    return h.broker.names()


def test_new_is_placed_and_its_ack_reported_with_the_new_intent(h: Harness) -> None:
    new = command(intent_id="mm1.e1.1")
    h.manager.on_command(new)
    assert [(name, arg) for name, arg, _ in h.broker.calls] == [("place", new)]
    assert h.published == []
    assert h.manager.orders.get("c1").status is OrderStatus.PENDING_NEW  # type: ignore[union-attr]
    h.broker.answer(ExecType.ACK, broker_order_id="B7")
    (ack,) = h.reports
    assert ack.exec_type is ExecType.ACK
    assert ack.intent_id == "mm1.e1.1"
    assert (ack.status, ack.qty, ack.cum_qty, ack.leaves_qty) == (OrderStatus.WORKING, 3, 0, 3)
    assert ack.broker_order_id == "B7"
    assert ack.price_e4 == to_e4("1000")
    assert h.metric("order_actions_count_total", action="place") == 1


def test_reports_are_numbered_by_the_adapter_and_journaled(h: Harness) -> None:
    h.working("c1")
    h.manager.on_command(command(IntentAction.CANCEL, client_order_id="nope"))
    h.broker.answer(ExecType.FILL, "c1", price_e4=to_e4("1000"), qty=1)
    assert [r.seq for r in h.reports] == [1, 2, 3]
    assert [seq for seq, _ in h.journal.reports_between(1, 3, 10)] == [1, 2, 3]
    assert [payload for _, payload in h.journal.reports_between(1, 3, 10)] == [p for _, p in h.published]


def test_stale_new_is_refused_and_not_placed(h: Harness) -> None:
    h.clock.advance(TTL_NS + 1)
    h.manager.on_command(command())
    assert h.broker.calls == []
    (reject,) = h.reports
    assert (reject.exec_type, reject.reason, reject.status) == (ExecType.REJECT, Reason.STALE_INTENT,
                                                                OrderStatus.REJECTED)
    assert h.manager.orders.get("c1") is None
    assert h.metric("adapter_refused_total", reason="stale_intent") == 1
    assert h.manager.limiter.in_window() == 0


def test_new_exactly_at_its_deadline_is_placed(h: Harness) -> None:
    h.clock.advance(TTL_NS)
    h.manager.on_command(command())
    assert calls(h) == ["place"]


def test_stale_amend_is_refused_but_a_stale_cancel_is_sent(h: Harness) -> None:
    h.working()
    h.clock.advance(TTL_NS + 1)
    h.manager.on_command(command(IntentAction.AMEND, price="995"))
    amend_reject = h.reports[-1]
    assert (amend_reject.exec_type, amend_reject.reason) == (ExecType.AMEND_REJECT, Reason.STALE_INTENT)
    assert amend_reject.status is OrderStatus.WORKING
    assert calls(h) == ["place"]
    h.manager.on_command(command(IntentAction.CANCEL))
    assert calls(h) == ["place", "cancel"]


def test_duplicate_new_is_rejected_and_the_first_order_untouched(h: Harness) -> None:
    h.working(qty=3)
    h.manager.on_command(command(qty=9, price="1005", intent_id="again"))
    assert calls(h) == ["place"]
    reject = h.reports[-1]
    assert (reject.exec_type, reject.reason, reject.intent_id) == (ExecType.REJECT, Reason.DUPLICATE_INTENT, "again")
    order = h.manager.orders.get("c1")
    assert order is not None
    assert (order.status, order.qty, order.broker_price_e4, order.intent_id) == (
        OrderStatus.WORKING, 3, to_e4("1000"), "c1:new")


def test_new_reusing_the_id_of_a_finished_order_is_a_duplicate(h: Harness) -> None:
    h.working(qty=1)
    h.broker.answer(ExecType.FILL, price_e4=to_e4("1000"), qty=1)
    assert h.manager.orders.get("c1") is None
    h.manager.on_command(command(qty=1))
    assert h.reports[-1].reason is Reason.DUPLICATE_INTENT
    assert len(h.broker.calls) == 1


def test_duplicate_new_reject_does_not_report_the_live_order_as_terminal(h: Harness) -> None:
    h.working()
    h.manager.on_command(command(intent_id="again"))
    reject = h.reports[-1]
    assert reject.reason is Reason.DUPLICATE_INTENT
    assert reject.status not in TERMINAL_STATUSES


@pytest.mark.parametrize(("action", "exec_type"), [(IntentAction.AMEND, ExecType.AMEND_REJECT),
                                                   (IntentAction.CANCEL, ExecType.CANCEL_REJECT)])
def test_amend_or_cancel_of_an_unknown_order(h: Harness, action: IntentAction, exec_type: ExecType) -> None:
    h.manager.on_command(command(action, client_order_id="ghost"))
    assert h.broker.calls == []
    (reject,) = h.reports
    assert (reject.exec_type, reject.reason, reject.client_order_id) == (exec_type, Reason.UNKNOWN_ORDER, "ghost")


@pytest.mark.parametrize(("action", "exec_type"), [(IntentAction.AMEND, ExecType.AMEND_REJECT),
                                                   (IntentAction.CANCEL, ExecType.CANCEL_REJECT)])
def test_amend_or_cancel_of_a_finished_order_is_too_late(h: Harness, action: IntentAction,
                                                         exec_type: ExecType) -> None:
    h.working(qty=1)
    h.broker.answer(ExecType.FILL, price_e4=to_e4("1000"), qty=1)
    h.manager.on_command(command(action))
    assert calls(h) == ["place"]
    reject = h.reports[-1]
    assert (reject.exec_type, reject.reason, reject.client_order_id) == (exec_type, Reason.TOO_LATE, "c1")


def test_second_cancel_while_one_is_pending_is_dropped_and_counted(h: Harness) -> None:
    h.working()
    h.manager.on_command(command(IntentAction.CANCEL))
    h.manager.on_command(command(IntentAction.CANCEL, intent_id="second"))
    assert calls(h) == ["place", "cancel"]
    assert len(h.reports) == 1  # the ack only: a dropped duplicate is not reported
    assert h.metric("duplicate_cancels_total") == 1


def test_a_cancel_reject_is_reported_and_the_adapter_learns_the_truth_and_cancels_again(h: Harness) -> None:
    h.working()
    h.manager.on_command(command(IntentAction.CANCEL))
    h.broker.answer(ExecType.CANCEL_REJECT, detail="too late")
    assert (h.reports[-1].exec_type, h.reports[-1].reason) == (ExecType.CANCEL_REJECT, Reason.BROKER_REJECT)
    assert calls(h) == ["place", "cancel", "query"]
    h.manager.on_command(command(IntentAction.CANCEL))  # the adapter is already at it
    assert calls(h) == ["place", "cancel", "query"]
    h.broker.status("c1", status=OrderStatus.WORKING, qty=3)
    assert calls(h) == ["place", "cancel", "query", "cancel"]
    h.broker.answer(ExecType.CANCELLED, qty=3)
    assert h.reports[-1].exec_type is ExecType.CANCELLED
    assert h.manager.orders.live == {}


def test_a_cancel_reject_for_a_filled_order_closes_it_from_the_status(h: Harness) -> None:
    h.working(qty=2)
    h.manager.on_command(command(IntentAction.CANCEL))
    h.broker.answer(ExecType.CANCEL_REJECT, detail="order filled")
    h.broker.status("c1", status=OrderStatus.FILLED, qty=2, cum_qty=2)
    fill = h.reports[-1]
    assert (fill.exec_type, fill.status, fill.last_qty, fill.cum_qty) == (ExecType.FILL, OrderStatus.FILLED, 2, 2)
    assert h.manager.orders.live == {}


def test_cancelled_order_reports_zero_leaves_and_leaves_the_live_map(h: Harness) -> None:
    h.working()
    h.manager.on_command(command(IntentAction.CANCEL, intent_id="mm1.e1.9"))
    h.broker.answer(ExecType.CANCELLED, qty=3)
    report = h.reports[-1]
    assert (report.exec_type, report.status, report.leaves_qty) == (ExecType.CANCELLED, OrderStatus.CANCELLED, 0)
    assert report.intent_id == "mm1.e1.9"
    assert h.manager.orders.get("c1") is None
    assert "c1" not in h.manager.orders.live


def test_fills_update_cum_leaves_and_status(h: Harness) -> None:
    h.working(qty=5)
    h.broker.answer(ExecType.FILL, price_e4=to_e4("1000"), qty=2)
    part = h.reports[-1]
    assert (part.status, part.cum_qty, part.leaves_qty) == (OrderStatus.PARTIALLY_FILLED, 2, 3)
    assert (part.last_price_e4, part.last_qty) == (to_e4("1000"), 2)
    assert h.manager.orders.get("c1") is not None
    h.broker.answer(ExecType.FILL, price_e4=to_e4("995"), qty=3)
    done = h.reports[-1]
    assert (done.status, done.cum_qty, done.leaves_qty, done.last_qty) == (OrderStatus.FILLED, 5, 0, 3)
    assert h.manager.orders.get("c1") is None
    assert h.metric("fills_total") == 2


def test_broker_reject_closes_the_order(h: Harness) -> None:
    h.manager.on_command(command())
    h.broker.answer(ExecType.REJECT, detail="no such stock")
    reject = h.reports[-1]
    assert (reject.status, reject.reason, reject.leaves_qty) == (OrderStatus.REJECTED, Reason.BROKER_REJECT, 0)
    assert reject.detail == "no such stock"
    assert h.manager.orders.get("c1") is None


def test_amend_moves_the_price_when_the_broker_confirms(h: Harness) -> None:
    h.working()
    h.manager.on_command(command(IntentAction.AMEND, price="995", intent_id="amend-1"))
    assert h.broker.calls[-1][:2] == ("amend_price", ("c1", to_e4("995")))
    order = h.manager.orders.get("c1")
    assert order is not None and order.broker_price_e4 == to_e4("1000")
    h.broker.answer(ExecType.AMENDED, price_e4=to_e4("995"))
    amended = h.reports[-1]
    assert (amended.exec_type, amended.price_e4, amended.intent_id) == (ExecType.AMENDED, to_e4("995"), "amend-1")
    assert order.broker_price_e4 == to_e4("995")
    assert order.amend.unsent_price_e4 is None and order.amend.in_flight == 0
    h.broker.answer(ExecType.FILL, price_e4=to_e4("995"), qty=1)
    assert h.reports[-1].intent_id == "amend-1"


def test_broker_amend_reject_keeps_the_old_price(h: Harness) -> None:
    h.working()
    h.manager.on_command(command(IntentAction.AMEND, price="995"))
    h.broker.answer(ExecType.AMEND_REJECT)
    report = h.reports[-1]
    assert (report.exec_type, report.reason, report.price_e4) == (ExecType.AMEND_REJECT, Reason.BROKER_REJECT,
                                                                  to_e4("1000"))
    order = h.manager.orders.get("c1")
    assert order is not None and order.amend.unsent_price_e4 is None and order.status is OrderStatus.WORKING
    assert order.amend.asked_price_e4 == to_e4("1000")


def test_amend_before_the_ack_waits_for_it_and_after_a_cancel_is_too_late(h: Harness) -> None:
    h.manager.on_command(command())
    h.manager.on_command(command(IntentAction.AMEND, price="995"))
    assert calls(h) == ["place"] and h.reports == []
    h.broker.answer(ExecType.ACK)
    assert calls(h) == ["place", "amend_price"]
    h.manager.on_command(command(IntentAction.CANCEL))
    h.manager.on_command(command(IntentAction.AMEND, price="990"))
    assert (h.reports[-1].exec_type, h.reports[-1].reason) == (ExecType.AMEND_REJECT, Reason.TOO_LATE)
    assert calls(h) == ["place", "amend_price", "cancel"]


def test_event_for_an_unknown_order_is_ignored(h: Harness) -> None:
    h.broker.answer(ExecType.FILL, "ghost", price_e4=to_e4("1000"), qty=1)
    assert h.published == []
    assert h.metric("late_broker_events_total") == 1


def test_tick_to_trade_is_the_clock_at_the_broker_call_minus_ingest(h: Harness) -> None:
    h.clock.advance(40_000)
    new = command(ingest_ts_ns=START_NS - 300_000)
    h.manager.on_command(new)
    _, _, called_at = h.broker.calls[-1]
    assert called_at == START_NS + 40_000
    assert called_at - new.ingest_ts_ns == 340_000
    assert h.metric("tick_to_trade_latency_seconds_sum") == pytest.approx(340e-6)
    assert h.metric("tick_to_trade_latency_seconds_count") == 1
    assert h.metric("tick_to_trade_latency_seconds_bucket", le="0.0003") == 0
    assert h.metric("tick_to_trade_latency_seconds_bucket", le="0.0005") == 1


def test_tick_to_trade_is_recorded_for_amends_and_cancels_not_refusals(h: Harness) -> None:
    h.working()
    h.manager.on_command(command(IntentAction.AMEND, price="995", ingest_ts_ns=START_NS - 100))
    h.manager.on_command(command(IntentAction.CANCEL, ingest_ts_ns=START_NS - 100))
    h.manager.on_command(command(IntentAction.CANCEL, client_order_id="ghost"))
    assert h.metric("tick_to_trade_latency_seconds_count") == 3
    assert h.metric("tick_to_trade_latency_seconds_sum") == pytest.approx((300_000 + 100 + 100) / 1e9)


def test_the_limiter_counts_broker_calls_and_forgets_them_after_its_window(h: Harness) -> None:
    h.working()
    h.manager.on_command(command(IntentAction.AMEND, price="995"))
    h.manager.on_command(command(IntentAction.CANCEL))
    h.manager.on_command(command(IntentAction.CANCEL))  # dropped duplicate: no broker call
    h.manager.on_command(command(IntentAction.NEW))  # duplicate intent: no broker call
    window_ns = h.manager.limiter.window_ns
    assert h.manager.limiter.in_window() == 3
    h.clock.advance(window_ns - 1)
    assert h.manager.limiter.in_window() == 3
    h.clock.advance(1)
    assert h.manager.limiter.in_window() == 0


# --- with the simulator ----------------------------------------------------------------------


class SimHarness(Harness):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.sim = SimBroker(SimBrokerConfig(ack_latency_us=100), self.scheduler.call_later, clock=self.clock)
        self.broker = self.sim
        self.start()

    def run(self) -> None:
        self.scheduler.advance(10_000_000)


def asks(*levels: tuple[str, int]) -> MarketEvent:
    return MarketEvent(symbol="2330", seq=1, exch_ts_ns=0, ingest_ts_ns=0, bid_prices_e4=[to_e4("990")],
                       bid_qtys=[5], ask_prices_e4=[to_e4(p) for p, _ in levels], ask_qtys=[q for _, q in levels])


def test_with_sim_a_crossing_new_fills_and_leaves_the_map(tmp_path: Path) -> None:
    h = SimHarness(tmp_path)
    h.sim.on_market(asks(("995", 1), ("1000", 5)))
    h.manager.on_command(command(qty=3, price="1000"))
    h.run()
    assert [(r.exec_type, r.status, r.cum_qty, r.leaves_qty) for r in h.reports] == [
        (ExecType.ACK, OrderStatus.WORKING, 0, 3),
        (ExecType.FILL, OrderStatus.PARTIALLY_FILLED, 1, 2),
        (ExecType.FILL, OrderStatus.FILLED, 3, 0),
    ]
    assert [r.last_price_e4 for r in h.reports[1:]] == [to_e4("995"), to_e4("1000")]
    assert h.manager.orders.live == {}


def test_with_sim_an_ioc_remainder_expires_as_cancelled(tmp_path: Path) -> None:
    h = SimHarness(tmp_path)
    h.sim.on_market(asks(("1000", 1)))
    h.manager.on_command(command(qty=3, price="1000", tif=TimeInForce.IOC))
    h.run()
    last = h.reports[-1]
    assert (last.exec_type, last.status, last.cum_qty, last.leaves_qty) == (
        ExecType.EXPIRED, OrderStatus.CANCELLED, 1, 0)
    assert h.manager.orders.live == {}


def test_with_sim_cancel_of_a_resting_order(tmp_path: Path) -> None:
    h = SimHarness(tmp_path)
    h.manager.on_command(command(qty=2, price="990"))
    h.run()
    h.manager.on_command(command(IntentAction.CANCEL))
    h.manager.on_command(command(IntentAction.CANCEL))
    h.run()
    assert [r.exec_type for r in h.reports] == [ExecType.ACK, ExecType.CANCELLED]
    assert h.sim.resting_count == 0
    assert h.manager.orders.live == {}


def test_the_adapters_own_latency_runs_from_reading_the_batch_to_the_broker_call(h: Harness) -> None:
    h.manager.on_command(command(ingest_ts_ns=START_NS - 300_000))
    assert h.metric("adapter_latency_seconds_count") == 1
    assert h.metric("adapter_latency_seconds_sum") == 0, "the fake clock did not move inside the batch"
    h.clock.advance(1_000)
    h.broker.answer(ExecType.ACK, "c1")
    assert h.metric("adapter_latency_seconds_count") == 1, "answers are not commands"


def test_an_amend_or_cancel_from_another_strategy_is_refused(h: Harness) -> None:
    h.working()
    h.manager.on_command(command(IntentAction.CANCEL, strategy_id="mo1", intent_id="theirs"))
    refused = h.reports[-1]
    assert (refused.exec_type, refused.reason, refused.intent_id) == (ExecType.CANCEL_REJECT, Reason.UNKNOWN_ORDER,
                                                                      "theirs")
    assert calls(h) == ["place"]


def test_a_deal_after_the_order_expired_is_still_reported(h: Harness) -> None:
    """Shioaji's deal and order streams are not ordered: an IOC's EXPIRED can beat its last deal."""
    h.manager.on_command(command(qty=3, tif=TimeInForce.IOC))
    h.broker.answer(ExecType.ACK, "c1")
    h.broker.answer(ExecType.EXPIRED, "c1", qty=2)
    h.broker.answer(ExecType.FILL, "c1", price_e4=to_e4("1000"), qty=1, exec_id="d1")
    h.broker.answer(ExecType.FILL, "c1", price_e4=to_e4("1000"), qty=1, exec_id="d1")
    fills = [r for r in h.reports if r.exec_type is ExecType.FILL]
    assert [(r.last_qty, r.cum_qty) for r in fills] == [(1, 1)], "reported once, duplicate dropped"


def test_a_second_cancel_request_while_one_is_at_the_broker_sends_nothing(h: Harness) -> None:
    h.working()
    h.manager.on_control(StormGuardState(seq=1, global_level=StormGuardLevel.HALT, ts_ns=0))
    h.broker.status("c1", status=OrderStatus.WORKING, qty=3)
    assert calls(h).count("cancel") == 1
