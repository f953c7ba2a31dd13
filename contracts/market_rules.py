"""Taiwan market rules every service must agree on: tick ladders, daily limits, units, notional.

Prices are fixed-point ×10⁴ (see contracts.prices). Each instrument kind has the tick ladder its
exchange publishes; futures use the contract's own tick. Sources, as published by the exchanges:

- TWSE Operating Rules (臺灣證券交易所營業細則) Article 62, and for TPEx the same ladders in its
  Rules Governing Securities Trading (證券商營業處所買賣有價證券業務規則), in force since the
  2005 tick reform with the ETF ladder's 2015 revision:
  - stocks (and TDRs, which trade as shares): below 10 → 0.01; 10–50 → 0.05; 50–100 → 0.1;
    100–500 → 0.5; 500–1000 → 1; 1000 and up → 5;
  - ETFs and other beneficiary certificates (REITs), and ETNs: below 50 → 0.01; 50 and up → 0.05
    (real 0050 quotes sit at 199.05, 200.65; a stock-ladder check refuses them);
  - call and put warrants: below 5 → 0.01; 5–10 → 0.05; 10–50 → 0.1; 50–100 → 0.5;
    100–500 → 1; 500 and up → 5.
  A price on a boundary takes the upper level's tick (50.00 is an ETF price on the 0.05 step).
- Daily price limit (TWSE Operating Rules Article 63): ±10 % of the reference price, rounded inward
  to the ladder, for stocks, TDRs, ETFs and ETNs. ETFs and ETNs over foreign or leveraged indices
  trade without a limit, and a warrant's limits follow its underlying's move times the exercise
  ratio: for those the broker's contract (limit_up / limit_down) or the instruments file gives them.
  A contract's published limits are authoritative whenever known.
- TAIFEX TAIEX futures (TX, "TXF" in Shioaji) and mini-TAIEX futures (MTX, "MXF"): tick 1 index
  point, 200 and 50 TWD a point, daily limit ±10 % of the previous settlement (TAIFEX contract
  specifications).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

from contracts.enums import InstrumentKind
from contracts.messages import InstrumentRef

Ladder = tuple[tuple[int, int], ...]
"""(lower bound of a price level, tick size), both ×10⁴, highest level first, the last level at 0."""

STOCK_TICK_LADDER_E4: Ladder = (
    (1000_0000, 5_0000),
    (500_0000, 1_0000),
    (100_0000, 5000),
    (50_0000, 1000),
    (10_0000, 500),
    (0, 100),
)
FUND_TICK_LADDER_E4: Ladder = (
    (50_0000, 500),
    (0, 100),
)
WARRANT_TICK_LADDER_E4: Ladder = (
    (500_0000, 5_0000),
    (100_0000, 1_0000),
    (50_0000, 5000),
    (10_0000, 1000),
    (5_0000, 500),
    (0, 100),
)
TICK_LADDERS_E4: dict[InstrumentKind, Ladder] = {
    InstrumentKind.STOCK: STOCK_TICK_LADDER_E4,
    InstrumentKind.TDR: STOCK_TICK_LADDER_E4,
    InstrumentKind.ETF: FUND_TICK_LADDER_E4,
    InstrumentKind.ETN: FUND_TICK_LADDER_E4,
    InstrumentKind.WARRANT: WARRANT_TICK_LADDER_E4,
}
"""The ladder of every kind that has one; a future has its contract's tick instead."""

KINDS_WITH_PERCENT_LIMIT = frozenset({InstrumentKind.STOCK, InstrumentKind.TDR, InstrumentKind.ETF,
                                      InstrumentKind.ETN, InstrumentKind.FUTURE})
"""Kinds whose default daily limit is ±DAILY_LIMIT_PCT of the reference; a warrant's is not."""


@dataclass(frozen=True, slots=True)
class IndexFuture:
    """A TAIFEX index futures product: its Shioaji code prefix, tick and TWD per index point."""

    product: str
    tick_e4: int
    point_value_twd: int


INDEX_FUTURES: dict[str, IndexFuture] = {
    "TXF": IndexFuture("TXF", 1_0000, 200),
    "MXF": IndexFuture("MXF", 1_0000, 50),
}


def index_future_of(symbol: str) -> IndexFuture | None:
    """The index futures product a Shioaji futures code belongs to (TXFL6 → TXF), or None."""
    return INDEX_FUTURES.get(symbol[:3])


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


def ladder_tick_e4(ladder: Ladder, price_e4: int) -> int:
    """The tick size of a ladder at a price level (a price on a boundary takes the upper level's tick)."""
    for lower_e4, tick_e4 in ladder:
        if price_e4 >= lower_e4:
            return tick_e4
    return ladder[-1][1]


def stock_tick_e4(price_e4: int) -> int:
    """The TWSE/TPEx stock tick size at a price level."""
    return ladder_tick_e4(STOCK_TICK_LADDER_E4, price_e4)


def tick_e4(instrument: InstrumentRef, price_e4: int) -> int:
    """The tick size that applies to this instrument at this price: its own tick when it has one (a
    future's always), else its kind's ladder."""
    if instrument.kind is InstrumentKind.FUTURE or instrument.tick_e4 > 0:
        return instrument.tick_e4
    return ladder_tick_e4(TICK_LADDERS_E4[instrument.kind], price_e4)


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
    """(limit_down, limit_up) at ±10 % of the reference, rounded inward to a legal price; ValueError for
    a kind whose limits are not a percentage of its own reference (a warrant)."""
    if kind not in KINDS_WITH_PERCENT_LIMIT:
        raise ValueError(f"a {kind}'s daily limits follow its underlying: give limit_up and limit_down")
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
