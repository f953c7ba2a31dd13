"""The fake SDK and its server keep the broker's rules: AuthError before login, the exchange's refusals
as events (op_code != "00", Chinese op_msg) rather than exceptions, quantity only down, nothing
changes a finished order, one order budget of 250 calls per 10 s with a 60 s suspension, and the
faults it can inject. Answers come from the server's own thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from services.runtime.clock import FakeClock
from services.runtime.config.shioaji import FakeShioajiConfig
from services.shioaji import fake_exchange as rules
from services.shioaji.fake_api import FakeShioaji
from services.shioaji.fake_server import FakeSinopac
from services.shioaji.sdk import sj
from tests.unit.shioaji.broker_harness import book, listings

S = 1_000_000_000
DEADLINE_S = 5.0


class Client:
    """A logged-in fake SDK client whose callbacks land in one queue, with the thread they ran on."""

    def __init__(self, config: FakeShioajiConfig | None = None) -> None:
        self.clock = FakeClock()
        self.server = FakeSinopac(config or FakeShioajiConfig(ack_latency_ms=0), listings(), clock=self.clock)
        self.api = FakeShioaji.connected_to(self.server, simulation=True)
        self.api.login(api_key="key", secret_key="secret")
        self.answers: queue.Queue[tuple[str, Any, str]] = queue.Queue()
        self.api.set_order_callback(lambda state, msg: self._put("event", (state, msg)))
        self.stock = self.api.contracts.stocks.get("2330")

    def _put(self, kind: str, value: Any) -> None:
        self.answers.put((kind, value, threading.current_thread().name))

    def cb(self, trade: Any) -> None:
        self._put("cb", trade)

    def next(self, kind: str) -> Any:
        """The next answer of this kind (others before it are skipped), within the deadline."""
        while True:
            got, value, _ = self.answers.get(timeout=DEADLINE_S)
            if got == kind:
                return value

    def event(self) -> tuple[Any, Any]:
        return self.next("event")

    def place(self, price: float = 1000.0, qty: int = 3, **fields: Any) -> Any:
        order = sj.StockOrder(action=fields.pop("action", "Buy"), price=price, quantity=qty, price_type="LMT",
                              time_in_force="ROD", order_lot=fields.pop("order_lot", "Common"), **fields)
        return self.api.place_order(self.stock, order, timeout=0, cb=self.cb)

    def placed(self, **fields: Any) -> Any:
        """A resting order, acknowledged: its complete Trade."""
        self.place(**fields)
        trade = self.next("cb")
        _, msg = self.event()
        assert msg["operation"]["op_code"] == rules.OK_CODE, msg
        return trade


@pytest.fixture
def client() -> Iterator[Client]:
    fake = Client()
    yield fake
    fake.server.stop()


def test_every_call_before_login_raises_auth_error() -> None:
    server = FakeSinopac(FakeShioajiConfig(), listings())
    try:
        api = FakeShioaji.connected_to(server, simulation=True)
        for call in (api.list_trades, lambda: api.contracts, lambda: api.update_status(timeout=0),
                     lambda: api.subscribe(sj.Stock(exchange="TSE", code="2330"), quote_type="tick")):
            with pytest.raises(sj.AuthError):
                call()
        with pytest.raises(sj.TokenError):
            api.login(api_key="", secret_key="")
    finally:
        server.stop()


def test_non_blocking_place_returns_at_once_and_answers_from_the_servers_thread(client: Client) -> None:
    trade = client.place(price=995.0)
    assert (trade.order.id, trade.order.seqno, trade.status.status) == ("", "", sj.OrderStatus.Inactive)
    _, answered, thread = client.answers.get(timeout=DEADLINE_S)
    assert thread == "fake-sinopac" != threading.current_thread().name
    assert answered.order.id and answered.status.status == sj.OrderStatus.Submitted
    assert isinstance(answered.order.action, sj.Action) and answered.order.action == sj.Action.Buy
    state, msg = client.event()
    assert state == sj.OrderState.StockOrder
    assert (msg["operation"]["op_type"], msg["order"]["id"]) == ("New", answered.order.id)


def test_blocking_place_waits_for_the_answer_and_times_out_while_the_order_still_goes_live(client: Client) -> None:
    order = sj.StockOrder(action="Buy", price=995.0, quantity=1, price_type="LMT", time_in_force="ROD")
    trade = client.api.place_order(client.stock, order, timeout=5000)
    assert trade.order.id and trade.status.status == sj.OrderStatus.Submitted
    client.server.hold_next_answers()
    with pytest.raises(sj.ShioajiTimeoutError):
        client.api.place_order(client.stock, order, timeout=50)
    assert [t.status.status for t in client.api.list_trades()] == [sj.OrderStatus.Submitted] * 2


@pytest.mark.parametrize("price, op_msg", [
    (1105.0, rules.PRICE_OUTSIDE_LIMITS),  # 2330: reference 1000, limit up 1100
    (895.0, rules.PRICE_OUTSIDE_LIMITS),
    (1000.5, rules.PRICE_OFF_TICK),  # 500 and up trades in whole units
])
def test_exchange_refusals_are_events_not_exceptions(client: Client, price: float, op_msg: str) -> None:
    client.place(price=price)
    assert client.next("cb").status.status == sj.OrderStatus.Failed
    _, msg = client.event()
    assert msg["operation"] == {"op_type": "New", "op_code": rules.REFUSED_CODE, "op_msg": op_msg}


def test_quantity_only_goes_down_and_a_finished_order_cannot_change(client: Client) -> None:
    trade = client.placed(price=995.0, qty=3)
    client.api.update_order(trade, qty=0, timeout=0)
    assert client.event()[1]["operation"]["op_msg"] == rules.QTY_ONLY_DOWN
    client.api.update_order(trade, qty=5, timeout=0)
    assert client.event()[1]["operation"]["op_msg"] == rules.QTY_OVER_LEAVES
    client.api.update_order(trade, qty=1, timeout=0)
    _, reduced = client.event()
    assert (reduced["operation"]["op_code"], reduced["status"]["cancel_quantity"]) == (rules.OK_CODE, 1)
    client.server.exchange_market(book("2330", bids=[("990", 5)], asks=[("995", 5)]))
    assert client.event()[1]["quantity"] == 2  # the deal: filled
    for change in (lambda: client.api.update_order(trade, price=990.0, timeout=0),
                   lambda: client.api.update_order(trade, qty=1, timeout=0),
                   lambda: client.api.cancel_order(trade, timeout=0)):
        change()
        assert client.event()[1]["operation"]["op_msg"] == rules.NOT_WORKING
    with pytest.raises(sj.ShioajiValueError):
        client.api.update_order(trade, price=990.0, qty=1, timeout=0)


def test_intraday_odd_lots_cannot_change_price(client: Client) -> None:
    trade = client.placed(price=995.0, qty=100, order_lot="IntradayOdd")
    client.api.update_order(trade, price=990.0, timeout=0)
    assert client.event()[1]["operation"]["op_msg"] == rules.ODD_LOT_PRICE


def test_futures_market_orders_cannot_rest(client: Client) -> None:
    future = client.api.contracts.futures.get("TXFL6")
    order = sj.FuturesOrder(action="Sell", price=0.0, quantity=1, price_type="MKT", time_in_force="ROD",
                            octype="Auto")
    client.api.place_order(future, order, timeout=0)
    state, msg = client.event()
    assert state == sj.OrderState.FuturesOrder
    assert msg["operation"]["op_msg"] == rules.FUTURES_MKT_ROD


def test_one_budget_of_250_calls_per_10_s_then_a_60_s_suspension() -> None:
    client = Client(FakeShioajiConfig(ack_latency_ms=0))
    try:
        trade = client.placed(price=995.0, qty=1)
        for _ in range(248):
            client.api.update_status(trade=trade, timeout=0)
        client.api.cancel_order(trade, timeout=0)  # the 250th order call: place, status and cancel share it
        with pytest.raises(sj.TokenError, match="Token is expired"):
            client.api.update_status(timeout=0)
        client.clock.advance(59 * S)
        with pytest.raises(sj.TokenError, match="suspended"):
            client.api.update_status(timeout=0)
        client.clock.advance(11 * S)  # past the suspension, and past the window of the calls it refused
        client.api.update_status(timeout=0)
        client.api.list_trades()  # a local cache: never counted
    finally:
        client.server.stop()


def test_injected_failures_and_session_down(client: Client) -> None:
    client.server.fail_next(sj.OrderOutcomeUnknownError("409"))
    with pytest.raises(sj.OrderOutcomeUnknownError):
        client.place()
    assert client.api.list_trades() == []
    client.server.fail_next(sj.OrderOutcomeUnknownError("409"), went_live=True)
    with pytest.raises(sj.OrderOutcomeUnknownError):
        client.place(price=995.0)
    assert client.event()[1]["operation"]["op_type"] == "New"
    assert len(client.api.list_trades()) == 1

    down = threading.Event()
    client.api.set_session_down_callback(down.set)
    client.server.drop_session()
    assert down.wait(DEADLINE_S)
    with pytest.raises(sj.ShioajiConnectionError):
        client.place()
    client.server.restore_session()
    client.placed(price=990.0)


def test_deals_can_come_before_the_ack(client: Client) -> None:
    client.server.exchange_market(book("2330", bids=[("990", 5)], asks=[("1000", 2)]))
    client.server.deals_before_ack_next()
    client.place(price=1000.0, qty=2)
    first, _ = client.event()
    second, msg = client.event()
    assert (first, second, msg["operation"]["op_type"]) == (sj.OrderState.StockDeal, sj.OrderState.StockOrder, "New")


def test_ioc_remainders_and_lonely_market_orders_end_at_the_exchange(client: Client) -> None:
    client.server.exchange_market(book("2330", bids=[("990", 5)], asks=[("1000", 1)]))
    order = sj.StockOrder(action="Buy", price=1000.0, quantity=3, price_type="LMT", time_in_force="IOC")
    client.api.place_order(client.stock, order, timeout=0)
    (new_state, new), (deal_state, deal), (end_state, end) = client.event(), client.event(), client.event()
    assert (new_state, new["operation"]["op_type"]) == (sj.OrderState.StockOrder, "New")
    assert (deal_state, deal["quantity"]) == (sj.OrderState.StockDeal, 1)
    assert (end_state, end["operation"]["op_type"], end["status"]["cancel_quantity"]) == (
        sj.OrderState.StockOrder, "Cancel", 2)
    market = sj.StockOrder(action="Sell", price=0.0, quantity=1, price_type="MKT", time_in_force="IOC")
    client.server.exchange_market(book("2330", bids=[], asks=[("1000", 1)]))
    client.api.place_order(client.stock, market, timeout=0)
    assert client.event()[1]["operation"]["op_msg"] == rules.NO_COUNTERPARTY


def test_fills_can_come_in_deals_of_a_few_lots() -> None:
    client = Client(FakeShioajiConfig(ack_latency_ms=0, max_deal_qty=1))
    try:
        client.server.exchange_market(book("2330", bids=[("990", 5)], asks=[("1000", 5)]))
        client.place(price=1000.0, qty=3)
        deals = [client.event() for _ in range(4)][1:]
        assert [(state, msg["quantity"]) for state, msg in deals] == [(sj.OrderState.StockDeal, 1)] * 3
        assert len({msg["exchange_seq"] for _, msg in deals}) == 3
    finally:
        client.server.stop()
