"""contracts.market_rules: the TWSE tick ladder, legal prices, daily limits and notional."""

from __future__ import annotations

import itertools
from datetime import datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.enums import InstrumentKind
from contracts.market_rules import (
    BOARD_LOT_SHARES,
    STOCK_TICK_LADDER_E4,
    TAIPEI,
    TICK_LADDERS_E4,
    daily_limits_e4,
    index_future_of,
    is_on_tick,
    notional_e4,
    round_to_tick,
    stock_tick_e4,
    tick_e4,
    ticks_away,
    trading_day,
    trading_day_end_ns,
)
from contracts.messages import InstrumentRef
from contracts.prices import to_e4

REPEATABLE = settings(derandomize=True, database=None, deadline=None, max_examples=300)

STOCK = InstrumentRef(
    symbol="2330", kind=InstrumentKind.STOCK, reference_e4=to_e4("1000"),
    limit_up_e4=to_e4("1100"), limit_down_e4=to_e4("900"), unit=BOARD_LOT_SHARES,
)
FUTURE = InstrumentRef(
    symbol="TXFL6", kind=InstrumentKind.FUTURE, reference_e4=to_e4("23000"),
    limit_up_e4=to_e4("25300"), limit_down_e4=to_e4("20700"), unit=200, tick_e4=to_e4("1"),
)


def e4(text: str) -> int:
    return to_e4(text)


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        ("0.01", "0.01"),
        ("9.99", "0.01"),
        ("10", "0.05"),
        ("49.95", "0.05"),
        ("50", "0.1"),
        ("99.9", "0.1"),
        ("100", "0.5"),
        ("499.5", "0.5"),
        ("500", "1"),
        ("999", "1"),
        ("1000", "5"),
        ("5000", "5"),
    ],
)
def test_twse_ladder_at_every_boundary(price: str, tick: str) -> None:
    assert stock_tick_e4(e4(price)) == e4(tick)
    assert tick_e4(STOCK, e4(price)) == e4(tick)
    assert is_on_tick(STOCK, e4(price))


def test_ladder_is_ordered_and_each_boundary_is_legal_at_both_ticks() -> None:
    lowers = [lower for lower, _ in STOCK_TICK_LADDER_E4]
    assert lowers == sorted(lowers, reverse=True)
    assert lowers[-1] == 0
    for (lower, tick), (_, tick_below) in itertools.pairwise(STOCK_TICK_LADDER_E4):
        assert lower % tick == 0 and lower % tick_below == 0
        assert tick % tick_below == 0


@pytest.mark.parametrize(
    "price",
    ["9.995", "10.01", "10.04", "49.99", "50.05", "99.95", "100.1", "499.9", "500.5", "999.5", "1001",
     "1002.5"],
)
def test_off_tick_prices(price: str) -> None:
    assert not is_on_tick(STOCK, e4(price))


@pytest.mark.parametrize("price_e4", [0, -100, -10_000])
def test_zero_and_negative_are_never_on_tick(price_e4: int) -> None:
    assert not is_on_tick(STOCK, price_e4)
    assert not is_on_tick(FUTURE, price_e4)


def test_future_uses_its_own_tick_at_every_level() -> None:
    for price in ("5", "50", "23000", "23001"):
        assert tick_e4(FUTURE, e4(price)) == e4("1")
        assert is_on_tick(FUTURE, e4(price))
    assert not is_on_tick(FUTURE, e4("23000.5"))


@pytest.mark.parametrize(
    ("price", "down", "up"),
    [
        ("10.03", "10", "10.05"),
        ("9.999", "9.99", "10"),
        ("49.97", "49.95", "50"),
        ("99.97", "99.9", "100"),
        ("499.7", "499.5", "500"),
        ("999.5", "999", "1000"),
        ("1002", "1000", "1005"),
        ("580.5", "580", "581"),
        ("1005", "1005", "1005"),
        ("13.55", "13.55", "13.55"),
    ],
)
def test_round_to_tick(price: str, down: str, up: str) -> None:
    assert round_to_tick(STOCK, e4(price), up=False) == e4(down)
    assert round_to_tick(STOCK, e4(price), up=True) == e4(up)


def test_round_future_to_its_tick() -> None:
    assert round_to_tick(FUTURE, e4("23000.4"), up=True) == e4("23001")
    assert round_to_tick(FUTURE, e4("23000.4"), up=False) == e4("23000")


@REPEATABLE
@given(st.integers(min_value=100, max_value=e4("20000")), st.booleans())
def test_round_to_tick_lands_on_tick_within_one_tick(price_e4: int, up: bool) -> None:
    rounded = round_to_tick(STOCK, price_e4, up=up)
    assert is_on_tick(STOCK, rounded)
    step = stock_tick_e4(price_e4)
    if up:
        assert price_e4 <= rounded < price_e4 + step
    else:
        assert price_e4 - step < rounded <= price_e4
    if is_on_tick(STOCK, price_e4):
        assert rounded == price_e4


@REPEATABLE
@given(st.integers(min_value=100, max_value=e4("20000")))
def test_no_legal_price_between_a_price_and_its_rounding(price_e4: int) -> None:
    """Rounding up gives the next legal price: one tick below it is below the input."""
    up = round_to_tick(STOCK, price_e4, up=True)
    down = round_to_tick(STOCK, price_e4, up=False)
    if up != price_e4:
        assert ticks_away(STOCK, up, -1) < price_e4
        assert ticks_away(STOCK, down, 1) == up


@pytest.mark.parametrize(
    ("start", "ticks", "expected"),
    [
        ("50", -1, "49.95"),
        ("49.95", 1, "50"),
        ("10", -1, "9.99"),
        ("9.99", 1, "10"),
        ("100", -1, "99.9"),
        ("99.9", 1, "100"),
        ("500", -1, "499.5"),
        ("499.5", 1, "500"),
        ("1000", -1, "999"),
        ("999", 1, "1000"),
        ("49.9", 3, "50.1"),
        ("50.1", -3, "49.9"),
        ("998", 4, "1010"),
        ("1010", -4, "998"),
        ("580", 0, "580"),
    ],
)
def test_ticks_away_across_ladder_boundaries(start: str, ticks: int, expected: str) -> None:
    assert ticks_away(STOCK, e4(start), ticks) == e4(expected)


@REPEATABLE
@given(st.integers(min_value=e4("1"), max_value=e4("5000")), st.integers(min_value=-30, max_value=30))
def test_ticks_away_stays_legal_and_reverses(price_e4: int, ticks: int) -> None:
    start = round_to_tick(STOCK, price_e4, up=True)
    moved = ticks_away(STOCK, start, ticks)
    assert is_on_tick(STOCK, moved)
    assert ticks_away(STOCK, moved, -ticks) == start
    assert (moved > start) == (ticks > 0) and (moved < start) == (ticks < 0)


def test_ticks_away_for_a_future() -> None:
    assert ticks_away(FUTURE, e4("23000"), 5) == e4("23005")
    assert ticks_away(FUTURE, e4("23000"), -5) == e4("22995")


@pytest.mark.parametrize(
    ("reference", "down", "up"),
    [
        ("1000", "900", "1100"),
        ("13.55", "12.2", "14.9"),
        ("200", "180", "220"),
        ("185", "166.5", "203.5"),
        ("1300", "1170", "1430"),
        ("960", "864", "1055"),
        ("55", "49.5", "60.5"),
        ("10.5", "9.45", "11.55"),
        ("9.99", "9.00", "10.95"),
        ("0.5", "0.45", "0.55"),
    ],
)
def test_stock_daily_limits_round_inward_to_legal_prices(reference: str, down: str, up: str) -> None:
    limit_down, limit_up = daily_limits_e4(InstrumentKind.STOCK, e4(reference))
    assert (limit_down, limit_up) == (e4(down), e4(up))


@REPEATABLE
@given(st.integers(min_value=e4("1"), max_value=e4("5000")))
def test_stock_daily_limits_are_legal_and_within_ten_percent(price_e4: int) -> None:
    reference = round_to_tick(STOCK, price_e4, up=True)
    limit_down, limit_up = daily_limits_e4(InstrumentKind.STOCK, reference)
    assert is_on_tick(STOCK, limit_down) and is_on_tick(STOCK, limit_up)
    assert limit_down * 100 >= reference * 90
    assert limit_up * 100 <= reference * 110
    # Inward by less than one tick: the next legal price outward would be beyond ±10 %.
    assert ticks_away(STOCK, limit_up, 1) * 100 > reference * 110
    assert ticks_away(STOCK, limit_down, -1) * 100 < reference * 90


@pytest.mark.parametrize(
    ("reference", "tick", "down", "up"),
    [
        ("23000", "1", "20700", "25300"),
        ("23001", "1", "20701", "25301"),
        ("17.35", "0.05", "15.65", "19.05"),
    ],
)
def test_future_daily_limits_use_the_contract_tick(reference: str, tick: str, down: str, up: str) -> None:
    limit_down, limit_up = daily_limits_e4(InstrumentKind.FUTURE, e4(reference), e4(tick))
    assert (limit_down, limit_up) == (e4(down), e4(up))


def test_notional_of_board_lots() -> None:
    # 2 lots of 1000 shares at 580.5 TWD = 1,161,000 TWD.
    assert notional_e4(STOCK, e4("580.5"), 2) == e4("1161000")
    assert notional_e4(STOCK, e4("1000"), 1) == e4("1000000")


def test_notional_of_futures_uses_the_point_value() -> None:
    # 3 contracts at 23000 points × 200 TWD a point = 13,800,000 TWD.
    assert notional_e4(FUTURE, e4("23000"), 3) == e4("13800000")


def taipei_ns(day: int, hour: int, minute: int = 0, second: int = 0) -> int:
    return int(datetime(2026, 12, day, hour, minute, second, tzinfo=TAIPEI).timestamp()) * 1_000_000_000


@pytest.mark.parametrize(("day", "hour", "minute", "second", "expected"), [
    (8, 7, 59, 59, "2026-12-07"),   # before the rollover: still yesterday's desk
    (8, 8, 0, 0, "2026-12-08"),     # the rollover
    (8, 13, 30, 0, "2026-12-08"),   # the close
    (8, 23, 59, 59, "2026-12-08"),  # the futures night session
    (9, 5, 0, 0, "2026-12-08"),     # ... ends with the same desk day
])
def test_the_desk_day_begins_at_eight_taipei_time(day: int, hour: int, minute: int, second: int,
                                                   expected: str) -> None:
    assert trading_day(taipei_ns(day, hour, minute, second)) == expected


def test_a_configured_rollover_moves_the_day_boundary() -> None:
    assert trading_day(taipei_ns(8, 7, 30), time(7, 0)) == "2026-12-08"
    assert trading_day(taipei_ns(8, 6, 59), time(7, 0)) == "2026-12-07"
    assert trading_day(taipei_ns(8, 0, 0), time(0, 0)) == "2026-12-08"


@pytest.mark.parametrize("rollover", [time(8, 0), time(0, 0), time(7, 45, 30)])
def test_a_trading_day_ends_where_the_next_one_begins(rollover: time) -> None:
    for hour in range(24):
        now = taipei_ns(8, hour, 17)
        day = trading_day(now, rollover)
        end = trading_day_end_ns(day, rollover)
        assert now < end, f"{hour}:17 is before the end of its own day"
        assert trading_day(end - 1, rollover) == day and trading_day(end, rollover) > day
    assert trading_day_end_ns("") == 0, "no day yet: any time begins one"


def ref_of(kind: InstrumentKind, symbol: str = "X") -> InstrumentRef:
    return InstrumentRef(symbol=symbol, kind=kind, reference_e4=e4("100"), limit_up_e4=e4("110"),
                         limit_down_e4=e4("90"), unit=BOARD_LOT_SHARES)


ETF = ref_of(InstrumentKind.ETF, "0050")


@pytest.mark.parametrize("kind", [InstrumentKind.ETF, InstrumentKind.ETN])
@pytest.mark.parametrize(
    ("price", "tick"),
    [("0.01", "0.01"), ("9.99", "0.01"), ("10", "0.01"), ("49.99", "0.01"), ("50", "0.05"), ("50.05", "0.05"),
     ("199.05", "0.05"), ("200.65", "0.05"), ("1000", "0.05")],
)
def test_fund_ladder_at_its_boundary(kind: InstrumentKind, price: str, tick: str) -> None:
    instrument = ref_of(kind)
    assert tick_e4(instrument, e4(price)) == e4(tick)
    assert is_on_tick(instrument, e4(price))


@pytest.mark.parametrize("price", ["49.995", "50.01", "50.04", "199.02", "200.66"])
def test_off_the_etf_ladder(price: str) -> None:
    assert not is_on_tick(ETF, e4(price))


@pytest.mark.parametrize("price", ["200.65", "199.05", "49.99", "10.01"])
def test_real_etf_quotes_are_off_the_stock_ladder(price: str) -> None:
    """What the issue saw: 0050's quotes refused off_tick when it was listed as a stock."""
    assert is_on_tick(ETF, e4(price)) and not is_on_tick(STOCK, e4(price))


@pytest.mark.parametrize(
    ("start", "ticks", "expected"),
    [("49.99", 1, "50"), ("50", -1, "49.99"), ("49.98", 3, "50.05"), ("200.65", -2, "200.55")],
)
def test_ticks_away_across_the_etf_boundary(start: str, ticks: int, expected: str) -> None:
    assert ticks_away(ETF, e4(start), ticks) == e4(expected)


def test_etf_daily_limits_round_inward_on_the_etf_ladder() -> None:
    # 200.65 × 1.1 = 220.715 → 220.7; × 0.9 = 180.585 → 180.6 (0.05 steps).
    assert daily_limits_e4(InstrumentKind.ETF, e4("200.65")) == (e4("180.6"), e4("220.7"))
    # 45.67 × 1.1 = 50.237 → 50.2 on the 0.05 step above 50; × 0.9 = 41.103 → 41.11 on the 0.01 step.
    assert daily_limits_e4(InstrumentKind.ETF, e4("45.67")) == (e4("41.11"), e4("50.2"))


def test_a_tdr_prices_on_the_stock_ladder() -> None:
    tdr = ref_of(InstrumentKind.TDR)
    for price, tick in (("9.99", "0.01"), ("10", "0.05"), ("50", "0.1"), ("100", "0.5"), ("500", "1"),
                        ("1000", "5")):
        assert tick_e4(tdr, e4(price)) == e4(tick)


@pytest.mark.parametrize(
    ("price", "tick"),
    [("4.99", "0.01"), ("5", "0.05"), ("9.95", "0.05"), ("10", "0.1"), ("49.9", "0.1"), ("50", "0.5"),
     ("99.5", "0.5"), ("100", "1"), ("499", "1"), ("500", "5")],
)
def test_warrant_ladder_at_every_boundary(price: str, tick: str) -> None:
    warrant = ref_of(InstrumentKind.WARRANT)
    assert tick_e4(warrant, e4(price)) == e4(tick)
    assert is_on_tick(warrant, e4(price))


def test_a_warrant_has_no_percentage_limit_of_its_own() -> None:
    with pytest.raises(ValueError, match="underlying"):
        daily_limits_e4(InstrumentKind.WARRANT, e4("1.5"))


@pytest.mark.parametrize(("symbol", "point_value"), [("TXFL6", 200), ("MXFL6", 50)])
def test_index_futures_tick_one_point(symbol: str, point_value: int) -> None:
    product = index_future_of(symbol)
    assert product is not None and product.tick_e4 == e4("1") and product.point_value_twd == point_value
    assert index_future_of("2330") is None


def test_every_ladder_is_ordered_and_nests() -> None:
    for ladder in TICK_LADDERS_E4.values():
        lowers = [lower for lower, _ in ladder]
        assert lowers == sorted(lowers, reverse=True) and lowers[-1] == 0
        for (lower, tick), (_, tick_below) in itertools.pairwise(ladder):
            assert lower % tick == 0 and lower % tick_below == 0
