"""Replay of recorded Shioaji quote streams: the feed's source for sims, demos and reproducible runs.

A recording is what Shioaji's `on_tick_stk_v1` and `on_bidask_stk_v1` callbacks delivered, one
record per line, under the SDK's own field names, so a recorder can write `to_dict()` as it comes:

- JSONL (`.jsonl`): one JSON object per line. A TickSTKv1 record has `code`, `datetime`, `close`,
  `volume`, `total_volume` (and whatever else Shioaji sends, ignored); a BidAskSTKv1 record has
  `code`, `datetime`, `bid_price`, `bid_volume`, `ask_price`, `ask_volume`, lists best first.
- CSV (`.csv`): a header row naming the same fields; a file may mix both kinds under one header,
  a cell left empty counts as absent. List fields hold their values separated by semicolons or
  whitespace (`580;579.5;579;578.5;578` or `580 579.5 579 578.5 578`).
- Either may be gzip-compressed, named with a further `.gz` (`ticks.jsonl.gz`).

A record with `bid_price` is a BidAsk, else one with `close` is a Tick. Prices are decimal strings
(or JSON numbers, read as decimals) converted exactly, never through float; a level priced 0 is
Shioaji's empty level and is dropped. `datetime` is ISO 8601, exchange local time when it names
no offset. Quantities are what Shioaji sends: board lots for common stocks.

`simtrade` (true, or in CSV `true`/`1`) marks the exchange's trial matching: the indicative books and
prints of the pre-open (08:30–09:00) and of the closing call auction (13:25–13:30), which no order
trades against. A recording keeps them, flagged, because they are what the exchange sent; replay
skips them exactly as the live quote bridge does (ReplayBooks counts them in `trial_records` and
never builds a book from one), so no strategy, risk check or simulated fill sees a trial book.
`intraday_odd` marks the intraday odd-lot market, another book: such a record is refused as a bad
line, since board-lot orders never trade against it.

RecordReader turns a file into records, ReplayBooks turns records into MarketEvents, and
ReplayPacer says when each is due; feed.replay_source drives the three from the loop's timers.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from contracts.market_rules import TAIPEI
from contracts.messages import MarketEvent
from contracts.prices import PriceError, to_e4

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_BOOK_LEVELS = 5
FIRST_ERRORS_KEPT = 5
_LIST_SEPARATOR = re.compile(r"[;\s]+")


class ReplayError(ValueError):
    """A recorded line that cannot be replayed: which file, which line, and why."""

    def __init__(self, path: Path, line_no: int, reason: str) -> None:
        super().__init__(f"{path}:{line_no}: {reason}")
        self.path = path
        self.line_no = line_no
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TickRecord:
    """One trade print (Shioaji TickSTKv1): price and size of the trade, and the day's volume."""

    symbol: str
    exch_ts_ns: int
    close_e4: int
    volume: int
    total_volume: int
    simtrade: bool = False


@dataclass(frozen=True, slots=True)
class BidAskRecord:
    """One book update (Shioaji BidAskSTKv1): up to five non-empty levels a side, best first."""

    symbol: str
    exch_ts_ns: int
    bid_prices_e4: tuple[int, ...]
    bid_qtys: tuple[int, ...]
    ask_prices_e4: tuple[int, ...]
    ask_qtys: tuple[int, ...]
    simtrade: bool = False


Record = TickRecord | BidAskRecord


def _present(fields: Mapping[str, Any], name: str) -> bool:
    return fields.get(name) not in (None, "")


def _required(fields: Mapping[str, Any], name: str) -> Any:
    if not _present(fields, name):
        raise ValueError(f"missing {name}")
    return fields[name]


def _symbol(fields: Mapping[str, Any]) -> str:
    code = _required(fields, "code")
    if not isinstance(code, str) or not (code.isascii() and code.isalnum()):
        raise ValueError(f"code: expected a security code string, got {code!r}")
    return code


def _exch_ts_ns(fields: Mapping[str, Any]) -> int:
    text = _required(fields, "datetime")
    if not isinstance(text, str):
        raise ValueError(f"datetime: expected an ISO 8601 string, got {text!r}")
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"datetime: {exc}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=TAIPEI)
    since_epoch = stamp - EPOCH
    # Integer arithmetic on the timedelta's parts: a float timestamp loses microseconds.
    seconds = since_epoch.days * 86_400 + since_epoch.seconds
    return seconds * 1_000_000_000 + since_epoch.microseconds * 1_000


def _price_e4(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"{name}: expected a decimal price, got {value!r}")
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name}: {value!r} is not a decimal number") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"{name}: {value!r} is not a price")
    try:
        return to_e4(price)
    except PriceError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _qty(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    raise ValueError(f"{name}: expected a non-negative whole number, got {value!r}")


def _flag(fields: Mapping[str, Any], name: str) -> bool:
    """A boolean field: JSON true/false, in CSV true/false/1/0 (any case); absent or empty is false."""
    value = fields.get(name)
    if value is None or value == "" or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    raise ValueError(f"{name}: expected true or false, got {value!r}")


def _values(fields: Mapping[str, Any], name: str) -> list[Any]:
    raw = _required(fields, name)
    if isinstance(raw, str):
        return _LIST_SEPARATOR.split(raw.strip())
    if isinstance(raw, list):
        return raw
    raise ValueError(f"{name}: expected a list, got {raw!r}")


def _side(fields: Mapping[str, Any], side: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    prices = [_price_e4(value, f"{side}_price") for value in _values(fields, f"{side}_price")]
    qtys = [_qty(value, f"{side}_volume") for value in _values(fields, f"{side}_volume")]
    if len(prices) != len(qtys):
        raise ValueError(f"{side}_price has {len(prices)} levels but {side}_volume has {len(qtys)}")
    if len(prices) > MAX_BOOK_LEVELS:
        raise ValueError(f"{side}_price has {len(prices)} levels, at most {MAX_BOOK_LEVELS} expected")
    levels = [(price, qty) for price, qty in zip(prices, qtys, strict=True) if price > 0]
    return tuple(price for price, _ in levels), tuple(qty for _, qty in levels)


def parse_record(fields: Mapping[str, Any]) -> Record:
    """A Tick or BidAsk record from Shioaji-named fields; ValueError says what is wrong."""
    if _flag(fields, "intraday_odd"):
        raise ValueError("intraday_odd: an odd-lot quote, not the board-lot book")
    simtrade = _flag(fields, "simtrade")
    if _present(fields, "bid_price"):
        bid_prices_e4, bid_qtys = _side(fields, "bid")
        ask_prices_e4, ask_qtys = _side(fields, "ask")
        return BidAskRecord(
            _symbol(fields), _exch_ts_ns(fields), bid_prices_e4, bid_qtys, ask_prices_e4, ask_qtys, simtrade
        )
    if _present(fields, "close"):
        close_e4 = _price_e4(fields["close"], "close")
        if close_e4 == 0:
            raise ValueError("close: a trade at price 0")
        return TickRecord(
            _symbol(fields),
            _exch_ts_ns(fields),
            close_e4,
            _qty(_required(fields, "volume"), "volume"),
            _qty(_required(fields, "total_volume"), "total_volume"),
            simtrade,
        )
    raise ValueError("neither bid_price (BidAsk) nor close (Tick)")


def _jsonl_rows(handle: Any) -> Iterator[tuple[int, Mapping[str, Any] | ValueError]]:
    for line_no, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            # Numbers as Decimal: a JSON 580.1 must not pass through a float on its way to e4.
            fields = json.loads(raw, parse_float=Decimal)
        except ValueError as exc:
            yield line_no, ValueError(f"not valid JSON: {exc}")
            continue
        if not isinstance(fields, dict):
            yield line_no, ValueError(f"expected a JSON object, got {type(fields).__name__}")
            continue
        yield line_no, fields


def _csv_rows(handle: Any) -> Iterator[tuple[int, Mapping[str, Any] | ValueError]]:
    rows = csv.reader(handle)
    header = next(rows, None)
    if header is None:
        return
    names = [name.strip() for name in header]
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield rows.line_num, ValueError(f"{len(row)} fields where the header names {len(names)}")
            continue
        yield rows.line_num, dict(zip(names, row, strict=True))


class RecordReader:
    """The records of one recorded file, in file order.

    strict: the first bad line raises ReplayError. Otherwise bad lines are skipped and counted in
    `bad_lines`, and the first few kept in `first_errors`, so a damaged recording still replays.
    """

    def __init__(self, path: Path, *, strict: bool) -> None:
        self.path = path
        self.strict = strict
        self.bad_lines = 0
        self.first_errors: list[ReplayError] = []
        self._gzipped = path.suffix == ".gz"
        data_suffix = Path(path.stem).suffix if self._gzipped else path.suffix
        if data_suffix not in (".jsonl", ".csv"):
            raise ValueError(f"{path}: expected a .jsonl or .csv file (optionally .gz), got {path.name}")
        self._is_csv = data_suffix == ".csv"

    def records(self) -> Iterator[Record]:
        """Every good record of the file in order; a truncated gzip ends the file as one bad line."""
        # Undecodable bytes become U+FFFD, which no field accepts: the line is reported, not fatal.
        opener = gzip.open if self._gzipped else open
        with opener(self.path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
            rows = _csv_rows(handle) if self._is_csv else _jsonl_rows(handle)
            line_no = 0
            while True:
                try:
                    item = next(rows, None)
                except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                    self._report(ReplayError(self.path, line_no + 1, f"compressed data ends early: {exc}"))
                    return
                if item is None:
                    return
                line_no, fields = item
                if isinstance(fields, ValueError):
                    self._report(ReplayError(self.path, line_no, str(fields)))
                    continue
                try:
                    yield parse_record(fields)
                except ValueError as exc:
                    self._report(ReplayError(self.path, line_no, str(exc)))

    def _report(self, error: ReplayError) -> None:
        if self.strict:
            raise error
        self.bad_lines += 1
        if len(self.first_errors) < FIRST_ERRORS_KEPT:
            self.first_errors.append(error)


@dataclass(slots=True)
class _SymbolState:
    exch_ts_ns: int = 0
    bid_prices_e4: tuple[int, ...] | None = None
    bid_qtys: tuple[int, ...] = ()
    ask_prices_e4: tuple[int, ...] = ()
    ask_qtys: tuple[int, ...] = ()
    last_price_e4: int = 0
    last_qty: int = 0
    total_volume: int = 0


class ReplayBooks:
    """Each symbol's book from its latest BidAsk and last trade from its latest Tick; trial matches
    (`simtrade`) are counted in `trial_records` and build nothing."""

    def __init__(self) -> None:
        self._states: dict[str, _SymbolState] = {}
        self.trial_records = 0

    def apply(self, record: Record) -> bool:
        """Take in one record; True when its symbol now has an event to publish.

        Every record makes one event, except trial matches, which are not a book anyone trades
        against (nor is the regular session's book changed by them), and Ticks that come before their
        symbol's first BidAsk: with no book yet there is nothing a subscriber could act on, but the
        trade still counts.
        """
        if record.simtrade:
            self.trial_records += 1
            return False
        state = self._states.get(record.symbol)
        if state is None:
            state = self._states[record.symbol] = _SymbolState()
        state.exch_ts_ns = record.exch_ts_ns
        if isinstance(record, BidAskRecord):
            state.bid_prices_e4 = record.bid_prices_e4
            state.bid_qtys = record.bid_qtys
            state.ask_prices_e4 = record.ask_prices_e4
            state.ask_qtys = record.ask_qtys
            state.last_qty = 0
        else:
            state.last_price_e4 = record.close_e4
            state.last_qty = record.volume
            state.total_volume = record.total_volume
        return state.bid_prices_e4 is not None

    def event(self, symbol: str, *, seq: int, ingest_ts_ns: int) -> MarketEvent:
        """The MarketEvent for `symbol` after its latest applied record (which must have returned True)."""
        state = self._states[symbol]
        if state.bid_prices_e4 is None:
            raise KeyError(f"{symbol} has no book yet")
        return MarketEvent(
            symbol=symbol,
            seq=seq,
            exch_ts_ns=state.exch_ts_ns,
            ingest_ts_ns=ingest_ts_ns,
            bid_prices_e4=list(state.bid_prices_e4),
            bid_qtys=list(state.bid_qtys),
            ask_prices_e4=list(state.ask_prices_e4),
            ask_qtys=list(state.ask_qtys),
            last_price_e4=state.last_price_e4,
            last_qty=state.last_qty,
            total_volume=state.total_volume,
        )


class ReplayPacer:
    """When each recorded event is due on the monotonic clock, replaying at `speed`.

    speed 1 keeps the recorded gaps, N plays N times faster, 0 plays as fast as possible (every
    event is due at once). Events recorded before the first one are due at once too.
    """

    def __init__(self, speed: float) -> None:
        if speed < 0:
            raise ValueError(f"replay speed must be 0 or more, got {speed}")
        self.speed = speed
        self._first_exch_ts_ns = 0
        self._start_mono_ns = 0

    def start(self, first_exch_ts_ns: int, start_mono_ns: int) -> None:
        """Anchor the replay: the event recorded at `first_exch_ts_ns` is due at `start_mono_ns`."""
        self._first_exch_ts_ns = first_exch_ts_ns
        self._start_mono_ns = start_mono_ns

    def due_mono_ns(self, exch_ts_ns: int) -> int:
        """The monotonic time at which the event recorded at `exch_ts_ns` should be published."""
        recorded_gap_ns = max(0, exch_ts_ns - self._first_exch_ts_ns)
        if self.speed == 0:
            return self._start_mono_ns
        return self._start_mono_ns + round(recorded_gap_ns / self.speed)
