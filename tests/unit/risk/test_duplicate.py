"""services.risk.validators.duplicate: the same intent id twice is one order, in a bounded memory."""

from __future__ import annotations

import pytest

from contracts.enums import IntentAction, Reason, Side
from contracts.messages import OrderIntent
from services.risk.validators.duplicate import DuplicateValidator


def intent(n: int, strategy_id: str = "mm1") -> OrderIntent:
    return OrderIntent(
        intent_id=f"{strategy_id}.e1.{n}", strategy_id=strategy_id, seq=n, action=IntentAction.NEW,
        client_order_id=f"{strategy_id}.e1.{n}", symbol="2330", side=Side.BUY, qty=1, price_e4=10_000_000,
        created_ts_ns=0, ingest_ts_ns=0, deadline_ns=0,
    )


def test_the_same_id_twice_is_refused() -> None:
    validator = DuplicateValidator(10)
    assert validator.check(intent(1)) is None
    rejection = validator.check(intent(1))
    assert rejection is not None and rejection.reason is Reason.DUPLICATE_INTENT
    assert "mm1.e1.1" in rejection.detail
    assert validator.check(intent(2)) is None


def test_ids_are_per_strategy() -> None:
    validator = DuplicateValidator(10)
    first = intent(1)
    other = OrderIntent(**{**{f: getattr(first, f) for f in first.__struct_fields__}, "strategy_id": "mm2"})
    assert validator.check(first) is None
    assert validator.check(other) is None  # same intent_id, another strategy
    assert validator.check(other) is not None


def test_memory_forgets_the_oldest_first() -> None:
    validator = DuplicateValidator(3)
    for n in (1, 2, 3, 4):
        assert validator.check(intent(n)) is None
    assert len(validator) == 3
    assert validator.check(intent(4)) is not None
    assert validator.check(intent(2)) is not None
    assert validator.check(intent(1)) is None  # forgotten: 1 was the oldest
    assert validator.check(intent(2)) is None  # and now 2 was pushed out by 1


def test_a_refused_duplicate_does_not_refresh_its_place() -> None:
    validator = DuplicateValidator(2)
    assert validator.check(intent(1)) is None
    assert validator.check(intent(2)) is None
    assert validator.check(intent(1)) is not None
    assert validator.check(intent(3)) is None  # pushes out 1, the oldest remembered
    assert validator.check(intent(1)) is None


def test_memory_stays_bounded() -> None:
    validator = DuplicateValidator(100)
    for n in range(10_000):
        validator.check(intent(n))
    assert len(validator) == 100
    assert len(validator._seen) == 100
    assert validator.check(intent(9_999)) is not None
    assert validator.check(intent(9_899)) is None


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DuplicateValidator(0)
