"""services.risk.reference_data and RiskEngine.on_reference: the broker's reference data of the day
replaces the file's entry for a symbol, in the one-by-one checks and in a backlog's batch alike."""

from __future__ import annotations

import msgspec

from contracts.enums import InstrumentKind, Reason
from contracts.market_rules import taipei_date
from contracts.messages import InstrumentRef, OrderCommand
from contracts.prices import to_e4
from services.risk.batch import BATCH_CROSSOVER
from services.risk.engine import RiskEngine
from services.risk.reference_data import RefOutcome, apply_reference
from services.runtime.clock import FakeClock
from tests.unit.risk.test_engine import INSTRUMENTS, START_NS, intent, limits, rejected, with_books

NOW_NS = FakeClock().wall_ns()
TODAY = taipei_date(NOW_NS)


def day_ref(symbol: str = "2330", reference: str = "1050", down: str = "945", up: str = "1155",
            day: str = TODAY) -> InstrumentRef:
    return InstrumentRef(symbol=symbol, kind=InstrumentKind.STOCK, reference_e4=to_e4(reference),
                         limit_up_e4=to_e4(up), limit_down_e4=to_e4(down), unit=1000, seq=4, trading_day=day)


def fresh_engine() -> RiskEngine:
    return with_books(RiskEngine(FakeClock(mono_ns=START_NS, wall_ns=NOW_NS), limits(), dict(INSTRUMENTS)))


def test_the_days_limits_decide_the_next_intent() -> None:
    engine = fresh_engine()
    assert rejected(engine.evaluate(intent(price="1105"))) is Reason.PRICE_BAND, "the file's limit up is 1100"
    outcome, detail = engine.on_reference(day_ref())
    assert outcome is RefOutcome.APPLIED and "10000000 -> 10500000" in detail
    assert isinstance(engine.evaluate(intent(price="1105")), OrderCommand)
    assert rejected(engine.evaluate(intent(price="940"))) is Reason.PRICE_BAND, "the day's limit down is 945"


def test_a_backlog_checked_as_a_batch_uses_the_days_limits_too() -> None:
    engine = fresh_engine()
    engine.on_reference(day_ref())
    backlog = [intent(price=("1105", "940")[k % 2]) for k in range(BATCH_CROSSOVER + 5)]
    decided = engine.evaluate_batch(backlog)
    assert [isinstance(outcome, OrderCommand) for outcome in decided] == [k % 2 == 0 for k in range(len(backlog))]


def test_the_same_reference_again_changes_nothing() -> None:
    instruments = dict(INSTRUMENTS)
    assert apply_reference(instruments, day_ref(), NOW_NS)[0] is RefOutcome.APPLIED
    renumbered = msgspec.structs.replace(day_ref(), seq=9)
    assert apply_reference(instruments, renumbered, NOW_NS)[0] is RefOutcome.UNCHANGED, "seq is not reference data"
    same_as_file = msgspec.structs.replace(INSTRUMENTS["2317"], trading_day=TODAY)
    assert apply_reference(instruments, same_as_file, NOW_NS)[0] is RefOutcome.UNCHANGED


def test_a_symbol_the_file_does_not_list_is_ignored() -> None:
    instruments = dict(INSTRUMENTS)
    outcome, detail = apply_reference(instruments, day_ref(symbol="9999"), NOW_NS)
    assert outcome is RefOutcome.UNKNOWN_SYMBOL and "9999" in detail
    assert instruments == INSTRUMENTS


def test_unsound_or_stale_reference_data_is_refused_and_the_files_stays() -> None:
    instruments = dict(INSTRUMENTS)
    unsound = [
        (day_ref(day="2020-01-02"), "not today's"),
        (day_ref(day=""), "not today's"),
        (day_ref(down="1100", up="1000"), "not in order"),
        (msgspec.structs.replace(day_ref(), limit_down_e4=0), "not in order"),
        (msgspec.structs.replace(day_ref(), unit=1), "unit 1 differs"),
        (msgspec.structs.replace(day_ref(), kind=InstrumentKind.FUTURE), "kind"),
    ]
    for ref, reason in unsound:
        outcome, detail = apply_reference(instruments, ref, NOW_NS)
        assert (outcome, reason in detail) == (RefOutcome.INVALID, True), detail
    assert instruments == INSTRUMENTS


def test_a_reference_in_force_expires_with_its_day_and_the_files_entry_is_back() -> None:
    clock = FakeClock(mono_ns=START_NS, wall_ns=NOW_NS)
    engine = with_books(RiskEngine(clock, limits(), dict(INSTRUMENTS)))
    engine.on_reference(day_ref())
    assert engine.expire_references() == [], "still today"
    assert isinstance(engine.evaluate(intent(price="1105")), OrderCommand)
    clock.advance(24 * 3600 * 1_000_000_000)
    assert engine.expire_references() == ["2330"]
    assert engine.instruments["2330"] == INSTRUMENTS["2330"]
    with_books(engine)  # books of the new day
    backlog = [intent(price="1105", deadline_ns=clock.mono_ns() + 10**9) for _ in range(BATCH_CROSSOVER + 1)]
    assert {rejected(outcome) for outcome in engine.evaluate_batch(backlog)} == {Reason.PRICE_BAND}, \
        "the batch table has the file's limit up back too"
    assert engine.expire_references() == []


def test_the_next_days_reference_saying_the_same_keeps_it_in_force() -> None:
    clock = FakeClock(mono_ns=START_NS, wall_ns=NOW_NS)
    engine = with_books(RiskEngine(clock, limits(), dict(INSTRUMENTS)))
    engine.on_reference(day_ref())
    clock.advance(24 * 3600 * 1_000_000_000)
    tomorrow = taipei_date(clock.wall_ns())
    assert engine.on_reference(day_ref(day=tomorrow))[0] is RefOutcome.UNCHANGED
    assert engine.expire_references() == [], "renewed for today by a ref that changed nothing"
    assert engine.instruments["2330"].limit_up_e4 == to_e4("1155")


def test_a_tick_that_is_negative_or_above_the_limit_up_is_refused() -> None:
    instruments = dict(INSTRUMENTS)
    for tick_e4 in (-1, to_e4("2000"), 2**64 - 1):
        outcome, detail = apply_reference(instruments, msgspec.structs.replace(day_ref(), tick_e4=tick_e4), NOW_NS)
        assert outcome is RefOutcome.INVALID and "tick" in detail
    assert instruments == INSTRUMENTS


def test_yesterdays_reference_is_refused_after_midnight_in_taipei() -> None:
    instruments = dict(INSTRUMENTS)
    next_day_ns = NOW_NS + 24 * 3600 * 1_000_000_000
    outcome, detail = apply_reference(instruments, day_ref(), next_day_ns)
    assert outcome is RefOutcome.INVALID and TODAY in detail


def test_a_future_keeps_the_files_tick_when_the_broker_gives_none() -> None:
    instruments = dict(INSTRUMENTS)
    future = INSTRUMENTS["TXFL6"]
    moved = msgspec.structs.replace(future, reference_e4=future.reference_e4 + future.tick_e4,
                                    limit_up_e4=future.limit_up_e4 + future.tick_e4, tick_e4=0, trading_day=TODAY)
    assert apply_reference(instruments, moved, NOW_NS)[0] is RefOutcome.APPLIED
    assert instruments["TXFL6"].tick_e4 == future.tick_e4 > 0
