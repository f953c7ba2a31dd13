"""SimBroker: the embedded exchange simulator, matching orders against the live md stream.

It answers every call after a configurable latency, through the event callback, like Shioaji's
non-blocking calls. Matching: an order that crosses the book fills against the displayed levels
at their prices (partially when the book holds less than it wants); liquidity taken from one book
is not offered again until the next market event replaces it. A resting order also fills when a
trade prints at or through its price, up to the printed quantity: queue position is not modelled,
so fills are optimistic. IOC and FOK leave nothing resting (FOK fills in full or not at all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from contracts.enums import ExecType, PriceType, Side, TimeInForce
from contracts.messages import MarketEvent, OrderCommand
from services.adapter.brokers.base import BrokerEvent, BrokerEventCallback
from services.runtime.config.order_adapter import SimBrokerConfig

Scheduler = Callable[[int, Callable[[], None]], None]
"""call_later(delay_ns, callback): the loop runs `callback` later on its own thread."""


@dataclass(slots=True)
class SimOrder:
    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    price_e4: int
    leaves_qty: int
    price_type: PriceType
    tif: TimeInForce


@dataclass(slots=True)
class SimBook:
    event: MarketEvent
    taken: dict[int, int] = field(default_factory=dict)
    trade_qty_left: int = 0


class SimBroker:
    def __init__(self, config: SimBrokerConfig, schedule: Scheduler) -> None:
        self._latency_ns = config.ack_latency_us * 1000
        self._schedule = schedule
        self._callback: BrokerEventCallback = lambda event: None
        self._books: dict[str, SimBook] = {}
        self._resting: dict[str, SimOrder] = {}
        self._resting_by_symbol: dict[str, dict[str, SimOrder]] = {}
        self._next_id = 0

    def set_event_callback(self, callback: BrokerEventCallback) -> None:
        self._callback = callback

    @property
    def resting_count(self) -> int:
        return len(self._resting)

    def place(self, command: OrderCommand) -> None:
        self._schedule(self._latency_ns, lambda: self._accept(command))

    def amend_price(self, client_order_id: str, price_e4: int) -> None:
        self._schedule(self._latency_ns, lambda: self._amend(client_order_id, price_e4))

    def cancel(self, client_order_id: str) -> None:
        self._schedule(self._latency_ns, lambda: self._cancel(client_order_id))

    def on_market(self, event: MarketEvent) -> None:
        book = SimBook(event, trade_qty_left=event.last_qty)
        self._books[event.symbol] = book
        for order in list(self._resting_by_symbol.get(event.symbol, {}).values()):
            self._match(order, book, resting=True)

    def _accept(self, command: OrderCommand) -> None:
        self._next_id += 1
        order = SimOrder(
            client_order_id=command.client_order_id, broker_order_id=f"S{self._next_id:08d}",
            symbol=command.symbol, side=command.side, price_e4=command.price_e4, leaves_qty=command.qty,
            price_type=command.price_type, tif=command.tif,
        )
        book = self._books.get(order.symbol)
        if order.price_type is PriceType.MKT and book is None:
            self._emit(ExecType.REJECT, order, detail="no book for a market order")
            return
        if order.tif is TimeInForce.FOK and (book is None or self._available(order, book) < order.leaves_qty):
            self._emit(ExecType.REJECT, order, detail="FOK cannot be filled in full")
            return
        self._emit(ExecType.ACK, order)
        if book is not None:
            self._match(order, book, resting=False)
        if order.leaves_qty == 0:
            return
        if order.tif is TimeInForce.ROD and order.price_type is PriceType.LMT:
            self._resting[order.client_order_id] = order
            self._resting_by_symbol.setdefault(order.symbol, {})[order.client_order_id] = order
        else:
            self._emit(ExecType.EXPIRED, order, qty=order.leaves_qty, detail=f"{order.tif} remainder")

    def _amend(self, client_order_id: str, price_e4: int) -> None:
        order = self._resting.get(client_order_id)
        if order is None:
            self._callback(BrokerEvent(ExecType.AMEND_REJECT, client_order_id, detail="order not working"))
            return
        order.price_e4 = price_e4
        self._emit(ExecType.AMENDED, order, price_e4=price_e4)
        book = self._books.get(order.symbol)
        if book is not None:
            self._match(order, book, resting=False)

    def _cancel(self, client_order_id: str) -> None:
        order = self._unrest(client_order_id)
        if order is None:
            self._callback(BrokerEvent(ExecType.CANCEL_REJECT, client_order_id, detail="order not working"))
            return
        self._emit(ExecType.CANCELLED, order, qty=order.leaves_qty)

    def _unrest(self, client_order_id: str) -> SimOrder | None:
        order = self._resting.pop(client_order_id, None)
        if order is not None:
            self._resting_by_symbol[order.symbol].pop(client_order_id, None)
        return order

    def _levels(self, order: SimOrder, book: SimBook) -> list[tuple[int, int]]:
        """Opposite-side levels this order may take, best first, with what is left at each."""
        event = book.event
        if order.side is Side.BUY:
            prices, qtys = event.ask_prices_e4, event.ask_qtys
            crosses = (lambda p: True) if order.price_type is PriceType.MKT else (lambda p: p <= order.price_e4)
        else:
            prices, qtys = event.bid_prices_e4, event.bid_qtys
            crosses = (lambda p: True) if order.price_type is PriceType.MKT else (lambda p: p >= order.price_e4)
        return [(p, q - book.taken.get(p, 0)) for p, q in zip(prices, qtys, strict=False) if crosses(p)]

    def _available(self, order: SimOrder, book: SimBook) -> int:
        return sum(max(0, left) for _, left in self._levels(order, book))

    def _match(self, order: SimOrder, book: SimBook, *, resting: bool) -> None:
        for price_e4, left in self._levels(order, book):
            if order.leaves_qty == 0:
                break
            qty = min(order.leaves_qty, left)
            if qty > 0:
                book.taken[price_e4] = book.taken.get(price_e4, 0) + qty
                self._fill(order, price_e4, qty)
        event = book.event
        if resting and order.leaves_qty and book.trade_qty_left and event.last_price_e4:
            through = (
                event.last_price_e4 <= order.price_e4 if order.side is Side.BUY
                else event.last_price_e4 >= order.price_e4
            )
            if through:
                qty = min(order.leaves_qty, book.trade_qty_left)
                book.trade_qty_left -= qty
                self._fill(order, order.price_e4, qty)

    def _fill(self, order: SimOrder, price_e4: int, qty: int) -> None:
        order.leaves_qty -= qty
        if order.leaves_qty == 0:
            self._unrest(order.client_order_id)
        self._emit(ExecType.FILL, order, price_e4=price_e4, qty=qty)

    def _emit(self, kind: ExecType, order: SimOrder, *, price_e4: int = 0, qty: int = 0, detail: str = "") -> None:
        self._callback(BrokerEvent(kind, order.client_order_id, order.broker_order_id, price_e4, qty, detail))
