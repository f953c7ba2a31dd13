"""RecordWriter: market events written in the recorded format the replay source reads.

Each MarketEvent becomes a BidAskSTKv1 record (the book) and, when it carries a trade, a
TickSTKv1 record after it, with Shioaji's field names, Taipei local time and exact decimal
prices; JSONL, gzipped when the file name ends in .gz. So a stream recorded here (today from
the synthetic market, with the Shioaji quote bridge from the broker's) replays as it was.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO

from contracts.messages import MarketEvent
from contracts.prices import format_price
from services.feed.replay import EPOCH, TAIPEI


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
        when = _taipei_time(event.exch_ts_ns)
        self._line({
            "code": event.symbol, "datetime": when,
            "bid_price": [format_price(p) for p in event.bid_prices_e4], "bid_volume": list(event.bid_qtys),
            "ask_price": [format_price(p) for p in event.ask_prices_e4], "ask_volume": list(event.ask_qtys),
            "simtrade": False, "suspend": False, "intraday_odd": False,
        })
        if event.last_qty:
            self._line({
                "code": event.symbol, "datetime": when, "close": format_price(event.last_price_e4),
                "volume": event.last_qty, "total_volume": event.total_volume,
                "simtrade": False, "suspend": False, "intraday_odd": False,
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
