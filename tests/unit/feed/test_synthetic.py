"""SyntheticMarket keeps legal, uncrossed books inside the daily limits; RateSchedule catches up."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.enums import InstrumentKind
from contracts.market_rules import is_on_tick, ticks_away
from contracts.messages import InstrumentRef, MarketEvent
from contracts.prices import to_e4
from services.feed.synthetic import BOOK_DEPTH, MAX_LEVEL_QTY, MAX_TRADE_QTY, RateSchedule, SyntheticMarket
from services.runtime.clock import FakeClock
from services.runtime.config.instruments import load_instruments

INSTRUMENTS = load_instruments(Path(__file__).resolve().parents[3] / "config" / "instruments.yaml")
STOCKS = ["2330", "2317", "2454"]


def events(market: SyntheticMarket, count: int) -> list[MarketEvent]:
    return [market.next_event(seq, 1_000 + seq, 2_000 + seq) for seq in range(1, count + 1)]


def assert_legal_book(event: MarketEvent, instrument: InstrumentRef) -> None:
    prices = event.bid_prices_e4 + event.ask_prices_e4
    assert all(is_on_tick(instrument, price) for price in prices), event
    assert all(instrument.limit_down_e4 < price < instrument.limit_up_e4 for price in prices), event
    assert event.bid_prices_e4[0] < event.ask_prices_e4[0]
    assert len(event.bid_prices_e4) == len(event.ask_prices_e4) == BOOK_DEPTH
    for level in range(BOOK_DEPTH - 1):
        assert ticks_away(instrument, event.bid_prices_e4[level], -1) == event.bid_prices_e4[level + 1]
        assert ticks_away(instrument, event.ask_prices_e4[level], 1) == event.ask_prices_e4[level + 1]
    assert ticks_away(instrument, event.bid_prices_e4[0], 1) <= event.ask_prices_e4[0]
    assert event.ask_prices_e4[0] <= ticks_away(instrument, event.bid_prices_e4[0], 2)
    assert all(1 <= qty <= MAX_LEVEL_QTY for qty in event.bid_qtys + event.ask_qtys)


def test_five_thousand_events_stay_legal_and_trade_about_half_the_time() -> None:
    stream = events(SyntheticMarket(INSTRUMENTS, STOCKS, seed=7), 5000)
    volume: Counter[str] = Counter()
    for event in stream:
        assert_legal_book(event, INSTRUMENTS[event.symbol])
        if event.last_qty:
            assert 1 <= event.last_qty <= MAX_TRADE_QTY
            assert event.last_price_e4 in (event.bid_prices_e4[0], event.ask_prices_e4[0])
            volume[event.symbol] += event.last_qty
        assert event.total_volume == volume[event.symbol]
    trades = sum(1 for event in stream if event.last_qty)
    assert 2000 < trades < 3000


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_any_seed_keeps_every_book_legal(seed: int) -> None:
    for event in events(SyntheticMarket(INSTRUMENTS, [*STOCKS, "TXFL6"], seed=seed), 400):
        assert_legal_book(event, INSTRUMENTS[event.symbol])


def test_narrow_limits_pin_the_walk_inside_them() -> None:
    narrow = InstrumentRef(
        symbol="9999",
        kind=InstrumentKind.STOCK,
        reference_e4=to_e4("100"),
        limit_up_e4=to_e4("103"),
        limit_down_e4=to_e4("97"),
        unit=1000,
    )
    for event in events(SyntheticMarket({"9999": narrow}, ["9999"], seed=3), 3000):
        assert_legal_book(event, narrow)


def test_limits_too_narrow_for_a_full_book_are_refused() -> None:
    cramped = InstrumentRef(
        symbol="9998",
        kind=InstrumentKind.STOCK,
        reference_e4=to_e4("100"),
        limit_up_e4=to_e4("100.5"),
        limit_down_e4=to_e4("99.5"),
        unit=1000,
    )
    with pytest.raises(ValueError, match="9998"):
        SyntheticMarket({"9998": cramped}, ["9998"], seed=1)


def test_futures_walk_on_the_contract_tick() -> None:
    future = INSTRUMENTS["TXFL6"]
    for event in events(SyntheticMarket(INSTRUMENTS, ["TXFL6"], seed=11), 500):
        assert all(price % future.tick_e4 == 0 for price in event.bid_prices_e4 + event.ask_prices_e4)
        assert_legal_book(event, future)


def test_same_seed_same_stream_and_another_seed_another() -> None:
    first = events(SyntheticMarket(INSTRUMENTS, STOCKS, seed=42), 300)
    again = events(SyntheticMarket(INSTRUMENTS, STOCKS, seed=42), 300)
    other = events(SyntheticMarket(INSTRUMENTS, STOCKS, seed=43), 300)
    assert first == again
    assert first != other


def test_symbols_take_turns_and_start_at_their_reference() -> None:
    stream = events(SyntheticMarket(INSTRUMENTS, STOCKS, seed=5), 6)
    assert [event.symbol for event in stream] == STOCKS * 2
    assert [event.bid_prices_e4[0] for event in stream[:3]] == [INSTRUMENTS[s].reference_e4 for s in STOCKS]


def test_event_carries_the_given_seq_and_stamps() -> None:
    event = SyntheticMarket(INSTRUMENTS, STOCKS, seed=5).next_event(9, 111, 222)
    assert (event.seq, event.exch_ts_ns, event.ingest_ts_ns) == (9, 111, 222)


def test_unknown_symbol_is_named() -> None:
    with pytest.raises(ValueError, match="NOPE"):
        SyntheticMarket(INSTRUMENTS, ["2330", "NOPE"], seed=1)


def test_no_symbols_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one symbol"):
        SyntheticMarket(INSTRUMENTS, [], seed=1)


def test_rate_schedule_releases_events_as_they_fall_due() -> None:
    clock = FakeClock()
    schedule = RateSchedule(200.0, clock.mono_ns())
    assert schedule.take_due(clock.mono_ns()) == 0
    clock.advance(4_999_999)
    assert schedule.take_due(clock.mono_ns()) == 0
    clock.advance(1)
    assert schedule.take_due(clock.mono_ns()) == 1
    assert schedule.take_due(clock.mono_ns()) == 0


def test_rate_schedule_catches_up_a_late_timer_above_one_per_millisecond() -> None:
    clock = FakeClock()
    schedule = RateSchedule(5000.0, clock.mono_ns())
    taken = 0
    for step_ns in (1_000_000, 3_000_000, 1_000_000, 5_000_000):
        clock.advance(step_ns)
        taken += schedule.take_due(clock.mono_ns())
    assert taken == 50


def test_rate_schedule_keeps_fractional_rates_exact() -> None:
    clock = FakeClock()
    schedule = RateSchedule(0.5, clock.mono_ns())
    clock.advance(1_999_999_999)
    assert schedule.take_due(clock.mono_ns()) == 0
    clock.advance(1)
    assert schedule.take_due(clock.mono_ns()) == 1


def test_rate_schedule_drops_a_backlog_older_than_a_second() -> None:
    clock = FakeClock()
    schedule = RateSchedule(100.0, clock.mono_ns())
    clock.advance(10_000_000_000)
    assert schedule.take_due(clock.mono_ns()) == 100
    clock.advance(10_000_000)
    assert schedule.take_due(clock.mono_ns()) == 1
