"""services.adapter.brokers.sim: the exchange simulator's latency, acks, matching, amends and cancels."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contracts.enums import ExecType, IntentAction, PriceType, Side, TimeInForce
from contracts.messages import MarketEvent, OrderCommand
from contracts.prices import to_e4
from services.adapter.brokers.base import BrokerEvent
from services.adapter.brokers.sim import SimBroker
from services.runtime.config.order_adapter import SimBrokerConfig

ACK_LATENCY_US = 150


class Harness:
    """A SimBroker whose scheduled answers run only when the test says so."""

    def __init__(self, ack_latency_us: int = ACK_LATENCY_US) -> None:
        self.scheduled: list[tuple[int, Callable[[], None]]] = []
        self.events: list[BrokerEvent] = []
        self.broker = SimBroker(SimBrokerConfig(ack_latency_us=ack_latency_us), self._schedule)
        self.broker.set_event_callback(self.events.append)
        self._md_seq = 0

    def _schedule(self, delay_ns: int, callback: Callable[[], None]) -> None:
        self.scheduled.append((delay_ns, callback))

    def run(self) -> list[BrokerEvent]:
        """Run every scheduled answer in order; return the events they produced."""
        start = len(self.events)
        while self.scheduled:
            delay_ns, callback = self.scheduled.pop(0)
            assert delay_ns == ACK_LATENCY_US * 1000
            callback()
        return self.events[start:]

    def book(
        self,
        bids: tuple[tuple[str, int], ...] | list[tuple[str, int]] = (),
        asks: tuple[tuple[str, int], ...] | list[tuple[str, int]] = (),
        *,
        last: tuple[str, int] | None = None,
        symbol: str = "2330",
    ) -> list[BrokerEvent]:
        self._md_seq += 1
        start = len(self.events)
        self.broker.on_market(MarketEvent(
            symbol=symbol, seq=self._md_seq, exch_ts_ns=0, ingest_ts_ns=0,
            bid_prices_e4=[to_e4(p) for p, _ in bids], bid_qtys=[q for _, q in bids],
            ask_prices_e4=[to_e4(p) for p, _ in asks], ask_qtys=[q for _, q in asks],
            last_price_e4=to_e4(last[0]) if last else 0, last_qty=last[1] if last else 0,
        ))
        return self.events[start:]

    def place(
        self, client_order_id: str, side: Side, qty: int, price: str, *, tif: TimeInForce = TimeInForce.ROD,
        price_type: PriceType = PriceType.LMT, symbol: str = "2330",
    ) -> None:
        self.broker.place(OrderCommand(
            intent_id=client_order_id, strategy_id="mm1", action=IntentAction.NEW, client_order_id=client_order_id,
            symbol=symbol, side=side, qty=qty, price_e4=to_e4(price), price_type=price_type, tif=tif,
            ingest_ts_ns=0, approved_mono_ns=0, deadline_ns=0,
        ))


def fills(events: list[BrokerEvent]) -> list[tuple[int, int]]:
    return [(e.price_e4, e.qty) for e in events if e.kind is ExecType.FILL]


def kinds(events: list[BrokerEvent]) -> list[ExecType]:
    return [e.kind for e in events]


@pytest.fixture
def sim() -> Harness:
    return Harness()


def test_calls_answer_only_after_the_configured_latency(sim: Harness) -> None:
    sim.place("o1", Side.BUY, 1, "1000")
    sim.broker.amend_price("o1", to_e4("995"))
    sim.broker.cancel("o1")
    assert sim.events == []
    assert [delay for delay, _ in sim.scheduled] == [ACK_LATENCY_US * 1000] * 3


def test_latency_zero_is_still_scheduled() -> None:
    sim = Harness(ack_latency_us=0)
    sim.place("o1", Side.BUY, 1, "1000")
    assert sim.events == []
    assert sim.scheduled[0][0] == 0


def test_non_crossing_order_is_acked_and_rests(sim: Harness) -> None:
    sim.book(bids=[("995", 10)], asks=[("1000", 10)])
    sim.place("o1", Side.BUY, 2, "995")
    events = sim.run()
    assert kinds(events) == [ExecType.ACK]
    assert events[0].client_order_id == "o1"
    assert events[0].broker_order_id
    assert sim.broker.resting_count == 1


def test_order_without_any_book_rests(sim: Harness) -> None:
    sim.place("o1", Side.BUY, 2, "995")
    assert kinds(sim.run()) == [ExecType.ACK]
    assert sim.broker.resting_count == 1


def test_broker_order_ids_are_distinct(sim: Harness) -> None:
    sim.place("o1", Side.BUY, 1, "990")
    sim.place("o2", Side.BUY, 1, "990")
    events = sim.run()
    assert events[0].broker_order_id != events[1].broker_order_id


def test_crossing_buy_fills_at_the_ask_levels_it_reaches(sim: Harness) -> None:
    sim.book(bids=[("995", 5)], asks=[("1000", 2), ("1005", 3), ("1010", 4)])
    sim.place("o1", Side.BUY, 4, "1005")
    events = sim.run()
    assert kinds(events) == [ExecType.ACK, ExecType.FILL, ExecType.FILL]
    assert fills(events) == [(to_e4("1000"), 2), (to_e4("1005"), 2)]
    assert sim.broker.resting_count == 0
    assert all(e.broker_order_id == events[0].broker_order_id for e in events)


def test_partial_fill_when_the_book_holds_less_and_the_rod_remainder_rests(sim: Harness) -> None:
    sim.book(asks=[("1000", 2), ("1005", 3), ("1010", 4)])
    sim.place("o1", Side.BUY, 10, "1005")
    events = sim.run()
    assert fills(events) == [(to_e4("1000"), 2), (to_e4("1005"), 3)]
    assert ExecType.EXPIRED not in kinds(events)
    assert sim.broker.resting_count == 1
    sim.broker.cancel("o1")
    (cancelled,) = sim.run()
    assert cancelled.kind is ExecType.CANCELLED
    assert cancelled.qty == 5


def test_ioc_remainder_expires(sim: Harness) -> None:
    sim.book(asks=[("1000", 2), ("1010", 4)])
    sim.place("o1", Side.BUY, 5, "1005", tif=TimeInForce.IOC)
    events = sim.run()
    assert kinds(events) == [ExecType.ACK, ExecType.FILL, ExecType.EXPIRED]
    assert fills(events) == [(to_e4("1000"), 2)]
    assert events[-1].qty == 3
    assert sim.broker.resting_count == 0


def test_ioc_filled_in_full_does_not_expire(sim: Harness) -> None:
    sim.book(asks=[("1000", 5)])
    sim.place("o1", Side.BUY, 5, "1000", tif=TimeInForce.IOC)
    assert kinds(sim.run()) == [ExecType.ACK, ExecType.FILL]


def test_fok_without_enough_liquidity_is_rejected(sim: Harness) -> None:
    sim.book(asks=[("1000", 2), ("1005", 3), ("1010", 9)])
    sim.place("o1", Side.BUY, 6, "1005", tif=TimeInForce.FOK)
    events = sim.run()
    assert kinds(events) == [ExecType.REJECT]
    assert sim.broker.resting_count == 0
    # nothing was taken: the whole book is still there for the next order
    sim.place("o2", Side.BUY, 5, "1005", tif=TimeInForce.FOK)
    assert fills(sim.run()) == [(to_e4("1000"), 2), (to_e4("1005"), 3)]


def test_fok_without_a_book_is_rejected(sim: Harness) -> None:
    sim.place("o1", Side.BUY, 1, "1000", tif=TimeInForce.FOK)
    assert kinds(sim.run()) == [ExecType.REJECT]


def test_market_order_without_a_book_is_rejected(sim: Harness) -> None:
    sim.place("o1", Side.BUY, 1, "0", price_type=PriceType.MKT, tif=TimeInForce.IOC)
    assert kinds(sim.run()) == [ExecType.REJECT]


def test_market_order_takes_any_level_and_never_rests(sim: Harness) -> None:
    sim.book(asks=[("1000", 1), ("1050", 1)])
    sim.place("o1", Side.BUY, 3, "0", price_type=PriceType.MKT)
    events = sim.run()
    assert fills(events) == [(to_e4("1000"), 1), (to_e4("1050"), 1)]
    assert events[-1].kind is ExecType.EXPIRED
    assert sim.broker.resting_count == 0


def test_liquidity_taken_is_not_offered_twice_until_the_next_book(sim: Harness) -> None:
    sim.book(asks=[("1000", 3)])
    sim.place("o1", Side.BUY, 2, "1000", tif=TimeInForce.IOC)
    sim.place("o2", Side.BUY, 2, "1000", tif=TimeInForce.IOC)
    sim.place("o3", Side.BUY, 2, "1000", tif=TimeInForce.IOC)
    events = sim.run()
    by_order = {oid: [(p, q) for e in events if e.client_order_id == oid for p, q in fills([e])]
                for oid in ("o1", "o2", "o3")}
    assert by_order == {"o1": [(to_e4("1000"), 2)], "o2": [(to_e4("1000"), 1)], "o3": []}
    sim.book(asks=[("1000", 3)])
    sim.place("o4", Side.BUY, 2, "1000", tif=TimeInForce.IOC)
    assert fills(sim.run()) == [(to_e4("1000"), 2)]


def test_resting_order_fills_on_a_trade_at_its_price_up_to_the_printed_qty(sim: Harness) -> None:
    sim.book(bids=[("995", 10)], asks=[("1000", 10)])
    sim.place("o1", Side.BUY, 5, "995")
    sim.run()
    events = sim.book(bids=[("995", 10)], asks=[("1000", 10)], last=("995", 3))
    assert kinds(events) == [ExecType.FILL]
    assert fills(events) == [(to_e4("995"), 3)]
    assert sim.broker.resting_count == 1


def test_resting_order_takes_a_book_that_moves_through_it(sim: Harness) -> None:
    sim.place("o1", Side.BUY, 2, "995")
    sim.run()
    events = sim.book(bids=[("985", 10)], asks=[("990", 10)], last=("985", 50))
    # the new ask (990) is at or below the order's price: it fills there, at the ask's price, before any print
    assert fills(events) == [(to_e4("990"), 2)]
    assert sim.broker.resting_count == 0


def test_trade_through_without_a_crossing_ask(sim: Harness) -> None:
    sim.place("o1", Side.BUY, 4, "995")
    sim.run()
    events = sim.book(bids=[("990", 10)], asks=[("1000", 10)], last=("990", 50))
    assert fills(events) == [(to_e4("995"), 4)]
    assert sim.broker.resting_count == 0


def test_trade_away_from_a_resting_order_does_not_fill_it(sim: Harness) -> None:
    sim.place("b", Side.BUY, 2, "995")
    sim.place("s", Side.SELL, 2, "1005")
    sim.run()
    assert sim.book(bids=[("995", 10)], asks=[("1005", 10)], last=("1000", 50)) == []
    assert sim.broker.resting_count == 2


def test_one_print_is_shared_between_resting_orders(sim: Harness) -> None:
    sim.place("a", Side.BUY, 2, "995")
    sim.place("b", Side.BUY, 2, "995")
    sim.run()
    events = sim.book(bids=[("995", 10)], asks=[("1000", 10)], last=("995", 3))
    assert [(e.client_order_id, e.qty) for e in events] == [("a", 2), ("b", 1)]


def test_a_print_does_not_fill_an_order_placed_after_it(sim: Harness) -> None:
    sim.book(bids=[("995", 10)], asks=[("1000", 10)], last=("995", 50))
    sim.place("o1", Side.BUY, 2, "995")
    assert kinds(sim.run()) == [ExecType.ACK]


def test_amend_moves_the_price(sim: Harness) -> None:
    sim.book(bids=[("995", 10)], asks=[("1005", 10)])
    sim.place("o1", Side.BUY, 2, "990")
    sim.run()
    sim.broker.amend_price("o1", to_e4("995"))
    (amended,) = sim.run()
    assert amended.kind is ExecType.AMENDED
    assert amended.price_e4 == to_e4("995")
    # the new price is what a print is compared with
    assert fills(sim.book(bids=[("995", 10)], asks=[("1005", 10)], last=("995", 1))) == [(to_e4("995"), 1)]


def test_amend_that_crosses_fills(sim: Harness) -> None:
    sim.book(bids=[("995", 10)], asks=[("1005", 1), ("1010", 5)])
    sim.place("o1", Side.BUY, 3, "995")
    sim.run()
    sim.broker.amend_price("o1", to_e4("1010"))
    events = sim.run()
    assert kinds(events) == [ExecType.AMENDED, ExecType.FILL, ExecType.FILL]
    assert fills(events) == [(to_e4("1005"), 1), (to_e4("1010"), 2)]
    assert sim.broker.resting_count == 0


def test_amend_of_unknown_order_is_rejected(sim: Harness) -> None:
    sim.broker.amend_price("nope", to_e4("1000"))
    (event,) = sim.run()
    assert (event.kind, event.client_order_id) == (ExecType.AMEND_REJECT, "nope")


def test_cancel_of_unknown_order_is_rejected(sim: Harness) -> None:
    sim.broker.cancel("nope")
    (event,) = sim.run()
    assert (event.kind, event.client_order_id) == (ExecType.CANCEL_REJECT, "nope")


def test_amend_and_cancel_of_a_filled_order_are_rejected(sim: Harness) -> None:
    sim.book(asks=[("1000", 10)])
    sim.place("o1", Side.BUY, 2, "1000")
    sim.run()
    sim.broker.amend_price("o1", to_e4("995"))
    sim.broker.cancel("o1")
    assert kinds(sim.run()) == [ExecType.AMEND_REJECT, ExecType.CANCEL_REJECT]


def test_cancel_returns_the_leaves_and_the_order_no_longer_fills(sim: Harness) -> None:
    sim.place("o1", Side.BUY, 5, "995")
    sim.run()
    sim.book(bids=[("995", 10)], asks=[("1000", 10)], last=("995", 2))
    sim.broker.cancel("o1")
    (cancelled,) = sim.run()
    assert (cancelled.kind, cancelled.qty) == (ExecType.CANCELLED, 3)
    assert sim.broker.resting_count == 0
    assert sim.book(bids=[("995", 10)], asks=[("1000", 10)], last=("995", 9)) == []
    sim.broker.cancel("o1")
    assert kinds(sim.run()) == [ExecType.CANCEL_REJECT]


def test_crossing_sell_fills_at_the_bid_levels(sim: Harness) -> None:
    sim.book(bids=[("1000", 2), ("995", 3), ("990", 4)], asks=[("1005", 5)])
    sim.place("o1", Side.SELL, 10, "995")
    events = sim.run()
    assert fills(events) == [(to_e4("1000"), 2), (to_e4("995"), 3)]
    assert sim.broker.resting_count == 1


def test_sell_ioc_remainder_expires(sim: Harness) -> None:
    sim.book(bids=[("1000", 2)])
    sim.place("o1", Side.SELL, 3, "1000", tif=TimeInForce.IOC)
    events = sim.run()
    assert kinds(events) == [ExecType.ACK, ExecType.FILL, ExecType.EXPIRED]
    assert events[-1].qty == 1


def test_sell_fok_without_enough_bids_is_rejected(sim: Harness) -> None:
    sim.book(bids=[("1000", 2), ("990", 5)])
    sim.place("o1", Side.SELL, 3, "995", tif=TimeInForce.FOK)
    assert kinds(sim.run()) == [ExecType.REJECT]


def test_resting_sell_fills_on_a_print_at_or_above_and_not_below(sim: Harness) -> None:
    sim.place("o1", Side.SELL, 5, "1005")
    sim.run()
    assert sim.book(bids=[("1000", 10)], asks=[("1005", 10)], last=("1000", 9)) == []
    assert fills(sim.book(bids=[("1000", 10)], asks=[("1005", 10)], last=("1005", 2))) == [(to_e4("1005"), 2)]
    assert fills(sim.book(bids=[("1000", 10)], asks=[("1010", 10)], last=("1010", 9))) == [(to_e4("1005"), 3)]
    assert sim.broker.resting_count == 0


def test_books_are_per_symbol(sim: Harness) -> None:
    sim.book(asks=[("1000", 10)], symbol="2330")
    sim.place("o1", Side.BUY, 1, "1000", symbol="2317")
    assert kinds(sim.run()) == [ExecType.ACK]
    sim.place("o2", Side.BUY, 1, "1000", symbol="2330", tif=TimeInForce.IOC)
    assert fills(sim.run()) == [(to_e4("1000"), 1)]
    assert sim.book(bids=[("999", 1)], asks=[("1000", 10)], last=("1000", 9), symbol="2454") == []
