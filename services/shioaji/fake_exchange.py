"""FakeExchange: how SinoPac and the exchange treat orders, behind the fake SDK client.

Plain state, driven by one thread (the fake server's worker). Each verb returns what the broker
sends back through the order callback: (OrderState, message) pairs shaped like the SDK's
(order events: operation, order, status, contract; deal events: trade_id, seqno, ordno,
exchange_seq, price, quantity, ts, ...).

The broker's rules, as the fake enforces them (refusals come back as an event with op_code != "00"
and a Chinese op_msg, never as an exception): limit prices inside limit_down..limit_up and on the
tick ladder (futures: the contract's tick); nothing in a suspended stock, no more lots in one
order of a disposition stock than its cap; quantity changes only downwards and never below what is
filled; no change to an order that is filled or cancelled; intraday odd lots cannot change price;
futures reject MKT+ROD; a market order with nothing to trade against is rejected.

Matching: an order that crosses the last book fills against its displayed levels (one deal per
level, or deals of at most `max_deal_qty`), partially when the book holds less; liquidity taken from
a book is not offered again until the next one. A resting order fills when a later book crosses it,
or a trade prints at or through its price (up to the printed quantity). MKT, IOC and FOK leave
nothing resting: the remainder is cancelled by the exchange (FOK cancels in full unless it can fill
in full). Queue position is not modelled: fills are optimistic, like the SimBroker's.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.enums import DayTrade, InstrumentKind
from contracts.market_rules import is_on_tick
from contracts.messages import InstrumentRef, MarketEvent
from services.runtime.config.shioaji import QtyMode
from services.shioaji.fake_objects import (
    Deal,
    EventMessage,
    OrderResult,
    OrderStatusInfo,
    StockInfo,
    Trade,
    taipei_time,
)
from services.shioaji.kinds import CATEGORY_OF_KIND
from services.shioaji.sdk import date_to_sdk, price_from_sdk, price_to_sdk, sj

OK_CODE = "00"
REFUSED_CODE = "88"
"""The fake's op_code for every refusal; the real server has several, and the broker reads only != "00"."""

PRICE_OUTSIDE_LIMITS = "價格超過漲跌停範圍"
PRICE_OFF_TICK = "委託價格不符合升降單位"
QTY_NOT_POSITIVE = "委託數量錯誤"
QTY_ONLY_DOWN = "改量只能減少數量"
QTY_OVER_LEAVES = "減量數量大於剩餘數量"
NOT_WORKING = "委託已全部成交或已刪單"
ODD_LOT_PRICE = "盤中零股不可改價"
FUTURES_MKT_ROD = "期貨市價單不可為ROD"
NO_COUNTERPARTY = "市價單無對手可成交"
UNKNOWN_CONTRACT = "證券代號錯誤"
TRADING_SUSPENDED = "該股票暫停交易"
DISPOSITION_ORDER_LOTS = "處置股委託數量超過單筆上限"

Outcome = tuple[Any, EventMessage]
"""(sj.OrderState, message): one call of the order callback."""

_WORKING = (sj.OrderStatus.Submitted, sj.OrderStatus.PartFilled)


@dataclass(frozen=True, slots=True)
class Listing:
    """A contract the fake server trades: the SDK's contract object and its reference data."""

    contract: Any
    ref: InstrumentRef

    @property
    def is_future(self) -> bool:
        return self.ref.kind is InstrumentKind.FUTURE


def listing_of(ref: InstrumentRef, listed_on: str) -> Listing:
    """The sj.Stock or sj.Future Shioaji would list for this instrument; `listed_on` (YYYY-MM-DD) is the day
    its reference data is for, the contract's update_date."""
    prices = {"limit_up": price_to_sdk(ref.limit_up_e4), "limit_down": price_to_sdk(ref.limit_down_e4),
              "reference": price_to_sdk(ref.reference_e4)}
    if ref.kind is InstrumentKind.FUTURE:
        contract = sj.Future(code=ref.symbol, exchange=sj.Exchange.TAIFEX, symbol=ref.symbol, name=ref.symbol,
                             category=ref.symbol[:3], unit=1, multiplier=ref.unit,
                             update_date=date_to_sdk(listed_on), **prices)
    else:
        contract = sj.Stock(exchange=sj.Exchange.TSE, code=ref.symbol, symbol=f"TSE{ref.symbol}", name=ref.symbol,
                            category=CATEGORY_OF_KIND.get(ref.kind), unit=ref.unit,
                            update_date=date_to_sdk(listed_on), **prices)
    return Listing(contract, ref)


_SDK_DAY_TRADE = {DayTrade.YES: "Yes", DayTrade.ONLY_BUY: "OnlyBuy", DayTrade.NO: "No"}


def stock_info_of(listing: Listing) -> StockInfo:
    """The StockInfo row Shioaji would give for a listed stock: its reference data and the regulator's
    state the instruments file gives it."""
    ref, contract = listing.ref, listing.contract
    return StockInfo(
        code=ref.symbol, category=contract.category, unit=float(ref.unit),
        day_trade=sj.DayTrade(_SDK_DAY_TRADE[ref.day_trade]) if ref.day_trade is not None else None,
        reference=contract.reference, limit_up=contract.limit_up, limit_down=contract.limit_down,
        trading_suspended=ref.trading_suspended, attention_flag=ref.attention_flag,
        disposition_level=ref.disposition_level, disposition_match_interval_min=ref.disposition_match_interval_min,
        disposition_max_lots_single_order=ref.disposition_max_lots_single_order,
        disposition_max_lots_total_orders=ref.disposition_max_lots_total_orders,
        disposition_prepay_ratio=ref.disposition_prepay_ratio, update_date=None,
    )


@dataclass(slots=True)
class FakeOrder:
    trade_id: str
    seqno: str
    ordno: str
    listing: Listing
    order: Any
    account: Any
    price_e4: int
    quantity: int
    placed_ns: int
    cancelled: int = 0
    dealt: int = 0
    status: Any = sj.OrderStatus.PendingSubmit
    msg: str = ""
    modified_price: float = 0.0
    modified_ns: int = 0
    deals: list[Deal] = field(default_factory=list)

    @property
    def leaves(self) -> int:
        return self.quantity - self.cancelled - self.dealt

    @property
    def working(self) -> bool:
        return self.status in _WORKING

    @property
    def buys(self) -> bool:
        return self.order.action == sj.Action.Buy

    @property
    def is_market(self) -> bool:
        return self.order.price_type == "MKT"

    def snapshot(self) -> Trade:
        """The Trade Shioaji would return for this order now."""
        return Trade(self.listing.contract, result_of(self.order, self.account, self.trade_id, self.seqno,
                                                      self.ordno, price_to_sdk(self.price_e4)),
                     OrderStatusInfo(
                         id=self.trade_id, status=self.status, status_code=OK_CODE if not self.msg else REFUSED_CODE,
                         web_id="137", order_datetime=taipei_time(self.placed_ns), msg=self.msg,
                         modified_time=taipei_time(self.modified_ns) if self.modified_ns else None,
                         modified_price=self.modified_price, order_quantity=self.quantity,
                         deal_quantity=self.dealt, cancel_quantity=self.cancelled, deals=tuple(self.deals)))


def result_of(order: Any, account: Any, trade_id: str, seqno: str, ordno: str, price: float) -> OrderResult:
    return OrderResult(
        id=trade_id, seqno=seqno, ordno=ordno, action=order.action, price=price, quantity=order.quantity,
        time_in_force=order.time_in_force, order_type=order.order_type, price_type=order.price_type,
        custom_field=order.custom_field, account=account, daytrade_short=getattr(order, "daytrade_short", None),
        order_cond=getattr(order, "order_cond", None), order_lot=getattr(order, "order_lot", None),
        octype=getattr(order, "octype", None))


@dataclass(slots=True)
class _Book:
    event: MarketEvent
    taken: dict[int, int] = field(default_factory=dict)
    trade_left: int = 0


class FakeExchange:
    def __init__(self, listings: dict[str, Listing], *, qty_mode: QtyMode, max_deal_qty: int,
                 wall_ns: Callable[[], int]) -> None:
        self.listings = listings
        self.qty_mode = qty_mode
        self.max_deal_qty = max_deal_qty
        self.wall_ns = wall_ns
        self.orders: dict[str, FakeOrder] = {}
        self._books: dict[str, _Book] = {}
        self._numbers = itertools.count(1)

    # -- calls

    def place(self, contract: Any, order: Any, account: Any,
              reject_op_msg: str = "") -> tuple[Trade, list[Outcome]]:
        """A new order: accepted (then matched at once) or refused with the exchange's message. The Trade is
        the order as the server answered the call: accepted or failed, before it traded."""
        number = next(self._numbers)
        listing = self.listings.get(contract.code) or _unlisted(contract)
        price_e4 = price_from_sdk(order.price)
        placed = FakeOrder(uuid.uuid4().hex[:8], f"{number:06d}", f"F{number:04d}", listing, order, account,
                           price_e4, order.quantity, self.wall_ns())
        self.orders[placed.trade_id] = placed
        book = self._books.get(contract.code)
        refusal = reject_op_msg or self._refusal(placed, book)
        if refusal:
            placed.status, placed.msg = sj.OrderStatus.Failed, refusal
            return placed.snapshot(), [self._order_event(placed, "New", refusal)]
        placed.status = sj.OrderStatus.Submitted
        accepted = placed.snapshot()
        out = [self._order_event(placed, "New")]
        if order.time_in_force == "FOK" and (book is None or self._available(placed, book) < placed.quantity):
            self._expire(placed, out)
            return accepted, out
        if book is not None:
            self._match(placed, book, out, resting=False)
        if placed.leaves and (placed.is_market or order.time_in_force != "ROD"):
            self._expire(placed, out)
        return accepted, out

    def update_price(self, trade_id: str, price: float) -> list[Outcome]:
        order = self.orders[trade_id]
        price_e4 = price_from_sdk(price)
        refusal = (NOT_WORKING if not order.working
                   else ODD_LOT_PRICE if getattr(order.order, "order_lot", None) == "IntradayOdd"
                   else self._price_refusal(order.listing, price_e4))
        if refusal:
            return [self._order_event(order, "UpdatePrice", refusal)]
        order.price_e4, order.modified_price, order.modified_ns = price_e4, price, self.wall_ns()
        out = [self._order_event(order, "UpdatePrice")]
        book = self._books.get(order.listing.contract.code)
        if book is not None:
            self._match(order, book, out, resting=False)
        return out

    def update_qty(self, trade_id: str, qty: int) -> list[Outcome]:
        order = self.orders[trade_id]
        reduce_by = qty if self.qty_mode == "reduce_by" else order.quantity - order.cancelled - qty
        refusal = (NOT_WORKING if not order.working else QTY_ONLY_DOWN if reduce_by <= 0
                   else QTY_OVER_LEAVES if reduce_by > order.leaves else "")
        if refusal:
            return [self._order_event(order, "UpdateQty", refusal)]
        order.cancelled += reduce_by
        order.modified_ns = self.wall_ns()
        if order.leaves == 0:
            order.status = sj.OrderStatus.Cancelled
        return [self._order_event(order, "UpdateQty")]

    def cancel(self, trade_id: str) -> list[Outcome]:
        order = self.orders[trade_id]
        if not order.working:
            return [self._order_event(order, "Cancel", NOT_WORKING)]
        out: list[Outcome] = []
        self._expire(order, out)
        return out

    def on_book(self, event: MarketEvent) -> list[Outcome]:
        """A new book for a symbol: resting orders that it (or its trade) crosses fill."""
        book = _Book(event, trade_left=event.last_qty)
        self._books[event.symbol] = book
        out: list[Outcome] = []
        for order in self.orders.values():
            if order.working and order.listing.contract.code == event.symbol:
                self._match(order, book, out, resting=True)
        return out

    # -- rules

    def _refusal(self, order: FakeOrder, book: _Book | None) -> str:
        if order.listing.contract.code not in self.listings:
            return UNKNOWN_CONTRACT
        if order.quantity <= 0:
            return QTY_NOT_POSITIVE
        ref = order.listing.ref
        if ref.trading_suspended:
            return TRADING_SUSPENDED
        if 0 < ref.disposition_max_lots_single_order < order.quantity:
            return DISPOSITION_ORDER_LOTS
        if order.is_market:
            if order.listing.is_future and order.order.time_in_force == "ROD":
                return FUTURES_MKT_ROD
            return "" if book is not None and self._available(order, book) else NO_COUNTERPARTY
        return self._price_refusal(order.listing, order.price_e4)

    @staticmethod
    def _price_refusal(listing: Listing, price_e4: int) -> str:
        ref = listing.ref
        if not ref.limit_down_e4 <= price_e4 <= ref.limit_up_e4:
            return PRICE_OUTSIDE_LIMITS
        return "" if is_on_tick(ref, price_e4) else PRICE_OFF_TICK

    # -- matching

    def _levels(self, order: FakeOrder, book: _Book) -> list[tuple[int, int]]:
        """Opposite levels this order may take, best first, with what is left at each."""
        event = book.event
        prices, qtys = (event.ask_prices_e4, event.ask_qtys) if order.buys else (event.bid_prices_e4, event.bid_qtys)
        return [(price, qty - book.taken.get(price, 0)) for price, qty in zip(prices, qtys, strict=False)
                if order.is_market or (price <= order.price_e4 if order.buys else price >= order.price_e4)]

    def _available(self, order: FakeOrder, book: _Book) -> int:
        return sum(max(0, left) for _, left in self._levels(order, book))

    def _match(self, order: FakeOrder, book: _Book, out: list[Outcome], *, resting: bool) -> None:
        for price_e4, left in self._levels(order, book):
            qty = min(order.leaves, left)
            if qty > 0:
                book.taken[price_e4] = book.taken.get(price_e4, 0) + qty
                self._deal(order, price_e4, qty, out)
        event = book.event
        if resting and order.leaves and book.trade_left and event.last_price_e4 and (
                event.last_price_e4 <= order.price_e4 if order.buys else event.last_price_e4 >= order.price_e4):
            qty = min(order.leaves, book.trade_left)
            book.trade_left -= qty
            self._deal(order, order.price_e4, qty, out)

    def _deal(self, order: FakeOrder, price_e4: int, qty: int, out: list[Outcome]) -> None:
        step = self.max_deal_qty or qty
        while qty > 0:
            part = min(step, qty)
            qty -= part
            order.dealt += part
            order.status = sj.OrderStatus.Filled if order.leaves == 0 else sj.OrderStatus.PartFilled
            now_ns = self.wall_ns()
            exchange_seq = f"{next(self._numbers):08d}"
            order.deals.append(Deal(exchange_seq, price_to_sdk(price_e4), part, now_ns / 1e9, taipei_time(now_ns)))
            out.append(self._deal_event(order, exchange_seq, price_e4, part, now_ns))

    def _expire(self, order: FakeOrder, out: list[Outcome]) -> None:
        """The rest of the order comes off the book (a cancel, or the exchange ending an IOC/FOK/MKT)."""
        order.cancelled += order.leaves
        order.status = sj.OrderStatus.Cancelled
        out.append(self._order_event(order, "Cancel"))

    # -- messages

    def _order_event(self, order: FakeOrder, op_type: str, op_msg: str = "") -> Outcome:
        placed = order.order
        detail: dict[str, Any] = {
            "id": order.trade_id, "seqno": order.seqno, "ordno": order.ordno, "account": _account_fields(order),
            "action": placed.action.value, "price": price_to_sdk(order.price_e4), "quantity": order.quantity,
            "time_in_force": placed.time_in_force.value, "order_type": placed.time_in_force.value,
            "price_type": placed.price_type.value,
        }
        if order.listing.is_future:
            state = sj.OrderState.FuturesOrder
            detail.update(market_type="Day", oc_type=_value(placed.octype), subaccount="", combo=False)
        else:
            state = sj.OrderState.StockOrder
            detail.update(order_cond=_value(placed.order_cond), order_lot=_value(placed.order_lot),
                          custom_field=placed.custom_field or "")
        return state, EventMessage({
            "event_id": self._event_id(),
            "operation": {"op_type": op_type, "op_code": REFUSED_CODE if op_msg else OK_CODE, "op_msg": op_msg},
            "order": detail,
            "status": {"id": order.trade_id, "exchange_ts": self.wall_ns() / 1e9,
                       "modified_price": order.modified_price, "cancel_quantity": order.cancelled,
                       "order_quantity": order.quantity, "web_id": "137"},
            "contract": _contract_fields(order.listing),
        })

    def _deal_event(self, order: FakeOrder, exchange_seq: str, price_e4: int, qty: int, now_ns: int) -> Outcome:
        placed, account = order.order, order.account
        fields: dict[str, Any] = {
            "event_id": self._event_id(), "trade_id": order.trade_id, "seqno": order.seqno, "ordno": order.ordno,
            "exchange_seq": exchange_seq, "broker_id": account.broker_id if account else "",
            "account_id": account.account_id if account else "", "action": placed.action.value,
            "code": order.listing.contract.code, "price": price_to_sdk(price_e4), "quantity": qty,
            "ts": now_ns / 1e9,
        }
        if order.listing.is_future:
            code = order.listing.contract.code
            fields.update(code=code[:3], full_code=code, subaccount="", security_type="FUT", delivery_month="",
                          strike_price=0.0, option_right="Future", market_type="Day", combo=False)
            return sj.OrderState.FuturesDeal, EventMessage(fields)
        fields.update(order_cond=_value(placed.order_cond), order_lot=_value(placed.order_lot), web_id="137",
                      custom_field=placed.custom_field or "")
        return sj.OrderState.StockDeal, EventMessage(fields)

    def _event_id(self) -> str:
        return f"ev{next(self._numbers)}"


def _unlisted(contract: Any) -> Listing:
    """A contract the fake does not trade: its orders are refused (UNKNOWN_CONTRACT)."""
    return Listing(contract, InstrumentRef(symbol=contract.code, kind=InstrumentKind.STOCK, reference_e4=0,
                                           limit_up_e4=0, limit_down_e4=0, unit=1))


def _value(member: Any) -> str:
    return member.value if member is not None else ""


def _account_fields(order: FakeOrder) -> dict[str, Any]:
    account = order.account
    if account is None:
        return {}
    return {"account_type": account.account_type.value, "person_id": account.person_id,
            "broker_id": account.broker_id, "account_id": account.account_id, "signed": account.signed,
            "username": account.username}


def _contract_fields(listing: Listing) -> dict[str, Any]:
    code = listing.contract.code
    if listing.is_future:
        return {"security_type": "FUT", "code": code[:3], "full_code": code, "exchange": "TAIFEX",
                "delivery_month": "", "delivery_date": "", "strike_price": 0.0, "option_right": "Future"}
    return {"security_type": "STK", "exchange": "TSE", "code": code, "symbol": listing.contract.symbol,
            "name": listing.contract.name, "currency": "TWD"}
