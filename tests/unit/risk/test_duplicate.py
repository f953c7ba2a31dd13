"""services.risk.validators.duplicate: the same intent id twice is one order, in a memory bounded by
the intents' deadlines and by a capacity."""

from __future__ import annotations

import pytest

from contracts.enums import IntentAction, Reason, Side
from contracts.messages import OrderIntent
from services.risk.validators.duplicate import DuplicateValidator
from services.runtime.clock import FakeClock

START_NS = 1_000_000_000
TTL_NS = 500_000_000
FAR_NS = 10**15


def intent(n: int, strategy_id: str = "mm1", deadline_ns: int = FAR_NS) -> OrderIntent:
    return OrderIntent(
        intent_id=f"{strategy_id}.e1.{n}", strategy_id=strategy_id, seq=n, action=IntentAction.NEW,
        client_order_id=f"{strategy_id}.e1.{n}", symbol="2330", side=Side.BUY, qty=1, price_e4=10_000_000,
        created_ts_ns=0, ingest_ts_ns=0, deadline_ns=deadline_ns,
    )


def memory(capacity: int, clock: FakeClock | None = None) -> DuplicateValidator:
    return DuplicateValidator(capacity, clock or FakeClock(mono_ns=START_NS))


def test_the_same_id_twice_is_refused() -> None:
    validator = memory(10)
    assert validator.check(intent(1)) is None
    rejection = validator.check(intent(1))
    assert rejection is not None and rejection.reason is Reason.DUPLICATE_INTENT
    assert "mm1.e1.1" in rejection.detail
    assert validator.check(intent(2)) is None


def test_ids_are_per_strategy() -> None:
    validator = memory(10)
    first = intent(1)
    other = OrderIntent(**{**{f: getattr(first, f) for f in first.__struct_fields__}, "strategy_id": "mm2"})
    assert validator.check(first) is None
    assert validator.check(other) is None  # same intent_id, another strategy
    assert validator.check(other) is not None


def test_memory_forgets_the_oldest_first() -> None:
    validator = memory(3)
    for n in (1, 2, 3, 4):
        assert validator.check(intent(n)) is None
    assert len(validator) == 3
    assert validator.check(intent(4)) is not None
    assert validator.check(intent(2)) is not None
    assert validator.check(intent(1)) is None  # forgotten: 1 was the oldest
    assert validator.check(intent(2)) is None  # and now 2 was pushed out by 1


def test_a_refused_duplicate_does_not_refresh_its_place() -> None:
    validator = memory(2)
    assert validator.check(intent(1)) is None
    assert validator.check(intent(2)) is None
    assert validator.check(intent(1)) is not None
    assert validator.check(intent(3)) is None  # pushes out 1, the oldest remembered
    assert validator.check(intent(1)) is None


def test_memory_stays_bounded() -> None:
    validator = memory(100)
    for n in range(10_000):
        validator.check(intent(n))
    assert len(validator) == 100
    assert len(validator._seen) == 100
    assert validator.check(intent(9_999)) is not None
    assert validator.check(intent(9_899)) is None


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        memory(0)


def test_an_id_is_remembered_up_to_its_deadline_and_forgotten_after_it() -> None:
    clock = FakeClock(mono_ns=START_NS)
    validator = memory(100, clock)
    assert validator.check(intent(1, deadline_ns=START_NS + TTL_NS)) is None
    clock.advance(TTL_NS)  # at the deadline the intent is not stale yet (staleness refuses after it)
    assert validator.check(intent(1, deadline_ns=START_NS + TTL_NS)) is not None
    clock.advance(1)
    assert validator.check(intent(2, deadline_ns=START_NS + 2 * TTL_NS)) is None
    assert len(validator) == 1 and ("mm1", "mm1.e1.1") not in validator._seen


def test_at_a_steady_rate_memory_holds_one_ttl_of_ids_not_the_session() -> None:
    clock = FakeClock(mono_ns=START_NS)
    validator = memory(100_000, clock)
    every_ns = 5_000_000  # 200 intents a second, 500 ms TTL
    for n in range(20_000):
        assert validator.check(intent(n, deadline_ns=clock.mono_ns() + TTL_NS)) is None
        clock.advance(every_ns)
    assert len(validator) == TTL_NS // every_ns + 1  # the ids of the last TTL, both ends included
    assert len(validator._seen) == len(validator)


def test_a_far_deadline_at_the_front_holds_later_ids_until_capacity() -> None:
    clock = FakeClock(mono_ns=START_NS)
    validator = memory(3, clock)
    assert validator.check(intent(1)) is None  # deadline FAR_NS
    for n in (2, 3):
        assert validator.check(intent(n, deadline_ns=START_NS)) is None
    clock.advance(1)
    assert validator.check(intent(3, deadline_ns=START_NS)) is not None, "behind an unexpired id: still remembered"
    assert validator.check(intent(4, deadline_ns=START_NS + TTL_NS)) is None
    assert len(validator) == 3, "the capacity forgot the oldest, the far one"
    assert validator.check(intent(1)) is None
