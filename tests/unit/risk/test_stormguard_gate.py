"""StormGuardGate: HALT passes nothing, STORM only what closes, WARM scales size (never below one lot)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.enums import ExecType, IntentAction, OrderStatus, Reason, Side, StormGuardLevel
from contracts.messages import ExecutionReport, OrderCommand, OrderIntent
from services.risk.positions import PositionBook
from services.risk.validators.stormguard_gate import StormGuardGate


def intent(side: Side, qty: int, action: IntentAction = IntentAction.NEW) -> OrderIntent:
    return OrderIntent(
        intent_id="i", strategy_id="s1", seq=1, action=action, client_order_id="c9", symbol="2330", side=side,
        qty=qty, price_e4=10_000_000, created_ts_ns=0, ingest_ts_ns=0, deadline_ns=1,
    )


def fill(positions: PositionBook, side: Side, qty: int) -> None:
    positions.on_execution(ExecutionReport(
        seq=1, client_order_id=f"f{side}{qty}", intent_id="x", strategy_id="s1", symbol="2330", side=side,
        exec_type=ExecType.FILL, status=OrderStatus.FILLED, price_e4=10_000_000, qty=qty, cum_qty=qty,
        leaves_qty=0, last_price_e4=10_000_000, last_qty=qty, ts_ns=0,
    ))


def working(positions: PositionBook, side: Side, qty: int) -> None:
    positions.on_approved(OrderCommand(
        intent_id="w", strategy_id="s1", action=IntentAction.NEW, client_order_id=f"w{side}", symbol="2330",
        side=side, qty=qty, price_e4=10_000_000, ingest_ts_ns=0, approved_mono_ns=0, deadline_ns=1,
    ))


@pytest.fixture
def long_five() -> tuple[StormGuardGate, PositionBook]:
    positions = PositionBook()
    fill(positions, Side.BUY, 5)
    return StormGuardGate(positions), positions


@pytest.mark.parametrize("level", [StormGuardLevel.NORMAL, StormGuardLevel.WARM])
def test_normal_and_warm_let_anything_through(long_five: tuple[StormGuardGate, PositionBook],
                                              level: StormGuardLevel) -> None:
    gate, _ = long_five
    assert gate.check(intent(Side.BUY, 3), level) is None


@pytest.mark.parametrize("action", [IntentAction.NEW, IntentAction.AMEND])
def test_halt_passes_nothing(long_five: tuple[StormGuardGate, PositionBook], action: IntentAction) -> None:
    gate, _ = long_five
    rejection = gate.check(intent(Side.SELL, 1, action), StormGuardLevel.HALT)
    assert rejection is not None and rejection.reason is Reason.STORMGUARD_HALT


def test_storm_refuses_what_grows_the_position(long_five: tuple[StormGuardGate, PositionBook]) -> None:
    gate, _ = long_five
    rejection = gate.check(intent(Side.BUY, 1), StormGuardLevel.STORM)
    assert rejection is not None and rejection.reason is Reason.STORMGUARD_CLOSE_ONLY
    assert "position 5" in rejection.detail


def test_storm_passes_a_sell_that_closes_up_to_the_position(long_five: tuple[StormGuardGate, PositionBook]) -> None:
    gate, _ = long_five
    assert gate.check(intent(Side.SELL, 5), StormGuardLevel.STORM) is None
    rejection = gate.check(intent(Side.SELL, 6), StormGuardLevel.STORM)
    assert rejection is not None and rejection.reason is Reason.STORMGUARD_CLOSE_ONLY


def test_storm_counts_same_side_outstanding_against_what_is_left_to_close(
    long_five: tuple[StormGuardGate, PositionBook],
) -> None:
    gate, positions = long_five
    working(positions, Side.SELL, 4)
    assert gate.check(intent(Side.SELL, 1), StormGuardLevel.STORM) is None
    assert gate.check(intent(Side.SELL, 2), StormGuardLevel.STORM) is not None


def test_storm_lets_an_amend_move_a_closing_order_even_when_it_is_all_outstanding(
    long_five: tuple[StormGuardGate, PositionBook],
) -> None:
    gate, positions = long_five
    working(positions, Side.SELL, 5)
    assert gate.check(intent(Side.SELL, 5, IntentAction.AMEND), StormGuardLevel.STORM) is None
    assert gate.check(intent(Side.BUY, 1, IntentAction.AMEND), StormGuardLevel.STORM) is not None


def test_storm_with_no_position_refuses_both_sides() -> None:
    gate = StormGuardGate(PositionBook())
    assert gate.check(intent(Side.BUY, 1), StormGuardLevel.STORM) is not None
    assert gate.check(intent(Side.SELL, 1), StormGuardLevel.STORM) is not None


@pytest.mark.parametrize(("qty", "multiplier", "expected"), [
    (10, Decimal("0.5"), 5), (5, Decimal("0.5"), 2), (1, Decimal("0.5"), 1), (3, Decimal("1"), 3),
    (7, Decimal("0.25"), 1),
])
def test_scaled_qty_floors_but_never_below_one_lot(qty: int, multiplier: Decimal, expected: int) -> None:
    assert StormGuardGate.scaled_qty(qty, multiplier) == expected
