"""SimBroker's side of the Broker protocol: answers only through the scheduler and in call order,
quantity reductions, amends that report the total, exec ids, status queries and the open-order list."""

from __future__ import annotations

import pytest

from contracts.enums import ExecType, OrderStatus, Side, TimeInForce
from contracts.prices import to_e4
from services.adapter.brokers.base import BrokerOrderState
from services.runtime.config.order_adapter import SimBrokerConfig
from tests.unit.adapter.test_sim_harness import LATENCY_NS, LATENCY_US, SimHarness, fills, kinds


@pytest.fixture
def sim() -> SimHarness:
    return SimHarness()


def resting(sim: SimHarness, client_order_id: str = "o1", qty: int = 5, price: str = "995") -> None:
    """A buy that rests below a 995/1000 book."""
    sim.book(bids=[("990", 10)], asks=[("1000", 10)])
    sim.place(client_order_id, qty=qty, price=price)
    assert kinds(sim.advance()) == [ExecType.ACK]


def test_answers_arrive_through_the_scheduler_after_the_latency_never_inside_the_call(sim: SimHarness) -> None:
    sim.place("o1")
    sim.broker.query("o1")
    assert (sim.events, sim.states) == ([], [])
    assert sim.advance(LATENCY_NS - 1) == []
    assert kinds(sim.advance(1)) == [ExecType.ACK]
    assert [state.status for state in sim.states] == [OrderStatus.WORKING]


def test_calls_are_processed_in_call_order_even_with_jitter() -> None:
    """A cancel sent right after its place must not overtake it, or every quick cancel would be rejected."""
    sim = SimHarness(SimBrokerConfig(ack_latency_us=LATENCY_US, latency_jitter_us=5_000, seed=11))
    for k in range(20):
        sim.place(f"o{k}", price="990")
        sim.broker.cancel(f"o{k}")
    sim.advance(10 * LATENCY_NS + 5_000_000)
    for k in range(20):
        assert [e.kind for e in sim.events if e.client_order_id == f"o{k}"] == [ExecType.ACK, ExecType.CANCELLED]


def test_the_ack_carries_the_broker_order_id_price_and_qty(sim: SimHarness) -> None:
    sim.place("o1", qty=3, price="995")
    (ack,) = sim.advance()
    assert ack.broker_order_id.startswith("S")
    assert (ack.price_e4, ack.qty) == (to_e4("995"), 3)


def test_reduce_qty_lowers_the_order_and_answers_its_new_total(sim: SimHarness) -> None:
    resting(sim, qty=5)
    sim.broker.reduce_qty("o1", 2)
    (amended,) = sim.advance()
    assert (amended.kind, amended.price_e4, amended.qty, amended.op) == (ExecType.AMENDED, to_e4("995"), 3,
                                                                         "update_qty")
    # only the reduced quantity can fill now
    assert [e.qty for e in fills(sim.book(bids=[("995", 10)], asks=[("1000", 10)], last=("995", 10)))] == [3]


def test_reduce_qty_after_a_partial_fill_reports_the_total_including_the_filled(sim: SimHarness) -> None:
    resting(sim, qty=5)
    sim.book(bids=[("990", 10)], asks=[("1000", 10)], last=("995", 2))
    sim.broker.reduce_qty("o1", 1)
    (amended,) = sim.advance()
    assert amended.qty == 4
    assert sim.query("o1") == BrokerOrderState("o1", OrderStatus.PARTIALLY_FILLED, amended.broker_order_id, "2330",
                                               Side.BUY, to_e4("995"), 4, 2)


@pytest.mark.parametrize("reduce_by", [3, 4])
def test_reducing_all_that_is_left_cancels_the_rest_and_never_touches_the_filled(
    sim: SimHarness, reduce_by: int,
) -> None:
    resting(sim, qty=5)
    sim.book(bids=[("990", 10)], asks=[("1000", 10)], last=("995", 2))
    sim.broker.reduce_qty("o1", reduce_by)
    (cancelled,) = sim.advance()
    assert (cancelled.kind, cancelled.qty) == (ExecType.CANCELLED, 3)
    state = sim.query("o1")
    assert (state.status, state.cum_qty) == (OrderStatus.CANCELLED, 2)
    assert sim.broker.open_orders() == []


def test_reduce_qty_of_a_filled_order_is_rejected_with_a_detail(sim: SimHarness) -> None:
    sim.book(asks=[("1000", 10)])
    sim.place("o1", qty=2)
    sim.advance()
    sim.broker.reduce_qty("o1", 1)
    (rejected,) = sim.advance()
    assert rejected.kind is ExecType.AMEND_REJECT
    assert "filled" in rejected.detail


def test_reduce_qty_of_an_unknown_order_is_rejected_with_a_detail(sim: SimHarness) -> None:
    sim.broker.reduce_qty("nope", 1)
    (rejected,) = sim.advance()
    assert (rejected.kind, rejected.client_order_id) == (ExecType.AMEND_REJECT, "nope")
    assert rejected.detail == "order not found"


def test_reduce_by_nothing_is_rejected_and_leaves_the_order_alone(sim: SimHarness) -> None:
    resting(sim, qty=5)
    sim.broker.reduce_qty("o1", 0)
    assert kinds(sim.advance()) == [ExecType.AMEND_REJECT]
    assert sim.query("o1").qty == 5


def test_amend_price_answers_the_new_price_and_the_total_qty(sim: SimHarness) -> None:
    resting(sim, qty=5)
    sim.broker.reduce_qty("o1", 1)
    sim.broker.amend_price("o1", to_e4("990"))
    amended = sim.advance()[-1]
    assert (amended.kind, amended.price_e4, amended.qty, amended.op) == (ExecType.AMENDED, to_e4("990"), 4,
                                                                         "update_price")


def test_amend_of_a_cancelled_order_says_why(sim: SimHarness) -> None:
    resting(sim)
    sim.broker.cancel("o1")
    sim.broker.amend_price("o1", to_e4("990"))
    rejected = sim.advance()[-1]
    assert rejected.kind is ExecType.AMEND_REJECT
    assert "cancelled" in rejected.detail


def test_every_deal_has_its_own_exec_id(sim: SimHarness) -> None:
    sim.book(asks=[("1000", 1), ("1005", 1)])
    sim.place("o1", qty=4, price="1005")
    sim.place("o2", qty=1, price="1005")
    deals = fills(sim.advance())
    deals += fills(sim.book(bids=[("990", 1)], asks=[("1010", 1)], last=("1005", 5)))
    assert [deal.client_order_id for deal in deals] == ["o1", "o1", "o1", "o2"]
    assert all(deal.exec_id for deal in deals)
    assert len({deal.exec_id for deal in deals}) == 4


def test_query_of_an_order_the_broker_never_saw_answers_no_status(sim: SimHarness) -> None:
    assert sim.query("nope") == BrokerOrderState("nope", None)


def test_query_sent_with_the_place_sees_the_order_working(sim: SimHarness) -> None:
    sim.place("o1", qty=2, price="995")
    sim.broker.query("o1")
    sim.advance()
    (state,) = sim.states
    assert (state.status, state.qty, state.cum_qty, state.price_e4) == (OrderStatus.WORKING, 2, 0, to_e4("995"))


def test_query_remembers_a_filled_order(sim: SimHarness) -> None:
    sim.book(asks=[("1000", 10)])
    sim.place("o1", qty=2)
    ack, _ = sim.advance()
    assert sim.query("o1") == BrokerOrderState("o1", OrderStatus.FILLED, ack.broker_order_id, "2330", Side.BUY,
                                               to_e4("1000"), 2, 2)


def test_query_of_an_ioc_remainder_says_cancelled_with_what_filled(sim: SimHarness) -> None:
    sim.book(asks=[("1000", 1)])
    sim.place("o1", qty=3, tif=TimeInForce.IOC)
    assert kinds(sim.advance()) == [ExecType.ACK, ExecType.FILL, ExecType.EXPIRED]
    state = sim.query("o1")
    assert (state.status, state.cum_qty) == (OrderStatus.CANCELLED, 1)


def test_query_of_a_rejected_order_says_rejected(sim: SimHarness) -> None:
    sim.place("o1", tif=TimeInForce.FOK)
    assert kinds(sim.advance()) == [ExecType.REJECT]
    assert sim.query("o1").status is OrderStatus.REJECTED


def test_open_orders_lists_the_working_orders_at_once(sim: SimHarness) -> None:
    sim.book(bids=[("990", 10)], asks=[("1000", 10)])
    sim.place("rests", price="995")
    sim.place("fills", price="1000")
    sim.place("rests_too", side=Side.SELL, qty=2, price="1005")
    sim.advance()
    sim.broker.cancel("rests_too")
    sim.advance()
    sim.place("gone", price="995")
    sim.broker.cancel("gone")
    sim.advance()
    sim.place("rests_late", price="990")
    assert [state.client_order_id for state in sim.broker.open_orders()] == ["rests"]
    sim.advance()
    assert [(s.client_order_id, s.status) for s in sim.broker.open_orders()] == [
        ("rests", OrderStatus.WORKING), ("rests_late", OrderStatus.WORKING)]


def test_a_second_place_with_the_same_id_is_rejected_and_counted(sim: SimHarness) -> None:
    resting(sim)
    sim.place("o1", qty=7)
    (rejected,) = sim.advance()
    assert (rejected.kind, rejected.detail) == (ExecType.REJECT, "client_order_id already used")
    assert sim.broker.place_counts() == {"o1": 2}
    assert sim.query("o1").qty == 5
