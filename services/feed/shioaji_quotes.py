"""The Shioaji quote bridge: the broker's stock (TickSTKv1 / BidAskSTKv1) and futures (TickFOPv1 /
BidAskFOPv1) streams as MarketEvents for md.

Each configured symbol takes two of Shioaji's 200 subscriptions (Tick and BidAsk): a symbol list that
needs more is refused before anything is subscribed. The SDK calls the quote callbacks on its own
thread; they only hand the quote over (Handover) with the moment it arrived on the monotonic clock,
which becomes the event's ingest_ts_ns: tick-to-trade starts when the quote reaches us, so the
hand-over to the loop thread is part of it. On the loop thread each quote updates its symbol's book
and last trade exactly as a replayed recording does (ReplayBooks), and the event is sent.

Quotes marked `simtrade` (the exchange's trial matching before the open and in the closing auction)
or `intraday_odd` are not the book a board-lot order trades against, and are skipped. A recording
keeps trial matches, flagged `simtrade`, as the exchange sent them (replay skips them as this bridge
does live); odd lots are another market and are not recorded. A symbol is looked up among Shioaji's
stocks, then its futures (TXFL6); one that is neither is refused.

`instruments()` is the contracts' reference data (reference, limit up and down, unit, and the kind
the contract's category names: a share, an ETF, an ETN, a TDR or a warrant, each priced on its own
ladder; a future with its multiplier as the unit and its product's tick) as InstrumentRefs;
`instruments_yaml` writes them in config/instruments.yaml's format.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
import yaml

from contracts.enums import InstrumentKind
from contracts.market_rules import TAIPEI, index_future_of
from contracts.messages import InstrumentRef, MarketEvent
from contracts.prices import format_price
from services.feed.replay import EPOCH, MAX_BOOK_LEVELS, BidAskRecord, Record, ReplayBooks, TickRecord
from services.runtime.config.loader import ConfigError
from services.runtime.handover import Handover
from services.shioaji.kinds import kind_of_stock_contract
from services.shioaji.sdk import date_from_sdk, price_from_sdk, sj
from services.shioaji.stock_info import regulatory_fields, stock_info

MAX_SUBSCRIPTIONS = 200
REGULATORY_FIELDS = ("day_trade", "trading_suspended", "attention_flag", "disposition_level",
                     "disposition_match_interval_min", "disposition_max_lots_single_order",
                     "disposition_max_lots_total_orders", "disposition_prepay_ratio")
QUOTE_TYPES = (sj.QuoteType.Tick, sj.QuoteType.BidAsk)


@dataclass(frozen=True, slots=True)
class _Quote:
    quote: Any
    received_mono_ns: int


def check_subscriptions(symbols: list[str]) -> None:
    """Refuse a symbol list that needs more subscriptions than Shioaji allows."""
    needed = len(symbols) * len(QUOTE_TYPES)
    if needed > MAX_SUBSCRIPTIONS:
        raise ConfigError(f"feed.symbols: {len(symbols)} symbols need {needed} Shioaji subscriptions (Tick and "
                          f"BidAsk each); Shioaji allows {MAX_SUBSCRIPTIONS}, so at most "
                          f"{MAX_SUBSCRIPTIONS // len(QUOTE_TYPES)} symbols")


def exch_ts_ns(stamp: dt.datetime) -> int:
    """Nanoseconds since the epoch of a quote's time (naive: Taipei local time)."""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=TAIPEI)
    since_epoch = stamp - EPOCH
    return (since_epoch.days * 86_400 + since_epoch.seconds) * 1_000_000_000 + since_epoch.microseconds * 1_000


def is_future(contract: Any) -> bool:
    return contract.security_type == sj.SecurityType.Futures


def record_of(quote: Any) -> Record:
    """A Tick or BidAsk quote (stock or futures: the same field names) as the record a recording would hold;
    ValueError if it is not readable."""
    when = exch_ts_ns(quote.datetime)
    if hasattr(quote, "bid_price"):
        bids = [(price_from_sdk(p), int(q)) for p, q in zip(quote.bid_price, quote.bid_volume, strict=True)]
        asks = [(price_from_sdk(p), int(q)) for p, q in zip(quote.ask_price, quote.ask_volume, strict=True)]
        bids = [(p, q) for p, q in bids if p > 0][:MAX_BOOK_LEVELS]  # a level priced 0 is an empty one
        asks = [(p, q) for p, q in asks if p > 0][:MAX_BOOK_LEVELS]
        return BidAskRecord(quote.code, when, tuple(p for p, _ in bids), tuple(q for _, q in bids),
                            tuple(p for p, _ in asks), tuple(q for _, q in asks), bool(quote.simtrade))
    return TickRecord(quote.code, when, price_from_sdk(quote.close), int(quote.volume), int(quote.total_volume),
                      bool(quote.simtrade))


class QuoteBridge:
    def __init__(self, api: Any, symbols: list[str], send: Callable[[MarketEvent], None],
                 log: structlog.stdlib.BoundLogger, *, on_record: Callable[[Record], None] | None = None) -> None:
        """`send` gets each book the quotes build; with `on_record` (recording) each readable quote goes
        there as its record instead, and no book is built."""
        symbols = list(dict.fromkeys(symbols))
        check_subscriptions(symbols)
        stocks, futures = api.contracts.stocks, api.contracts.futures
        self._contracts = {symbol: stocks.get(symbol) or futures.get(symbol) for symbol in symbols}
        missing = [symbol for symbol, contract in self._contracts.items() if contract is None]
        if missing:
            raise ConfigError(f"feed.symbols: Shioaji has no stock or future {', '.join(missing)}")
        self._api = api
        self._send = send
        self._on_record = on_record
        self._log = log
        self._books = ReplayBooks()
        self.skipped = 0
        self.handover: Handover[_Quote] = Handover(self._on_quote)

    def instruments(self) -> dict[str, InstrumentRef]:
        """Reference data of the subscribed stocks, from the broker's contracts, each stamped with the
        trading day the contract says it is for (its update_date; "" when it gives none), of the kind
        its category says, and with the regulator's state of the day (suspension, attention, disposition,
        day-trade eligibility) from its StockInfo."""
        return {symbol: self._reference(symbol, contract) for symbol, contract in self._contracts.items()}

    def _reference(self, symbol: str, contract: Any) -> InstrumentRef:
        prices = {"reference_e4": price_from_sdk(contract.reference), "limit_up_e4": price_from_sdk(contract.limit_up),
                  "limit_down_e4": price_from_sdk(contract.limit_down),
                  "trading_day": date_from_sdk(contract.update_date)}
        if is_future(contract):
            # A future trades in contracts worth `multiplier` TWD a point; a product orderpath does not know
            # gives no tick, and risk keeps the instruments file's.
            product = index_future_of(contract.code)
            return InstrumentRef(symbol=symbol, kind=InstrumentKind.FUTURE, unit=int(contract.multiplier),
                                 tick_e4=product.tick_e4 if product is not None else 0, **prices)
        return InstrumentRef(symbol=symbol, kind=kind_of_stock_contract(contract.category, contract.code),
                             unit=int(contract.unit), **prices, **regulatory_fields(stock_info(self._api, contract)))

    def start(self) -> None:
        """Register the callbacks, then subscribe every symbol to Tick and BidAsk."""
        self._api.set_on_tick_stk_v1_callback(self._arrived)
        self._api.set_on_bidask_stk_v1_callback(self._arrived)
        self._api.set_on_tick_fop_v1_callback(self._arrived)
        self._api.set_on_bidask_fop_v1_callback(self._arrived)
        for contract in self._contracts.values():
            for quote_type in QUOTE_TYPES:
                self._api.subscribe(contract, quote_type=quote_type)

    def close(self) -> None:
        self.handover.close()

    def _arrived(self, quote: Any) -> None:
        """The SDK's thread: stamp the quote and hand it over."""
        self.handover.post(_Quote(quote, time.monotonic_ns()))

    def _on_quote(self, item: _Quote) -> None:
        quote = item.quote
        if getattr(quote, "intraday_odd", False) or (quote.simtrade and self._on_record is None):
            self.skipped += 1
            return
        try:
            record = record_of(quote)
        except (AttributeError, TypeError, ValueError) as exc:
            self.skipped += 1
            self._log.warning("shioaji_bad_quote", reason="bad_message", detail=f"{type(exc).__name__}: {exc}")
            return
        if self._on_record is not None:
            self._on_record(record)
            return
        if self._books.apply(record):
            self._send(self._books.event(record.symbol, seq=0, ingest_ts_ns=item.received_mono_ns))


def instruments_yaml(refs: dict[str, InstrumentRef], source: str) -> str:
    """The reference data as an instruments file (config/instruments.yaml's format), saying where it came from."""
    entries = [{"symbol": ref.symbol, "kind": str(ref.kind), "reference": format_price(ref.reference_e4),
                "limit_up": format_price(ref.limit_up_e4), "limit_down": format_price(ref.limit_down_e4),
                "unit": ref.unit, **({"tick": format_price(ref.tick_e4)} if ref.tick_e4 else {}),
                **_regulatory_entries(ref)} for ref in refs.values()]
    return f"# {source}\n" + yaml.safe_dump({"instruments": entries}, sort_keys=False, allow_unicode=True)


def _regulatory_entries(ref: InstrumentRef) -> dict[str, object]:
    """The regulator's state of a ref as instruments.yaml entries, only those that say something."""
    fields = {name: getattr(ref, name) for name in REGULATORY_FIELDS}
    if ref.day_trade is not None:
        fields["day_trade"] = str(ref.day_trade)
    return {name: value for name, value in fields.items() if value}
