"""RecordWriter: market data written in the recorded format the replay source reads.

A quote from the Shioaji quote bridge is written as the record it is (`write_record`). A
MarketEvent from the synthetic market becomes a BidAskSTKv1 record (the book) and, when it
carries a trade, a TickSTKv1 record after it. Shioaji's field names, Taipei local time and exact
decimal prices; JSONL, gzipped when the file name ends in .gz. So a stream recorded here replays
as it was.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO

from contracts.market_rules import TAIPEI
from contracts.messages import MarketEvent
from contracts.prices import format_price
from services.feed.replay import EPOCH, BidAskRecord, Record, TickRecord


def _taipei_time(exch_ts_ns: int) -> str:
    stamp = EPOCH + timedelta(microseconds=exch_ts_ns // 1000)
    return stamp.astimezone(TAIPEI).replace(tzinfo=None).isoformat(timespec="microseconds")


class RecordWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        opener = gzip.open if path.suffix == ".gz" else open
        self._file: IO[str] = opener(path, "wt", encoding="utf-8")  # type: ignore[operator]

    def write(self, event: MarketEvent) -> None:
        """A synthetic market event: its book, then its trade if it carries one."""
        self.write_record(BidAskRecord(event.symbol, event.exch_ts_ns, tuple(event.bid_prices_e4),
                                       tuple(event.bid_qtys), tuple(event.ask_prices_e4), tuple(event.ask_qtys)))
        if event.last_qty:
            self.write_record(TickRecord(event.symbol, event.exch_ts_ns, event.last_price_e4, event.last_qty,
                                         event.total_volume))

    def write_record(self, record: Record) -> None:
        when = _taipei_time(record.exch_ts_ns)
        if isinstance(record, BidAskRecord):
            self._line({
                "code": record.symbol, "datetime": when,
                "bid_price": [format_price(p) for p in record.bid_prices_e4], "bid_volume": list(record.bid_qtys),
                "ask_price": [format_price(p) for p in record.ask_prices_e4], "ask_volume": list(record.ask_qtys),
                "simtrade": record.simtrade, "suspend": False, "intraday_odd": False,
            })
        else:
            self._line({
                "code": record.symbol, "datetime": when, "close": format_price(record.close_e4),
                "volume": record.volume, "total_volume": record.total_volume,
                "simtrade": record.simtrade, "suspend": False, "intraday_odd": False,
            })

    def _line(self, record: dict[str, object]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.records += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def synthetic_session_start() -> int:
    """09:00 Taipei time today, in wall-clock ns: where a synthetic recording starts."""
    today = datetime.now(TAIPEI).replace(hour=9, minute=0, second=0, microsecond=0)
    since_epoch = today - EPOCH
    return (since_epoch.days * 86_400 + since_epoch.seconds) * 1_000_000_000
