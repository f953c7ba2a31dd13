"""RecordWriter: what it writes, the replay source reads back as the same books and trades."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.feed.recorder import RecordWriter
from services.feed.replay import BidAskRecord, RecordReader, ReplayBooks, TickRecord
from services.feed.synthetic import SyntheticMarket
from services.runtime.config.instruments import load_instruments

REPO = Path(__file__).resolve().parents[3]
START_NS = 1_764_032_400_000_000_000  # 2025-11-25 09:00 Taipei


@pytest.mark.parametrize("name", ["session.jsonl", "session.jsonl.gz"])
def test_a_recording_replays_as_the_books_and_trades_that_were_recorded(tmp_path: Path, name: str) -> None:
    market = SyntheticMarket(load_instruments(REPO / "config" / "instruments.yaml"), ["2330", "2317"], seed=5)
    originals = [market.next_event(seq, START_NS + seq * 10_000_000, 0) for seq in range(1, 301)]
    path = tmp_path / name
    with RecordWriter(path) as writer:
        for event in originals:
            writer.write(event)
    assert writer.records == 300 + sum(1 for e in originals if e.last_qty)

    books = ReplayBooks()
    replayed = [books.event(r.symbol, seq=0, ingest_ts_ns=0) for r in RecordReader(path, strict=True).records()
                if books.apply(r)]
    expected = []
    for event in originals:
        book = (event.symbol, event.exch_ts_ns, event.bid_prices_e4, event.bid_qtys, event.ask_prices_e4,
                event.ask_qtys)
        expected.append((*book, 0))
        if event.last_qty:
            expected.append((*book, event.last_qty))
    got = [(e.symbol, e.exch_ts_ns, e.bid_prices_e4, e.bid_qtys, e.ask_prices_e4, e.ask_qtys, e.last_qty)
           for e in replayed]
    assert got == expected
    trades = [e for e in replayed if e.last_qty]
    assert [(t.last_price_e4, t.total_volume) for t in trades] == [
        (e.last_price_e4, e.total_volume) for e in originals if e.last_qty]


def test_a_trial_match_is_recorded_with_its_flag_and_replayed_as_nothing(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    trial = BidAskRecord("2330", START_NS - 60_000_000_000, (9_990_000,), (3,), (10_000_000,), (4,), simtrade=True)
    live = BidAskRecord("2330", START_NS, (9_995_000,), (3,), (10_000_000,), (4,))
    print_ = TickRecord("2330", START_NS + 1000, 10_000_000, 1, 1)
    with RecordWriter(path) as writer:
        for record in (trial, live, print_):
            writer.write_record(record)
    read = list(RecordReader(path, strict=True).records())
    assert read == [trial, live, print_]
    books = ReplayBooks()
    assert [books.apply(r) for r in read] == [False, True, True]
    assert books.trial_records == 1
