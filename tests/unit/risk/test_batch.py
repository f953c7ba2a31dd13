"""services.risk.batch: the numpy batch gives, intent by intent, exactly what the scalar validators give."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.enums import InstrumentKind, IntentAction, PriceType, Reason, Side
from contracts.market_rules import tick_e4, ticks_away
from contracts.messages import InstrumentRef, MarketEvent, OrderIntent
from services.risk.batch import BATCH_CROSSOVER, BatchChecker, check_batch
from services.risk.book_cache import BookCache
from services.risk.positions import PositionBook
from services.risk.validators.base import Rejection
from services.risk.validators.price_band import PriceBandValidator, band_half_width_e4
from services.risk.validators.size_notional import SizeNotionalValidator
from services.runtime.clock import FakeClock
from services.runtime.config.instruments import InstrumentEntry
from services.runtime.config.strategy_limits import BookChecks, GlobalLimits, OrderLimits

MS = 1_000_000
INSTRUMENTS: dict[str, InstrumentRef] = {
    entry.symbol: entry.to_ref()
    for entry in (
        InstrumentEntry(symbol="1101", reference=Decimal("10")),
        InstrumentEntry(symbol="2884", reference=Decimal("50")),
        InstrumentEntry(symbol="2603", reference=Decimal("100")),
        InstrumentEntry(symbol="2454", reference=Decimal("500")),
        InstrumentEntry(symbol="2330", reference=Decimal("1000")),
        InstrumentEntry(symbol="3008", reference=Decimal("2000"), limit_up=Decimal("2100"),
                        limit_down=Decimal("1900")),
        InstrumentEntry(symbol="0050", reference=Decimal("150"), limit_down=Decimal("0")),  # 0 is inside its limits
        InstrumentEntry(symbol="TXFL6", kind=InstrumentKind.FUTURE, reference=Decimal("23000"),
                        tick=Decimal("1"), unit=200),
        InstrumentEntry(symbol="00878", kind=InstrumentKind.ETF, reference=Decimal("49.99")),  # ETF ladder edge
        InstrumentEntry(symbol="006208", kind=InstrumentKind.ETF, reference=Decimal("200.65")),
        InstrumentEntry(symbol="030001", kind=InstrumentKind.WARRANT, reference=Decimal("5"),
                        limit_up=Decimal("7.5"), limit_down=Decimal("2.5")),
    )
}
SYMBOLS = [*INSTRUMENTS, "9999"]
LIMITS = {
    "mm1": OrderLimits(max_order_qty=5, max_order_notional_twd=Decimal(5_000_000)),
    "mm2": OrderLimits(max_order_qty=12, max_order_notional_twd=Decimal("30000000.5")),
}
STRATEGIES = [*LIMITS, "ghost"]


def scalar(price_band: PriceBandValidator, size: SizeNotionalValidator, intent: OrderIntent) -> Rejection | None:
    return price_band.check_price(intent) or size.check_order(intent)


def make_intent(n: int, symbol: str, strategy_id: str, price_e4: int, qty: int, price_type: PriceType,
                side: Side = Side.BUY) -> OrderIntent:
    return OrderIntent(
        intent_id=f"{strategy_id}.b.{n}", strategy_id=strategy_id, seq=n, action=IntentAction.NEW,
        client_order_id=f"{strategy_id}.b.{n}", symbol=symbol, side=side, qty=qty, price_e4=price_e4,
        price_type=price_type, created_ts_ns=0, ingest_ts_ns=0, deadline_ns=0,
    )


@st.composite
def books(draw: st.DrawFn, symbol: str) -> tuple[int, MarketEvent] | None:
    """None (never seen), or how long ago the book arrived and the book: one or both sides, a last or not."""
    if symbol not in INSTRUMENTS or draw(st.integers(0, 5)) == 0:
        return None
    instrument = INSTRUMENTS[symbol]
    mid = ticks_away(instrument, instrument.reference_e4, draw(st.one_of(st.just(0), st.integers(-30, 30))))
    spread = draw(st.integers(1, 3))  # the same number of ticks each side: the mid is `mid` within a ladder level
    bid = [ticks_away(instrument, mid, -spread)] if draw(st.integers(0, 3)) else []
    ask = [ticks_away(instrument, mid, spread)] if draw(st.integers(0, 3)) else []
    last = draw(st.sampled_from([0, mid, ticks_away(instrument, mid, 7)]))
    age_ms = draw(st.sampled_from([0, 1, 99, 100, 101, 5000]))
    event = MarketEvent(symbol=symbol, seq=1, exch_ts_ns=0, ingest_ts_ns=0, bid_prices_e4=bid, bid_qtys=[1] * len(bid),
                        ask_prices_e4=ask, ask_qtys=[1] * len(ask), last_price_e4=last)
    return age_ms, event


@st.composite
def prices(draw: st.DrawFn, symbol: str) -> int:
    instrument = INSTRUMENTS.get(symbol, INSTRUMENTS["2330"])
    kind = draw(st.integers(0, 9))
    legal = ticks_away(instrument, instrument.reference_e4, draw(st.integers(-40, 40)))
    if kind <= 5:  # a legal price some ticks from the reference: near the band's edges and the daily limits
        return legal
    if kind <= 7:  # just off the ladder
        return legal + draw(st.integers(1, 99))
    if kind == 8:
        return draw(st.integers(-10, instrument.limit_up_e4 * 6 // 5))
    return draw(st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63) - 5, 2**70]))


@st.composite
def intents(draw: st.DrawFn, n: int) -> OrderIntent:
    symbol = draw(st.sampled_from(SYMBOLS))
    qty = draw(st.one_of(st.integers(1, 5), st.integers(-2, 14), st.sampled_from([2**62, 2**63, 2**64, -(2**63) - 1])))
    price_type = draw(st.sampled_from([PriceType.LMT, PriceType.LMT, PriceType.MKT]))
    return make_intent(n, symbol, draw(st.sampled_from(STRATEGIES)), draw(prices(symbol)), qty, price_type,
                       draw(st.sampled_from(Side)))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[BookChecks, list[tuple[int, MarketEvent] | None], list[OrderIntent]]:
    checks = BookChecks(
        band_pct=draw(st.sampled_from([Decimal("0.5"), Decimal("2.5"), Decimal(5), Decimal("7.3"), Decimal(10),
                                        Decimal("0.25")])),
        band_reference=draw(st.sampled_from(["mid", "last"])),
        max_book_age_ms=100,
    )
    quotes = [draw(books(symbol)) for symbol in INSTRUMENTS]
    size = draw(st.integers(0, 48))
    return checks, quotes, [draw(intents(n)) for n in range(size)]


def setup(checks: BookChecks, quotes: list[tuple[int, MarketEvent] | None]) -> tuple[
    BookCache, PriceBandValidator, SizeNotionalValidator, FakeClock
]:
    """Books fed oldest first, so that at the end each is exactly its age."""
    clock = FakeClock()
    start = clock.mono_ns()
    book = BookCache(clock)
    timeline = sorted((q for q in quotes if q is not None), key=lambda q: -q[0])
    horizon_ms = max((age for age, _ in timeline), default=0)
    for age_ms, event in timeline:
        clock.advance(start + (horizon_ms - age_ms) * MS - clock.mono_ns())
        book.on_market(event)
    clock.advance(start + horizon_ms * MS - clock.mono_ns())
    return (book, PriceBandValidator(INSTRUMENTS, book, checks, clock),
            SizeNotionalValidator(INSTRUMENTS, LIMITS, GlobalLimits(), PositionBook(), book), clock)


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_batch_matches_the_scalar_chain(
    scenario: tuple[BookChecks, list[tuple[int, MarketEvent] | None], list[OrderIntent]],
) -> None:
    checks, quotes, batch = scenario
    book, price_band, size, _ = setup(checks, quotes)
    expected = [scalar(price_band, size, intent) for intent in batch]
    assert BatchChecker(INSTRUMENTS, LIMITS, book, checks).check_batch(batch) == expected


@pytest.mark.parametrize("band_reference", ["mid", "last"])
@pytest.mark.parametrize("band_pct", ["0.25", "0.5", "2.5", "5", "10"])
def test_batch_matches_the_scalar_chain_at_every_price_near_the_band_edges(band_reference: str, band_pct: str) -> None:
    """Every legal price 60 ticks either side of the reference, with the book's mid and last at the reference
    (a tick of the upper level either side of a ladder boundary), so that most band edges are legal prices."""
    checks = BookChecks(band_pct=Decimal(band_pct), band_reference=band_reference, max_ticks_through=1000)
    quotes: list[tuple[int, MarketEvent] | None] = []
    batch: list[OrderIntent] = []
    edges = 0
    for symbol, instrument in INSTRUMENTS.items():
        reference = instrument.reference_e4
        step = tick_e4(instrument, reference)
        quotes.append((0, MarketEvent(symbol=symbol, seq=1, exch_ts_ns=0, ingest_ts_ns=0,
                                      bid_prices_e4=[reference - step], bid_qtys=[1], ask_prices_e4=[reference + step],
                                      ask_qtys=[1], last_price_e4=reference)))
        half_width = band_half_width_e4(reference, checks.band_pct.as_integer_ratio())
        for ticks in range(-60, 61):
            price = ticks_away(instrument, reference, ticks)
            edges += abs(price - reference) == half_width
            batch.append(make_intent(len(batch), symbol, "mm2", price, 1, PriceType.LMT))
    book, price_band, size, _ = setup(checks, quotes)
    expected = [scalar(price_band, size, intent) for intent in batch]
    assert edges >= 2 and sum(r is None for r in expected) > len(INSTRUMENTS)
    assert BatchChecker(INSTRUMENTS, LIMITS, book, checks).check_batch(batch) == expected


def test_one_checker_follows_the_book_from_batch_to_batch() -> None:
    checks = BookChecks(band_pct=Decimal(5), max_book_age_ms=100)
    book, price_band, size, clock = setup(checks, [])
    checker = BatchChecker(INSTRUMENTS, LIMITS, book, checks)
    batch = [make_intent(1, "2330", "mm1", 10_000_000, 1, PriceType.LMT),
             make_intent(2, "2330", "mm1", 10_600_000, 1, PriceType.LMT, Side.SELL),
             make_intent(3, "2884", "mm2", 500_000, 12, PriceType.MKT)]

    def both() -> list[Rejection | None]:
        expected = [scalar(price_band, size, intent) for intent in batch]
        assert checker.check_batch(batch) == expected
        return expected

    assert [r and r.reason for r in both()] == [Reason.STALE_MARKET_DATA] * 3
    book.on_market(MarketEvent(symbol="2330", seq=1, exch_ts_ns=0, ingest_ts_ns=0, bid_prices_e4=[9_950_000],
                               bid_qtys=[1], ask_prices_e4=[10_050_000], ask_qtys=[1]))
    book.on_market(MarketEvent(symbol="2884", seq=1, exch_ts_ns=0, ingest_ts_ns=0, bid_prices_e4=[],
                               bid_qtys=[], ask_prices_e4=[], ask_qtys=[], last_price_e4=500_000))
    assert [r and r.reason for r in both()] == [None, Reason.PRICE_BAND, None]
    clock.advance(100 * MS + 1)
    assert [r and r.reason for r in both()] == [Reason.STALE_MARKET_DATA] * 3
    assert check_batch(batch, INSTRUMENTS, LIMITS, book, checks) == both()


def test_empty_batch() -> None:
    checks = BookChecks()
    assert BatchChecker(INSTRUMENTS, LIMITS, BookCache(FakeClock()), checks).check_batch([]) == []


def test_crossover_is_a_measured_batch_size() -> None:
    assert isinstance(BATCH_CROSSOVER, int) and BATCH_CROSSOVER > 1
