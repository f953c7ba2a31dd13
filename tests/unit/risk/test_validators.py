"""services.risk.validators: PriceBand (daily limits, TWSE ladder), SizeNotional (qty and notional caps), Staleness."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.enums import InstrumentKind, IntentAction, PriceType, Reason, Side
from contracts.messages import InstrumentRef, OrderIntent
from contracts.prices import to_e4
from services.risk.validators.price_band import PriceBandValidator
from services.risk.validators.size_notional import SizeNotionalValidator
from services.risk.validators.staleness import StalenessValidator
from services.runtime.clock import FakeClock
from services.runtime.config.instruments import InstrumentEntry
from services.runtime.config.strategy_limits import OrderLimits


def _instruments() -> dict[str, InstrumentRef]:
    entries = [
        InstrumentEntry(symbol="2330", reference=Decimal("1000")),  # limits 900..1100
        InstrumentEntry(symbol="2884", reference=Decimal("50")),  # limits 45..55, 50 is a ladder boundary
        InstrumentEntry(symbol="1101", reference=Decimal("10")),  # limits 9..11
        InstrumentEntry(symbol="2603", reference=Decimal("100")),  # limits 90..110
        InstrumentEntry(symbol="2454", reference=Decimal("500")),  # limits 450..550
        InstrumentEntry(symbol="TXFL6", kind=InstrumentKind.FUTURE, reference=Decimal("23000"),
                        tick=Decimal("1"), unit=200),
    ]
    return {entry.symbol: entry.to_ref() for entry in entries}


INSTRUMENTS = _instruments()


def intent(
    symbol: str = "2330",
    price: str = "1000",
    qty: int = 1,
    *,
    strategy_id: str = "mm1",
    price_type: PriceType = PriceType.LMT,
    deadline_ns: int = 2_000_000_000,
) -> OrderIntent:
    return OrderIntent(
        intent_id=f"{strategy_id}.e1.1", strategy_id=strategy_id, seq=1, action=IntentAction.NEW,
        client_order_id=f"{strategy_id}.e1.1", symbol=symbol, side=Side.BUY, qty=qty, price_e4=to_e4(price),
        price_type=price_type, created_ts_ns=0, ingest_ts_ns=900_000_000, deadline_ns=deadline_ns,
    )


# --- PriceBand --------------------------------------------------------------------------------


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
    assert PriceBandValidator(INSTRUMENTS).check(intent(symbol, price)) is None


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
    rejection = PriceBandValidator(INSTRUMENTS).check(intent(symbol, price))
    assert rejection is not None
    assert rejection.reason is Reason.OFF_TICK


@pytest.mark.parametrize(("symbol", "price"), [("2330", "1105"), ("2330", "899"), ("2884", "55.1"),
                                                ("2884", "44.95")])
def test_prices_outside_the_daily_limits_are_rejected(symbol: str, price: str) -> None:
    rejection = PriceBandValidator(INSTRUMENTS).check(intent(symbol, price))
    assert rejection is not None
    assert rejection.reason is Reason.PRICE_BAND


def test_band_is_checked_before_the_tick() -> None:
    rejection = PriceBandValidator(INSTRUMENTS).check(intent("2330", "1101"))  # outside and off-tick
    assert rejection is not None
    assert rejection.reason is Reason.PRICE_BAND


def test_published_limits_override_the_computed_ones() -> None:
    entry = InstrumentEntry(symbol="2330", reference=Decimal("1000"), limit_up=Decimal("1050"),
                            limit_down=Decimal("950"))
    validator = PriceBandValidator({"2330": entry.to_ref()})
    assert validator.check(intent("2330", "1050")) is None
    rejection = validator.check(intent("2330", "1055"))
    assert rejection is not None and rejection.reason is Reason.PRICE_BAND


def test_unknown_symbol_is_rejected() -> None:
    rejection = PriceBandValidator(INSTRUMENTS).check(intent("9999", "100"))
    assert rejection is not None
    assert rejection.reason is Reason.UNKNOWN_INSTRUMENT
    assert "9999" in rejection.detail


def test_market_orders_skip_the_price_checks_but_not_the_symbol_check() -> None:
    validator = PriceBandValidator(INSTRUMENTS)
    assert validator.check(intent("2330", "0", price_type=PriceType.MKT)) is None
    rejection = validator.check(intent("9999", "0", price_type=PriceType.MKT))
    assert rejection is not None and rejection.reason is Reason.UNKNOWN_INSTRUMENT


# --- SizeNotional -----------------------------------------------------------------------------


def size_validator(max_qty: int = 5, max_notional_twd: str = "10000000") -> SizeNotionalValidator:
    limits = {"mm1": OrderLimits(max_order_qty=max_qty, max_order_notional_twd=Decimal(max_notional_twd))}
    return SizeNotionalValidator(INSTRUMENTS, limits)


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
