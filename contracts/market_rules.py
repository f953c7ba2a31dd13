"""Taiwan market rules every service must agree on: the tick ladder, daily limits, notional.

Prices are fixed-point ×10⁴ (see contracts.prices). TWSE/TPEx stocks use the ladder below;
futures use the contract's own tick. The daily limit is ±10 % of the reference price, rounded
inward to the ladder; a contract's published limit_up / limit_down are authoritative when known.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

from contracts.enums import InstrumentKind
from contracts.messages import InstrumentRef

# (lower bound of the price level, tick size), both ×10⁴, highest level first.
STOCK_TICK_LADDER_E4: tuple[tuple[int, int], ...] = (
    (1000_0000, 5_0000),
    (500_0000, 1_0000),
    (100_0000, 5000),
    (50_0000, 1000),
    (10_0000, 500),
    (0, 100),
)

DAILY_LIMIT_PCT = 10
BOARD_LOT_SHARES = 1000
# Taiwan has kept UTC+8 without daylight saving since 1979, so a fixed offset is exact for any date and
# spares a dependency on the system's tz database.
TAIPEI = timezone(timedelta(hours=8), "Asia/Taipei")


def taipei_date(wall_ns: int) -> str:
    """The Taipei calendar date (YYYY-MM-DD) of a wall-clock time: a stock session's trading day, the
    day whose reference and limits apply."""
    # Whole seconds, floored: a float of the nanoseconds rounds the last microsecond of a day into the next.
    return datetime.fromtimestamp(wall_ns // 1_000_000_000, UTC).astimezone(TAIPEI).date().isoformat()


DESK_DAY_ROLLOVER = time(8, 0)
"""When the desk's trading day begins, Taipei time: before the 08:30 pre-open of stocks and the 08:45 open of
the futures day session."""


def trading_day(wall_ns: int, rollover: time = DESK_DAY_ROLLOVER) -> str:
    """The desk's trading day (YYYY-MM-DD) at a wall-clock time: the Taipei date, each day beginning at
    `rollover` Taipei time, so the hours before it still belong to the day before (the futures night session
    ending at 05:00 with them). ISO dates compare in calendar order as strings."""
    offset_ns = ((rollover.hour * 60 + rollover.minute) * 60 + rollover.second) * 1_000_000_000
    return taipei_date(wall_ns - offset_ns)


def trading_day_end_ns(day: str, rollover: time = DESK_DAY_ROLLOVER) -> int:
    """The wall-clock time (ns) the trading day after `day` begins: comparing a time with it is how a hot path
    tells a new day without a calendar conversion. 0 for no day (every time is past it)."""
    if not day:
        return 0
    begins = datetime.combine(date.fromisoformat(day) + timedelta(days=1), rollover, tzinfo=TAIPEI)
    return int(begins.timestamp()) * 1_000_000_000


def stock_tick_e4(price_e4: int) -> int:
    """The TWSE/TPEx tick size at a price level (a price on a boundary takes the upper level's tick)."""
    for lower_e4, tick_e4 in STOCK_TICK_LADDER_E4:
        if price_e4 >= lower_e4:
            return tick_e4
    return STOCK_TICK_LADDER_E4[-1][1]


def tick_e4(instrument: InstrumentRef, price_e4: int) -> int:
    """The tick size that applies to this instrument at this price."""
    if instrument.kind is InstrumentKind.FUTURE or instrument.tick_e4 > 0:
        return instrument.tick_e4
    return stock_tick_e4(price_e4)


def is_on_tick(instrument: InstrumentRef, price_e4: int) -> bool:
    return price_e4 > 0 and price_e4 % tick_e4(instrument, price_e4) == 0


def round_to_tick(instrument: InstrumentRef, price_e4: int, *, up: bool) -> int:
    """The nearest legal price at or above (up=True) or at or below this price."""
    step = tick_e4(instrument, price_e4)
    floor = price_e4 - price_e4 % step
    if up and floor != price_e4:
        return floor + step
    return floor


def ticks_away(instrument: InstrumentRef, price_e4: int, ticks: int) -> int:
    """The price `ticks` legal steps above (positive) or below (negative) a legal price."""
    price = price_e4
    for _ in range(abs(ticks)):
        if ticks > 0:
            price += tick_e4(instrument, price)
        else:
            price -= tick_e4(instrument, price - 1)
    return price


def daily_limits_e4(kind: InstrumentKind, reference_e4: int, tick_size_e4: int = 0) -> tuple[int, int]:
    """(limit_down, limit_up) at ±10 % of the reference, rounded inward to a legal price."""
    probe = InstrumentRef(
        symbol="_", kind=kind, reference_e4=reference_e4, limit_up_e4=0, limit_down_e4=0,
        unit=1, tick_e4=tick_size_e4,
    )
    raw_up = reference_e4 * (100 + DAILY_LIMIT_PCT) // 100
    raw_down = -(-reference_e4 * (100 - DAILY_LIMIT_PCT) // 100)
    return round_to_tick(probe, raw_down, up=True), round_to_tick(probe, raw_up, up=False)


def notional_e4(instrument: InstrumentRef, price_e4: int, qty: int) -> int:
    """Order value in TWD ×10⁴: price × quantity × units per quantity (1000 shares per board lot)."""
    return price_e4 * qty * instrument.unit
