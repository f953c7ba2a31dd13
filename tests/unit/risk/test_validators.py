"""services.risk.validators: PriceBand (daily limits, TWSE ladder, band, ticks through, fresh book), SizeNotional
(qty and notional caps, resulting position, gross caps), Staleness."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.enums import ExecType, InstrumentKind, IntentAction, OrderStatus, PriceType, Reason, Side
from contracts.market_rules import ticks_away
from contracts.messages import ExecutionReport, InstrumentRef, MarketEvent, OrderCommand, OrderIntent
from contracts.prices import PRICE_SCALE, to_e4
from services.risk.book_cache import BookCache
from services.risk.positions import PositionBook
from services.risk.validators.price_band import PriceBandValidator
from services.risk.validators.size_notional import SizeNotionalValidator
from services.risk.validators.staleness import StalenessValidator
from services.runtime.clock import FakeClock
from services.runtime.config.instruments import InstrumentEntry
from services.runtime.config.strategy_limits import BookChecks, GlobalLimits, OrderLimits


def _instruments() -> dict[str, InstrumentRef]:
    entries = [
        InstrumentEntry(symbol="2330", reference=Decimal("1000")),  # limits 900..1100
        InstrumentEntry(symbol="2884", reference=Decimal("50")),  # limits 45..55, 50 is a ladder boundary
        InstrumentEntry(symbol="1101", reference=Decimal("10")),  # limits 9..11
        InstrumentEntry(symbol="2603", reference=Decimal("100")),  # limits 90..110
        InstrumentEntry(symbol="2454", reference=Decimal("500")),  # limits 450..550
        InstrumentEntry(symbol="2317", reference=Decimal("200")),  # limits 180..220
        InstrumentEntry(symbol="TXFL6", kind=InstrumentKind.FUTURE, reference=Decimal("23000"),
                        tick=Decimal("1"), unit=200),
    ]
    return {entry.symbol: entry.to_ref() for entry in entries}


INSTRUMENTS = _instruments()
START_NS = 1_000_000_000


def intent(
    symbol: str = "2330",
    price: str = "1000",
    qty: int = 1,
    *,
    side: Side = Side.BUY,
    strategy_id: str = "mm1",
    price_type: PriceType = PriceType.LMT,
    action: IntentAction = IntentAction.NEW,
    deadline_ns: int = 2_000_000_000,
) -> OrderIntent:
    return OrderIntent(
        intent_id=f"{strategy_id}.e1.1", strategy_id=strategy_id, seq=1, action=action,
        client_order_id=f"{strategy_id}.e1.1", symbol=symbol, side=side, qty=qty, price_e4=to_e4(price),
        price_type=price_type, created_ts_ns=0, ingest_ts_ns=900_000_000, deadline_ns=deadline_ns,
    )


def quote(symbol: str, bid: str | None = None, ask: str | None = None, last: str | None = None) -> MarketEvent:
    """A one-level book; a side left out is empty, a last left out means no trade yet."""
    return MarketEvent(
        symbol=symbol, seq=1, exch_ts_ns=0, ingest_ts_ns=0,
        bid_prices_e4=[to_e4(bid)] if bid else [], bid_qtys=[10] if bid else [],
        ask_prices_e4=[to_e4(ask)] if ask else [], ask_qtys=[10] if ask else [],
        last_price_e4=to_e4(last) if last else 0,
    )


def band_validator(
    *quotes: MarketEvent, instruments: dict[str, InstrumentRef] = INSTRUMENTS, **checks: object
) -> tuple[PriceBandValidator, BookCache, FakeClock]:
    clock = FakeClock(mono_ns=START_NS)
    book = BookCache(clock)
    for event in quotes:
        book.on_market(event)
    return PriceBandValidator(instruments, book, BookChecks.model_validate(checks), clock), book, clock


def ladder_validator(instruments: dict[str, InstrumentRef] = INSTRUMENTS) -> PriceBandValidator:
    """Fresh books that only know a last trade at the reference, and a band wide enough to reach both daily
    limits: only the daily limits and the ladder can refuse a price (a book without a touch has nothing to
    go through)."""
    last_trades = [
        MarketEvent(symbol=ref.symbol, seq=1, exch_ts_ns=0, ingest_ts_ns=0, bid_prices_e4=[], bid_qtys=[],
                    ask_prices_e4=[], ask_qtys=[], last_price_e4=ref.reference_e4)
        for ref in instruments.values()
    ]
    validator, _, _ = band_validator(*last_trades, instruments=instruments, band_pct="50", band_reference="last")
    return validator


# --- PriceBand: daily limits and the ladder ----------------------------------------------------


def test_instrument_limits_are_ten_percent_of_the_reference() -> None:
    ref = INSTRUMENTS["2330"]
    assert (ref.limit_down_e4, ref.limit_up_e4) == (to_e4("900"), to_e4("1100"))
    assert ref.unit == 1000


@pytest.mark.parametrize(
    ("symbol", "price"),
    [
        ("2884", "49.95"), ("2884", "50"), ("2884", "50.1"), ("2884", "45"), ("2884", "55"),
        ("1101", "9.99"), ("1101", "10"), ("1101", "10.05"),
        ("2603", "99.9"), ("2603", "100"), ("2603", "100.5"),
        ("2454", "499.5"), ("2454", "500"), ("2454", "501"),
        ("2330", "999"), ("2330", "1000"), ("2330", "1005"), ("2330", "900"), ("2330", "1100"),
        ("TXFL6", "23001"),
    ],
)
def test_legal_prices_pass(symbol: str, price: str) -> None:
    assert ladder_validator().check(intent(symbol, price)) is None


@pytest.mark.parametrize(
    ("symbol", "price"),
    [
        ("2884", "50.05"),  # 0.05 is the tick below 50, not at 50 and above
        ("2884", "49.93"),
        ("1101", "9.995"),
        ("1101", "10.01"),  # 0.01 is the tick below 10
        ("2603", "99.95"),
        ("2603", "100.1"),  # 0.1 is the tick below 100
        ("2454", "499.9"),
        ("2454", "500.5"),  # 0.5 is the tick below 500
        ("2330", "999.5"),
        ("2330", "1001"),  # 1 is the tick below 1000
        ("TXFL6", "23000.5"),  # futures use the contract's own tick
    ],
)
def test_off_tick_prices_are_rejected(symbol: str, price: str) -> None:
    rejection = ladder_validator().check(intent(symbol, price))
    assert rejection is not None
    assert rejection.reason is Reason.OFF_TICK


@pytest.mark.parametrize(("symbol", "price"), [("2330", "1105"), ("2330", "899"), ("2884", "55.1"),
                                                ("2884", "44.95")])
def test_prices_outside_the_daily_limits_are_rejected(symbol: str, price: str) -> None:
    rejection = ladder_validator().check(intent(symbol, price))
    assert rejection is not None
    assert rejection.reason is Reason.PRICE_BAND


def test_band_is_checked_before_the_tick() -> None:
    rejection = ladder_validator().check(intent("2330", "1101"))  # outside and off-tick
    assert rejection is not None
    assert rejection.reason is Reason.PRICE_BAND
    assert rejection.detail == "1101 outside 900..1100"


def test_published_limits_override_the_computed_ones() -> None:
    entry = InstrumentEntry(symbol="2330", reference=Decimal("1000"), limit_up=Decimal("1050"),
                            limit_down=Decimal("950"))
    validator = ladder_validator({"2330": entry.to_ref()})
    assert validator.check(intent("2330", "1050")) is None
    rejection = validator.check(intent("2330", "1055"))
    assert rejection is not None and rejection.reason is Reason.PRICE_BAND


def test_unknown_symbol_is_rejected() -> None:
    rejection = ladder_validator().check(intent("9999", "100"))
    assert rejection is not None
    assert rejection.reason is Reason.UNKNOWN_INSTRUMENT
    assert "9999" in rejection.detail


def test_market_orders_skip_the_price_checks_but_not_the_symbol_check() -> None:
    validator = ladder_validator()
    assert validator.check(intent("2330", "0", price_type=PriceType.MKT)) is None
    rejection = validator.check(intent("9999", "0", price_type=PriceType.MKT))
    assert rejection is not None and rejection.reason is Reason.UNKNOWN_INSTRUMENT


# --- PriceBand: the band around the book -------------------------------------------------------


def test_band_around_the_mid_one_tick_inside_and_outside() -> None:
    # mid (995 + 1005) / 2 = 1000, ±5 % → 950..1050; the tick is 1 below 1000 and 5 from 1000.
    validator, _, _ = band_validator(quote("2330", bid="995", ask="1005"), band_pct="5")
    assert validator.check(intent("2330", "1050", side=Side.SELL)) is None
    assert validator.check(intent("2330", "950")) is None
    above = validator.check(intent("2330", "1055", side=Side.SELL))
    below = validator.check(intent("2330", "949"))
    assert above is not None and above.reason is Reason.PRICE_BAND
    assert above.detail == "1055 outside 950..1050 (5 % of mid 1000)"
    assert below is not None and below.reason is Reason.PRICE_BAND


def test_band_around_the_last_trade() -> None:
    validator, _, _ = band_validator(quote("2330", bid="1050", ask="1060", last="1000"), band_pct="5",
                                     band_reference="last", max_ticks_through=50)
    assert validator.check(intent("2330", "1050", side=Side.SELL)) is None
    rejection = validator.check(intent("2330", "1055", side=Side.SELL))
    assert rejection is not None and rejection.reason is Reason.PRICE_BAND
    assert "of last 1000" in rejection.detail


def test_fractional_band_is_exact_on_both_ladder_levels() -> None:
    # mid 50, ±2.5 % → 48.75..51.25: 48.75 is a tick below 50 (0.05), 51.25 is not a tick above it (0.1).
    validator, _, _ = band_validator(quote("2884", bid="49.9", ask="50.1"), band_pct="2.5")
    assert validator.check(intent("2884", "48.75")) is None
    assert validator.check(intent("2884", "51.2", side=Side.SELL)) is None
    for price, side in (("48.7", Side.BUY), ("51.3", Side.SELL)):
        rejection = validator.check(intent("2884", price, side=side))
        assert rejection is not None and rejection.reason is Reason.PRICE_BAND, price


def test_missing_reference_is_stale_market_data() -> None:
    one_sided, _, _ = band_validator(quote("2330", bid="995", last="1000"), band_reference="mid")
    rejection = one_sided.check(intent("2330", "990"))
    assert rejection is not None and rejection.reason is Reason.STALE_MARKET_DATA
    assert rejection.detail == "no mid price for 2330 to band around"
    no_trade, _, _ = band_validator(quote("2330", bid="995", ask="1005"), band_reference="last")
    rejection = no_trade.check(intent("2330", "990"))
    assert rejection is not None and rejection.reason is Reason.STALE_MARKET_DATA
    # A market order has no price to band: a fresh book is all it needs.
    assert one_sided.check(intent("2330", "0", price_type=PriceType.MKT)) is None


# --- PriceBand: a fresh book -------------------------------------------------------------------


def test_missing_book_is_stale_market_data() -> None:
    validator, _, _ = band_validator(quote("2330", bid="995", ask="1005"))
    for price_type in PriceType:
        rejection = validator.check(intent("2317", "200", price_type=price_type))
        assert rejection is not None and rejection.reason is Reason.STALE_MARKET_DATA
        assert rejection.detail == "no book for 2317"


def test_book_at_its_max_age_passes_and_a_nanosecond_older_does_not() -> None:
    validator, book, clock = band_validator(quote("2330", bid="995", ask="1005"), max_book_age_ms=200)
    clock.advance(200_000_000)
    assert validator.check(intent("2330", "1000", side=Side.SELL)) is None
    clock.advance(1)
    for price_type in PriceType:
        rejection = validator.check(intent("2330", "1000", side=Side.SELL, price_type=price_type))
        assert rejection is not None and rejection.reason is Reason.STALE_MARKET_DATA
        assert "over 200 ms" in rejection.detail
    book.on_market(quote("2330", bid="995", ask="1005"))
    assert validator.check(intent("2330", "1000", side=Side.SELL)) is None


def test_illegal_price_is_refused_for_the_price_before_the_book() -> None:
    validator, _, _ = band_validator()
    rejection = validator.check(intent("2330", "1001"))
    assert rejection is not None and rejection.reason is Reason.OFF_TICK


# --- PriceBand: how far a marketable order may go through the touch ----------------------------


@pytest.mark.parametrize(
    ("symbol", "side", "touch", "inside", "outside"),
    [
        ("1101", Side.BUY, "9.99", "10.05", "10.1"),  # 9.99 → 10 → 10.05
        ("1101", Side.SELL, "10", "9.98", "9.97"),  # 10 → 9.99 → 9.98
        ("2884", Side.BUY, "49.95", "50.1", "50.2"),
        ("2884", Side.SELL, "50", "49.9", "49.85"),
        ("2603", Side.BUY, "99.9", "100.5", "101"),
        ("2603", Side.SELL, "100", "99.8", "99.7"),
        ("2454", Side.BUY, "499.5", "501", "502"),
        ("2454", Side.SELL, "500", "499", "498.5"),
        ("2330", Side.BUY, "999", "1005", "1010"),
        ("2330", Side.SELL, "1000", "998", "997"),
        ("TXFL6", Side.BUY, "23000", "23002", "23003"),
        ("TXFL6", Side.SELL, "23000", "22998", "22997"),
    ],
)
def test_marketable_order_goes_n_ticks_through_and_not_n_plus_one(
    symbol: str, side: Side, touch: str, inside: str, outside: str
) -> None:
    instrument = INSTRUMENTS[symbol]
    touch_e4 = to_e4(touch)
    if side is Side.BUY:  # the ask is the touch a buy goes through; the bid sits a tick below it
        event = quote(symbol, bid=str(Decimal(ticks_away(instrument, touch_e4, -1)) / PRICE_SCALE), ask=touch)
    else:
        event = quote(symbol, bid=touch, ask=str(Decimal(ticks_away(instrument, touch_e4, 1)) / PRICE_SCALE))
    validator, _, _ = band_validator(event, max_ticks_through=2)
    assert validator.check(intent(symbol, touch, side=side)) is None
    assert validator.check(intent(symbol, inside, side=side)) is None
    rejection = validator.check(intent(symbol, outside, side=side))
    assert rejection is not None and rejection.reason is Reason.PRICE_BAND
    assert f"at most {inside}" in rejection.detail


def test_zero_ticks_through_allows_only_the_touch() -> None:
    validator, _, _ = band_validator(quote("2330", bid="995", ask="1005"), max_ticks_through=0)
    assert validator.check(intent("2330", "1005")) is None
    assert validator.check(intent("2330", "995", side=Side.SELL)) is None
    rejection = validator.check(intent("2330", "1010"))
    assert rejection is not None and rejection.reason is Reason.PRICE_BAND
    assert rejection.detail == "buy at 1010 goes more than 0 ticks through the best ask 1005 (at most 1005)"


def test_resting_orders_and_market_orders_are_not_held_to_the_touch() -> None:
    validator, _, _ = band_validator(quote("2330", bid="995", ask="1005"), max_ticks_through=0)
    assert validator.check(intent("2330", "960")) is None  # a buy below the ask rests
    assert validator.check(intent("2330", "1040", side=Side.SELL)) is None
    assert validator.check(intent("2330", "0", price_type=PriceType.MKT)) is None


# --- SizeNotional: per order -------------------------------------------------------------------


def size_validator(max_qty: int = 5, max_notional_twd: str = "10000000") -> SizeNotionalValidator:
    limits = {"mm1": OrderLimits(max_order_qty=max_qty, max_order_notional_twd=Decimal(max_notional_twd))}
    clock = FakeClock(mono_ns=START_NS)
    return SizeNotionalValidator(INSTRUMENTS, limits, GlobalLimits(), PositionBook(), BookCache(clock))


def test_qty_up_to_the_cap_passes() -> None:
    validator = size_validator(max_qty=5)
    assert validator.check(intent(qty=1)) is None
    assert validator.check(intent(qty=5)) is None


@pytest.mark.parametrize("qty", [6, 0, -1])
def test_qty_outside_one_to_cap_is_rejected(qty: int) -> None:
    rejection = size_validator(max_qty=5).check(intent(qty=qty))
    assert rejection is not None
    assert rejection.reason is Reason.SIZE_LIMIT


def test_unknown_strategy_has_no_size_allowance() -> None:
    rejection = size_validator().check(intent(strategy_id="ghost"))
    assert rejection is not None
    assert rejection.reason is Reason.SIZE_LIMIT


def test_notional_counts_a_thousand_shares_per_lot() -> None:
    # 5 lots × 1000 shares × 1000 TWD = 5,000,000 TWD: exactly the cap passes, one tick more does not.
    validator = size_validator(max_qty=10, max_notional_twd="5000000")
    assert validator.check(intent("2330", "1000", qty=5)) is None
    rejection = validator.check(intent("2330", "1005", qty=5))
    assert rejection is not None
    assert rejection.reason is Reason.NOTIONAL_LIMIT
    assert "5025000" in rejection.detail


def test_notional_uses_the_contract_unit_for_futures() -> None:
    # 1 contract × 200 TWD/point × 23000 = 4,600,000 TWD
    validator = size_validator(max_qty=10, max_notional_twd="4600000")
    assert validator.check(intent("TXFL6", "23000", qty=1)) is None
    rejection = validator.check(intent("TXFL6", "23001", qty=1))
    assert rejection is not None and rejection.reason is Reason.NOTIONAL_LIMIT


def test_market_order_is_held_to_the_notional_cap() -> None:
    # 5 lots of a 1000 TWD stock is at least 4.5 M TWD whatever it fills at: far over a 1 M TWD cap.
    validator = size_validator(max_qty=10, max_notional_twd="1000000")
    rejection = validator.check(intent("2330", "0", qty=5, price_type=PriceType.MKT))
    assert rejection is not None
    assert rejection.reason is Reason.NOTIONAL_LIMIT


def test_size_validator_alone_refuses_an_unknown_symbol_without_raising() -> None:
    rejection = size_validator().check(intent("9999", "100"))
    assert rejection is not None
    assert rejection.reason is Reason.UNKNOWN_INSTRUMENT


# --- SizeNotional: resulting position ----------------------------------------------------------


class Desk:
    """A PositionBook and a BookCache fed the way the engine feeds them, and the validator reading both."""

    def __init__(
        self,
        *,
        max_position: int = 10,
        gross_twd: str = "200000000",
        desk_gross_twd: str = "500000000",
        strategies: tuple[str, ...] = ("mm1",),
    ) -> None:
        self.clock = FakeClock(mono_ns=START_NS)
        self.positions = PositionBook()
        self.book = BookCache(self.clock)
        limits = {
            sid: OrderLimits(max_order_qty=20, max_order_notional_twd=Decimal(50_000_000),
                             max_position_qty=max_position, max_gross_notional_twd=Decimal(gross_twd))
            for sid in strategies
        }
        global_limits = GlobalLimits(max_gross_notional_twd=Decimal(desk_gross_twd))
        self.validator = SizeNotionalValidator(INSTRUMENTS, limits, global_limits, self.positions, self.book)
        self._orders = 0

    def filled(self, symbol: str, side: Side, qty: int, strategy_id: str = "mm1") -> None:
        self._orders += 1
        self.positions.on_execution(ExecutionReport(
            seq=self._orders, client_order_id=f"{strategy_id}.f{self._orders}", intent_id=f"f{self._orders}",
            strategy_id=strategy_id, symbol=symbol, side=side, exec_type=ExecType.FILL, status=OrderStatus.FILLED,
            price_e4=INSTRUMENTS[symbol].reference_e4, qty=qty, cum_qty=qty, leaves_qty=0,
            last_price_e4=INSTRUMENTS[symbol].reference_e4, last_qty=qty, ts_ns=0,
        ))

    def working(self, symbol: str, side: Side, qty: int, strategy_id: str = "mm1") -> None:
        self._orders += 1
        self.positions.on_approved(OrderCommand(
            intent_id=f"w{self._orders}", strategy_id=strategy_id, action=IntentAction.NEW,
            client_order_id=f"{strategy_id}.w{self._orders}", symbol=symbol, side=side, qty=qty,
            price_e4=INSTRUMENTS[symbol].reference_e4, ingest_ts_ns=0, approved_mono_ns=0, deadline_ns=0,
        ))

    def check(self, side: Side, qty: int, symbol: str = "2330", price: str = "1000", **kwargs: object) -> Reason | None:
        rejection = self.validator.check(intent(symbol, price, qty, side=side, **kwargs))  # type: ignore[arg-type]
        return None if rejection is None else rejection.reason


def test_position_limit_counts_same_side_outstanding() -> None:
    desk = Desk(max_position=10)
    desk.filled("2330", Side.BUY, 6)
    desk.working("2330", Side.BUY, 3)
    desk.working("2330", Side.SELL, 5)  # the other side does not add to a long
    assert desk.check(Side.BUY, 1) is None  # 6 + 3 + 1 = 10
    rejection = desk.validator.check(intent("2330", "1000", 2, side=Side.BUY))
    assert rejection is not None and rejection.reason is Reason.POSITION_LIMIT
    assert rejection.detail == "buy 2 2330: position 6 with 3 buy outstanding would reach 11, over ±10"


def test_reducing_order_passes_even_over_the_limit() -> None:
    desk = Desk(max_position=10)
    desk.filled("2330", Side.BUY, 12)  # over the limit, e.g. after the limit was lowered
    assert desk.check(Side.SELL, 2) is None
    assert desk.check(Side.BUY, 1) is Reason.POSITION_LIMIT


def test_a_sell_may_flip_a_long_only_as_far_as_the_short_limit() -> None:
    desk = Desk(max_position=10)
    desk.filled("2330", Side.BUY, 6)
    assert desk.check(Side.SELL, 16) is None  # 6 − 16 = −10
    assert desk.check(Side.SELL, 17) is Reason.POSITION_LIMIT


def test_short_side_counts_outstanding_sells() -> None:
    desk = Desk(max_position=10)
    desk.filled("2330", Side.SELL, 8)
    desk.working("2330", Side.SELL, 2)
    assert desk.check(Side.SELL, 1) is Reason.POSITION_LIMIT  # −8 − 2 − 1 = −11
    assert desk.check(Side.BUY, 18) is None  # −8 + 18 = 10: a buy only adds to the long side


def test_position_limit_is_per_symbol_and_per_strategy() -> None:
    desk = Desk(max_position=10, strategies=("mm1", "mm2"))
    desk.filled("2330", Side.BUY, 10)
    assert desk.check(Side.BUY, 5, symbol="2317", price="200") is None
    assert desk.check(Side.BUY, 5, strategy_id="mm2") is None


def test_an_amend_does_not_add_to_the_position() -> None:
    desk = Desk(max_position=10)
    desk.filled("2330", Side.BUY, 8)
    desk.working("2330", Side.BUY, 2)
    assert desk.check(Side.BUY, 2, action=IntentAction.AMEND) is None
    assert desk.check(Side.BUY, 2) is Reason.POSITION_LIMIT


# --- SizeNotional: gross notional, per strategy and for the desk -------------------------------


def test_strategy_gross_counts_positions_and_both_sides_outstanding_at_the_mark() -> None:
    # mark 2330 = mid 1000 → 1,000,000 TWD a lot; 2317 = mid 200 → 200,000 TWD a lot.
    desk = Desk(gross_twd="5400000")
    desk.book.on_market(quote("2330", bid="995", ask="1005"))
    desk.book.on_market(quote("2317", bid="199.5", ask="200.5"))
    desk.filled("2330", Side.BUY, 3)  # 3,000,000
    desk.working("2330", Side.SELL, 1)  # 1,000,000
    desk.working("2317", Side.BUY, 2)  # 400,000
    assert desk.validator.gross_e4("mm1") == 4_400_000 * PRICE_SCALE
    assert desk.check(Side.BUY, 1, price="1000") is None  # 5,400,000: at the cap
    rejection = desk.validator.check(intent("2330", "1005", 1, side=Side.BUY))
    assert rejection is not None and rejection.reason is Reason.NOTIONAL_LIMIT
    assert rejection.detail == "mm1 gross 5405000 TWD with this order over 5400000 TWD"


def test_gross_marks_at_the_last_trade_then_the_reference() -> None:
    desk = Desk()
    desk.filled("2603", Side.SELL, 2)  # no book: the reference 100 → 200,000 TWD
    assert desk.validator.gross_e4("mm1") == 200_000 * PRICE_SCALE
    desk.book.on_market(quote("2603", last="101"))
    assert desk.validator.gross_e4("mm1") == 202_000 * PRICE_SCALE
    desk.book.on_market(quote("2603", bid="101.5", ask="102.5", last="101"))
    assert desk.validator.gross_e4("mm1") == 204_000 * PRICE_SCALE


def test_desk_gross_sums_every_strategy() -> None:
    desk = Desk(gross_twd="10000000", desk_gross_twd="6600000", strategies=("mm1", "mm2"))
    desk.book.on_market(quote("2330", bid="995", ask="1005"))
    desk.book.on_market(quote("2317", bid="199.5", ask="200.5"))
    desk.filled("2330", Side.BUY, 3)
    desk.working("2330", Side.SELL, 1)
    desk.working("2317", Side.BUY, 2)  # mm1: 4,400,000
    desk.filled("2330", Side.SELL, 2, strategy_id="mm2")  # mm2: 2,000,000
    assert desk.check(Side.BUY, 1, symbol="2317", price="200") is None  # 6,600,000: at the desk cap
    rejection = desk.validator.check(intent("2317", "200.5", 1, side=Side.BUY))
    assert rejection is not None and rejection.reason is Reason.NOTIONAL_LIMIT
    assert rejection.detail == "desk gross 6600500 TWD with this order over 6600000 TWD"
    assert desk.check(Side.BUY, 1, symbol="2317", price="200", strategy_id="mm2") is None


def test_closing_order_is_exempt_from_the_gross_caps() -> None:
    desk = Desk(gross_twd="4400000", desk_gross_twd="4400000")
    desk.book.on_market(quote("2330", bid="995", ask="1005"))
    desk.filled("2330", Side.BUY, 3)
    desk.working("2330", Side.SELL, 1)
    desk.book.on_market(quote("2330", bid="1095", ask="1100"))  # the mark rose: gross 4,390,000 → over once added to
    assert desk.check(Side.SELL, 2, price="1095") is None  # closes what the working sell leaves open
    assert desk.check(Side.SELL, 3, price="1095") is Reason.NOTIONAL_LIMIT  # one lot would open a short


def test_gross_sees_a_symbol_first_held_after_an_earlier_check() -> None:
    desk = Desk(gross_twd="1000000")
    assert desk.check(Side.BUY, 1, symbol="2317", price="200") is None
    desk.filled("2454", Side.BUY, 1)  # reference 500: 500,000 TWD, on a symbol never checked
    assert desk.validator.gross_e4("mm1") == 500_000 * PRICE_SCALE
    assert desk.check(Side.BUY, 2, symbol="2317", price="200") is None  # 900,000
    assert desk.check(Side.BUY, 3, symbol="2317", price="200") is Reason.NOTIONAL_LIMIT  # 1,100,000


# --- Staleness --------------------------------------------------------------------------------


def test_intent_at_its_deadline_is_not_stale() -> None:
    clock = FakeClock(mono_ns=1_000_000_000)
    validator = StalenessValidator(clock)
    assert validator.check(intent(deadline_ns=1_500_000_000)) is None
    clock.advance(500_000_000)
    assert validator.check(intent(deadline_ns=1_500_000_000)) is None


def test_intent_past_its_deadline_is_stale() -> None:
    clock = FakeClock(mono_ns=1_000_000_000)
    validator = StalenessValidator(clock)
    clock.advance(500_000_001)
    rejection = validator.check(intent(deadline_ns=1_500_000_000))
    assert rejection is not None
    assert rejection.reason is Reason.STALE_INTENT
