"""services.risk.reference_data: the broker's reference data of the day replaces the file's for a symbol."""

from __future__ import annotations

import msgspec

from contracts.enums import InstrumentKind, Reason
from contracts.messages import InstrumentRef, OrderCommand
from contracts.prices import to_e4
from services.risk.engine import RiskEngine
from services.risk.reference_data import RefOutcome, apply_reference
from services.runtime.clock import FakeClock
from tests.unit.risk.test_engine import INSTRUMENTS, START_NS, intent, limits, rejected, with_books


def day_ref(symbol: str = "2330", reference: str = "1050", down: str = "945", up: str = "1155") -> InstrumentRef:
    return InstrumentRef(symbol=symbol, kind=InstrumentKind.STOCK, reference_e4=to_e4(reference),
                         limit_up_e4=to_e4(up), limit_down_e4=to_e4(down), unit=1000)


def test_the_days_limits_decide_the_next_intent() -> None:
    instruments = dict(INSTRUMENTS)
    engine = with_books(RiskEngine(FakeClock(mono_ns=START_NS), limits(), instruments))
    assert rejected(engine.evaluate(intent(price="1105"))) is Reason.PRICE_BAND, "the file's limit up is 1100"
    outcome, detail = apply_reference(engine.instruments, day_ref())
    assert outcome is RefOutcome.APPLIED and "10000000 -> 10500000" in detail
    assert isinstance(engine.evaluate(intent(price="1105")), OrderCommand)
    assert rejected(engine.evaluate(intent(price="940"))) is Reason.PRICE_BAND, "the day's limit down is 945"


def test_the_same_reference_again_changes_nothing() -> None:
    instruments = dict(INSTRUMENTS)
    assert apply_reference(instruments, day_ref())[0] is RefOutcome.APPLIED
    assert apply_reference(instruments, day_ref())[0] is RefOutcome.UNCHANGED
    assert apply_reference(instruments, INSTRUMENTS["2317"])[0] is RefOutcome.UNCHANGED
    numbered = msgspec.structs.replace(day_ref(), seq=9)
    assert apply_reference(instruments, numbered)[0] is RefOutcome.UNCHANGED, "the wire's seq is not reference data"


def test_a_symbol_the_file_does_not_list_is_ignored() -> None:
    instruments = dict(INSTRUMENTS)
    outcome, detail = apply_reference(instruments, day_ref(symbol="9999"))
    assert outcome is RefOutcome.UNKNOWN_SYMBOL and "9999" in detail
    assert instruments == INSTRUMENTS


def test_unsound_reference_data_is_refused_and_the_files_stays() -> None:
    instruments = dict(INSTRUMENTS)
    unsound = [
        (day_ref(down="1100", up="1000"), "not in order"),
        (msgspec.structs.replace(day_ref(), limit_down_e4=0), "not in order"),
        (msgspec.structs.replace(day_ref(), unit=0), "unit"),
        (msgspec.structs.replace(day_ref(), kind=InstrumentKind.FUTURE), "kind"),
    ]
    for ref, reason in unsound:
        outcome, detail = apply_reference(instruments, ref)
        assert (outcome, reason in detail) == (RefOutcome.INVALID, True), detail
    assert instruments == INSTRUMENTS


def test_a_future_keeps_the_files_tick_when_the_broker_gives_none() -> None:
    instruments = dict(INSTRUMENTS)
    future = INSTRUMENTS["TXFL6"]
    moved = msgspec.structs.replace(future, reference_e4=future.reference_e4 + future.tick_e4,
                                    limit_up_e4=future.limit_up_e4 + future.tick_e4, tick_e4=0)
    assert apply_reference(instruments, moved)[0] is RefOutcome.APPLIED
    assert instruments["TXFL6"].tick_e4 == future.tick_e4 > 0
