"""Replay reads Shioaji-named JSONL/CSV (gzipped or not) exactly, in order, and paces by the record."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts.market_rules import is_on_tick
from contracts.messages import MarketEvent
from services.feed.replay import (
    BidAskRecord,
    RecordReader,
    ReplayBooks,
    ReplayError,
    ReplayPacer,
    TickRecord,
    parse_record,
)
from services.runtime.clock import FakeClock
from services.runtime.config.instruments import load_instruments

REPO = Path(__file__).resolve().parents[3]
OPEN_NS = int(datetime(2026, 11, 24, 1, 0, tzinfo=UTC).timestamp()) * 1_000_000_000

BIDASK = {
    "code": "2317",
    "datetime": "2026-11-24T09:00:00.250000",
    "bid_price": ["580.5", "580", "579.5", "579", "578.5"],
    "bid_volume": [3, 10, 12, 7, 40],
    "ask_price": ["581", "581.5", "582", "582.5", "583"],
    "ask_volume": [5, 6, 7, 8, 9],
    "diff_bid_vol": [0, 0, 0, 0, 0],
    "simtrade": False,
}
TICK = {
    "code": "2317",
    "datetime": "2026-11-24T09:00:00.500000",
    "close": "581",
    "volume": 4,
    "total_volume": 1204,
    "tick_type": 1,
}
CSV_HEADER = "code,datetime,close,volume,total_volume,bid_price,bid_volume,ask_price,ask_volume\n"


def write_jsonl(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_all(path: Path, *, strict: bool = True) -> list[TickRecord | BidAskRecord]:
    return list(RecordReader(path, strict=strict).records())


def replay(records: list[TickRecord | BidAskRecord]) -> list[MarketEvent]:
    books = ReplayBooks()
    out = []
    for record in records:
        if books.apply(record):
            out.append(books.event(record.symbol, seq=len(out) + 1, ingest_ts_ns=0))
    return out


def test_jsonl_prices_are_exact_and_taipei_time_becomes_utc_ns(tmp_path: Path) -> None:
    bidask, tick = read_all(write_jsonl(tmp_path / "day.jsonl", [BIDASK, TICK]))
    assert bidask == BidAskRecord(
        symbol="2317",
        exch_ts_ns=OPEN_NS + 250_000_000,
        bid_prices_e4=(5805000, 5800000, 5795000, 5790000, 5785000),
        bid_qtys=(3, 10, 12, 7, 40),
        ask_prices_e4=(5810000, 5815000, 5820000, 5825000, 5830000),
        ask_qtys=(5, 6, 7, 8, 9),
    )
    assert tick == TickRecord(
        symbol="2317", exch_ts_ns=OPEN_NS + 500_000_000, close_e4=5810000, volume=4, total_volume=1204
    )


def test_json_numbers_are_read_as_decimals_not_floats(tmp_path: Path) -> None:
    line = (
        '{"code": "2317", "datetime": "2026-11-24T09:00:00", "close": 580.1, "volume": 1, "total_volume": 1}'
    )
    path = write_jsonl(tmp_path / "n.jsonl", [line])
    assert read_all(path)[0].close_e4 == 5801000


def test_an_explicit_offset_is_honoured() -> None:
    record = parse_record({**TICK, "datetime": "2026-11-24T01:00:00.500000+00:00"})
    assert record.exch_ts_ns == OPEN_NS + 500_000_000


def test_csv_lists_split_on_semicolons_or_spaces(tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    rows = [
        "2317,2026-11-24T09:00:00.25,,,,580.5;580;579.5;579;578.5,3;10;12;7;40,581;581.5;582;582.5;583,5;6;7;8;9",
        "2317,2026-11-24T09:00:00.5,581,4,1204,,,,",
        "2317,2026-11-24T09:00:01,,,,580.5 580 579.5 579 578.5,3 10 12 7 40,"
        "581 581.5 582 582.5 583,5 6 7 8 9",
    ]
    path.write_text(CSV_HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    first, tick, third = read_all(path)
    assert first == read_all(write_jsonl(tmp_path / "same.jsonl", [BIDASK]))[0]
    assert tick == parse_record(TICK)
    assert isinstance(third, BidAskRecord)
    assert third.bid_prices_e4 == first.bid_prices_e4 and third.ask_qtys == first.ask_qtys


def test_gzipped_jsonl_and_csv(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "day.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(json.dumps(BIDASK) + "\n" + json.dumps(TICK) + "\n")
    with gzip.open(tmp_path / "day.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write(CSV_HEADER + "2317,2026-11-24T09:00:00.5,581,4,1204,,,,\n")
    assert [type(r) for r in read_all(tmp_path / "day.jsonl.gz")] == [BidAskRecord, TickRecord]
    assert read_all(tmp_path / "day.csv.gz") == [parse_record(TICK)]


def test_a_truncated_gzip_is_reported_not_fatal(tmp_path: Path) -> None:
    whole = gzip.compress("".join(json.dumps(BIDASK) + "\n" for _ in range(200)).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    reader = RecordReader(path, strict=False)
    records = list(reader.records())
    assert reader.bad_lines >= 1
    assert "ends early" in str(reader.first_errors[-1])
    assert all(record == records[0] for record in records)


def test_file_order_is_kept_even_when_timestamps_go_back(tmp_path: Path) -> None:
    rows = [
        {**TICK, "code": "2330", "datetime": "2026-11-24T09:00:03"},
        {**TICK, "code": "2317", "datetime": "2026-11-24T09:00:01"},
        {**TICK, "code": "2454", "datetime": "2026-11-24T09:00:02"},
    ]
    assert [r.symbol for r in read_all(write_jsonl(tmp_path / "o.jsonl", rows))] == ["2330", "2317", "2454"]


def test_strict_mode_raises_on_the_first_bad_line_with_its_number(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [BIDASK, {**TICK, "close": "58x"}, "{not json", TICK])
    with pytest.raises(ReplayError) as caught:
        read_all(path, strict=True)
    assert caught.value.line_no == 2
    assert "bad.jsonl:2" in str(caught.value)
    assert "close" in caught.value.reason


def test_lenient_mode_skips_counts_and_keeps_the_first_errors(tmp_path: Path) -> None:
    rows: list[dict[str, Any] | str] = [
        BIDASK,
        {**TICK, "close": "58x"},
        "{not json",
        "",
        {**TICK, "close": "580.12345"},
        {**BIDASK, "bid_volume": [1, 2]},
        {"code": "2317", "datetime": "2026-11-24T09:00:00"},
        TICK,
    ]
    reader = RecordReader(write_jsonl(tmp_path / "bad.jsonl", rows), strict=False)
    records = list(reader.records())
    assert records == [parse_record(BIDASK), parse_record(TICK)]
    assert reader.bad_lines == 5
    assert [error.line_no for error in reader.first_errors] == [2, 3, 5, 6, 7]


def test_csv_row_with_the_wrong_field_count_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(CSV_HEADER + "2317,2026-11-24T09:00:00.5,581,4,1204,,,,\n2317,oops\n", encoding="utf-8")
    with pytest.raises(ReplayError, match=r"bad\.csv:3"):
        read_all(path)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"close": "-1"}, "close"),
        ({"close": "NaN"}, "close"),
        ({"close": 580.5}, "close"),
        ({"close": "0"}, "price 0"),
        ({"volume": -1}, "volume"),
        ({"volume": "1.5"}, "volume"),
        ({"volume": True}, "volume"),
        ({"code": 2317}, "code"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"total_volume": None}, "total_volume"),
    ],
)
def test_bad_fields_are_refused_with_the_field_named(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_record({**TICK, **change})


def test_empty_levels_priced_zero_are_dropped() -> None:
    record = parse_record({**BIDASK, "ask_price": ["581", "0", "0", "0", "0"], "ask_volume": [5, 0, 0, 0, 0]})
    assert isinstance(record, BidAskRecord)
    assert (record.ask_prices_e4, record.ask_qtys) == ((5810000,), (5,))


def test_ticks_before_the_first_bidask_update_state_but_emit_nothing() -> None:
    opening = parse_record({**TICK, "datetime": "2026-11-24T09:00:00", "volume": 1200, "total_volume": 1200})
    other = parse_record({**TICK, "code": "2330", "close": "1000"})
    book = parse_record(BIDASK)
    books = ReplayBooks()
    assert books.apply(opening) is False
    assert books.apply(other) is False
    assert books.apply(book) is True
    event = books.event("2317", seq=1, ingest_ts_ns=77)
    assert (event.last_price_e4, event.last_qty, event.total_volume) == (5810000, 0, 1200)
    assert (event.seq, event.ingest_ts_ns, event.exch_ts_ns) == (1, 77, book.exch_ts_ns)


def test_every_record_after_the_book_emits_the_book_and_last_trade() -> None:
    events = replay(
        [parse_record(BIDASK), parse_record(TICK), parse_record({**BIDASK, "bid_volume": [9] * 5})]
    )
    assert [(e.last_price_e4, e.last_qty, e.total_volume) for e in events] == [
        (0, 0, 0),
        (5810000, 4, 1204),
        (5810000, 0, 1204),
    ]
    assert events[1].bid_prices_e4 == events[0].bid_prices_e4
    assert events[2].bid_qtys == [9] * 5


def test_unknown_file_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.jsonl or \.csv"):
        RecordReader(tmp_path / "ticks.parquet", strict=True)


def test_pacer_at_real_time_keeps_the_recorded_gaps() -> None:
    clock = FakeClock()
    pacer = ReplayPacer(1.0)
    pacer.start(OPEN_NS, clock.mono_ns())
    assert pacer.due_mono_ns(OPEN_NS) == clock.mono_ns()
    clock.advance(1_499_999_999)
    assert pacer.due_mono_ns(OPEN_NS + 1_500_000_000) > clock.mono_ns()
    clock.advance(1)
    assert pacer.due_mono_ns(OPEN_NS + 1_500_000_000) == clock.mono_ns()


def test_pacer_at_ten_times_plays_gaps_ten_times_shorter() -> None:
    pacer = ReplayPacer(10.0)
    pacer.start(OPEN_NS, 5_000)
    assert pacer.due_mono_ns(OPEN_NS + 2_000_000_000) == 5_000 + 200_000_000


def test_pacer_flat_out_makes_everything_due_at_once() -> None:
    clock = FakeClock()
    pacer = ReplayPacer(0.0)
    pacer.start(OPEN_NS, clock.mono_ns())
    assert pacer.due_mono_ns(OPEN_NS + 3_600_000_000_000) <= clock.mono_ns()


def test_pacer_makes_events_recorded_before_the_first_due_at_once() -> None:
    pacer = ReplayPacer(1.0)
    pacer.start(OPEN_NS, 5_000)
    assert pacer.due_mono_ns(OPEN_NS - 1_000_000_000) == 5_000


def test_pacer_refuses_a_negative_speed() -> None:
    with pytest.raises(ValueError, match="speed"):
        ReplayPacer(-1.0)


def test_shipped_sample_is_clean_legal_and_about_a_minute_long() -> None:
    instruments = load_instruments(REPO / "config" / "instruments.yaml")
    records = read_all(REPO / "data" / "sample_ticks.jsonl", strict=True)
    assert 550 <= len(records) <= 650
    assert {record.symbol for record in records} == {"2330", "2317", "2454"}
    assert records[0].exch_ts_ns == OPEN_NS + 10_000_000
    assert 50_000_000_000 <= records[-1].exch_ts_ns - records[0].exch_ts_ns <= 70_000_000_000
    for record in records:
        instrument = instruments[record.symbol]
        if isinstance(record, TickRecord):
            prices = [record.close_e4]
        else:
            prices = [*record.bid_prices_e4, *record.ask_prices_e4]
            assert record.bid_prices_e4[0] < record.ask_prices_e4[0]
        for price in prices:
            assert is_on_tick(instrument, price)
            assert instrument.limit_down_e4 <= price <= instrument.limit_up_e4
    assert len(replay(records)) == len(records) - 3


@pytest.mark.parametrize("flag", [True, "true", "TRUE", "1"])
def test_the_simtrade_flag_is_read_from_json_and_csv_spellings(flag: object) -> None:
    assert parse_record({**BIDASK, "simtrade": flag}).simtrade is True
    assert parse_record({**TICK, "simtrade": flag}).simtrade is True


@pytest.mark.parametrize("flag", [False, "false", "0", "", None])
def test_a_record_not_flagged_simtrade_is_live(flag: object) -> None:
    assert parse_record({**BIDASK, "simtrade": flag}).simtrade is False


def test_a_simtrade_flag_that_is_neither_true_nor_false_is_a_bad_line() -> None:
    with pytest.raises(ValueError, match="simtrade: expected true or false"):
        parse_record({**BIDASK, "simtrade": "maybe"})


def test_an_odd_lot_quote_is_a_bad_line() -> None:
    with pytest.raises(ValueError, match="intraday_odd"):
        parse_record({**BIDASK, "intraday_odd": True})


def test_trial_matches_build_no_book_and_leave_the_live_one_alone() -> None:
    """The pre-open's trial book (08:30) is not published, and neither does a trial print in the closing
    auction change the live book or last trade: both are counted, nothing else."""
    books = ReplayBooks()
    trial_book = parse_record({**BIDASK, "datetime": "2026-11-24T08:30:00", "simtrade": True})
    trial_print = parse_record({**TICK, "datetime": "2026-11-24T08:59:59", "close": "590", "simtrade": True})
    assert books.apply(trial_book) is False and books.apply(trial_print) is False
    with pytest.raises(KeyError):
        books.event("2317", seq=1, ingest_ts_ns=0)
    assert books.apply(parse_record(BIDASK)) is True
    assert books.apply(parse_record({**TICK, "close": "590", "simtrade": True})) is False
    assert books.apply(parse_record({**BIDASK, "bid_price": ["590"] * 5, "simtrade": True})) is False
    event = books.event("2317", seq=2, ingest_ts_ns=0)
    assert event.bid_prices_e4[0] == 5805000 and event.last_price_e4 == 0
    assert books.trial_records == 4
