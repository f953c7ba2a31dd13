"""Look-alikes of the Shioaji objects Python cannot build: Trade, OrderResult, OrderStatusInfo, Deal,
the order callback's dict-like message, TickSTKv1, BidAskSTKv1, TickFOPv1, BidAskFOPv1, StockInfo, and the
contracts container.

Attribute names are the real classes' (tests/unit/shioaji/test_fidelity.py checks them against the
installed SDK); values use the SDK's own enums, accounts, orders and contracts wherever it has them.
The fake server hands out frozen snapshots: an object it gave once never changes under its reader.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.market_rules import TAIPEI
from contracts.messages import MarketEvent
from contracts.prices import format_price

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Deal:
    """sj.Deal: one fill of an order."""

    seq: str
    price: float
    quantity: int
    ts: float
    datetime: dt.datetime | None


@dataclass(frozen=True, slots=True)
class OrderResult:
    """sj.OrderResult: the order as the broker holds it (empty id/seqno/ordno until the server answers)."""

    id: str
    seqno: str
    ordno: str
    action: Any
    price: float
    quantity: int
    time_in_force: Any
    order_type: Any
    price_type: Any
    custom_field: str | None
    account: Any
    daytrade_short: bool | None
    order_cond: Any
    order_lot: Any
    octype: Any
    ca: str = ""


@dataclass(frozen=True, slots=True)
class OrderStatusInfo:
    """sj.OrderStatusInfo. order_quantity is the quantity placed; cancel_quantity counts every lot taken
    off it since (update_order(qty=) and cancel_order); deal_quantity the lots filled."""

    id: str
    status: Any
    status_code: str | None
    web_id: str | None
    order_datetime: dt.datetime | None
    msg: str | None
    modified_time: dt.datetime | None
    modified_price: float | None
    order_quantity: int | None
    deal_quantity: int | None
    cancel_quantity: int | None
    deals: tuple[Deal, ...]


@dataclass(frozen=True, slots=True)
class Trade:
    """sj.Trade: contract, order, status."""

    contract: Any
    order: OrderResult
    status: OrderStatusInfo


class EventMessage(Mapping[str, Any]):
    """The order callback's `msg`: dict-like (keys, get, items, [..]) but not a dict subclass, like the
    SDK's OrderEventDict. Nested parts (operation, order, status, contract, account) are plain dicts."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return repr(self._fields)


@dataclass(frozen=True, slots=True)
class TickSTKv1:
    """sj.TickSTKv1, the fields a quote consumer reads: prices are decimal strings, `datetime` is naive
    Taipei time."""

    code: str
    datetime: dt.datetime
    close: str
    volume: int
    total_volume: int
    exchange: Any
    simtrade: bool = False
    suspend: bool = False
    intraday_odd: bool = False


@dataclass(frozen=True, slots=True)
class BidAskSTKv1:
    """sj.BidAskSTKv1, the fields a quote consumer reads: five levels a side, best first."""

    code: str
    datetime: dt.datetime
    bid_price: list[str]
    bid_volume: list[int]
    ask_price: list[str]
    ask_volume: list[int]
    exchange: Any
    simtrade: bool = False
    suspend: bool = False
    intraday_odd: bool = False


@dataclass(frozen=True, slots=True)
class TickFOPv1:
    """sj.TickFOPv1 (futures and options), the fields a quote consumer reads; it has no odd-lot flag."""

    code: str
    datetime: dt.datetime
    close: str
    volume: int
    total_volume: int
    exchange: Any
    simtrade: bool = False


@dataclass(frozen=True, slots=True)
class BidAskFOPv1:
    """sj.BidAskFOPv1 (futures and options), the fields a quote consumer reads: five levels a side."""

    code: str
    datetime: dt.datetime
    bid_price: list[str]
    bid_volume: list[int]
    ask_price: list[str]
    ask_volume: list[int]
    exchange: Any
    simtrade: bool = False


def taipei_time(wall_ns: int) -> dt.datetime:
    """Naive Taipei local time, as the SDK stamps quotes (to the microsecond, without a float on the way)."""
    return (EPOCH + dt.timedelta(microseconds=wall_ns // 1000)).astimezone(TAIPEI).replace(tzinfo=None)


def quotes_of(event: MarketEvent, exchange: Any, *, future: bool = False
              ) -> tuple[BidAskSTKv1 | BidAskFOPv1, TickSTKv1 | TickFOPv1 | None]:
    """The BidAsk (and the Tick, when the event carries a trade) Shioaji would send for this book: the
    stock kinds, or with `future` the futures and options kinds."""
    when = taipei_time(event.exch_ts_ns)
    bidask_type = BidAskFOPv1 if future else BidAskSTKv1
    bidask = bidask_type(
        code=event.symbol, datetime=when,
        bid_price=[format_price(p) for p in event.bid_prices_e4], bid_volume=list(event.bid_qtys),
        ask_price=[format_price(p) for p in event.ask_prices_e4], ask_volume=list(event.ask_qtys),
        exchange=exchange,
    )
    if not event.last_qty:
        return bidask, None
    tick_type = TickFOPv1 if future else TickSTKv1
    tick = tick_type(code=event.symbol, datetime=when, close=format_price(event.last_price_e4),
                     volume=event.last_qty, total_volume=event.total_volume, exchange=exchange)
    return bidask, tick


@dataclass(frozen=True, slots=True)
class StockInfo:
    """sj.StockInfo, the contracts v2 info row of a stock: the reference data and the regulator's state the
    quote bridge reads, under the stub's names (the real one carries more)."""

    code: str
    category: str | None
    unit: float | None
    day_trade: Any
    reference: float | None
    limit_up: float | None
    limit_down: float | None
    trading_suspended: bool | None
    attention_flag: bool | None
    disposition_level: int | None
    disposition_match_interval_min: int | None
    disposition_max_lots_single_order: int | None
    disposition_max_lots_total_orders: int | None
    disposition_prepay_ratio: float | None
    update_date: dt.date | None


class ContractCategory:
    """sj ContractCategory (api.contracts.stocks / .futures): contracts by code."""

    def __init__(self, contracts: dict[str, Any]) -> None:
        self._contracts = contracts

    def get(self, /, key: str, default: Any = None) -> Any:
        return self._contracts.get(key, default)


class Contracts:
    """sj.Contracts: api.contracts, already fetched; with the contracts v2 `info(base)` for stocks."""

    def __init__(self, stocks: dict[str, Any], futures: dict[str, Any], status: Any,
                 stock_infos: dict[str, StockInfo] | None = None) -> None:
        self._stocks = ContractCategory(stocks)
        self._futures = ContractCategory(futures)
        self._status = status
        self._stock_infos = stock_infos or {}

    def info(self, /, base: Any) -> StockInfo:
        """The info row of `base.code`; ValueError for a contract the fake has no row for (the SDK raises
        ValueError for a warrant, which it serves through `warrants(underlying)`)."""
        row = self._stock_infos.get(base.code)
        if row is None:
            raise ValueError(f"no stock info for {base.code}")
        return row

    @property
    def status(self) -> Any:
        return self._status

    @property
    def stocks(self) -> ContractCategory:
        return self._stocks

    @property
    def futures(self) -> ContractCategory:
        return self._futures
