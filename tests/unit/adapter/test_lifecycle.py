"""services.adapter.lifecycle: an order's states move only as their tables allow; anything else raises."""

from __future__ import annotations

import pytest

from contracts.enums import OrderStatus, Side
from services.adapter.lifecycle import (
    CANCEL_MOVES,
    STATUS_MOVES,
    SUBMISSION_MOVES,
    CancelStage,
    IllegalTransition,
    Submission,
    move_cancel,
    move_status,
    move_submission,
)
from services.adapter.order_map import LiveOrder


def order(status: OrderStatus = OrderStatus.PENDING_NEW) -> LiveOrder:
    return LiveOrder(client_order_id="c1", intent_id="n1", strategy_id="mm1", symbol="2330", side=Side.BUY, qty=3,
                     broker_price_e4=10_000_000, status=status)


@pytest.mark.parametrize(("now", "to"), [
    (OrderStatus.FILLED, OrderStatus.WORKING),
    (OrderStatus.CANCELLED, OrderStatus.FILLED),
    (OrderStatus.REJECTED, OrderStatus.WORKING),
    (OrderStatus.WORKING, OrderStatus.PENDING_NEW),
    (OrderStatus.PARTIALLY_FILLED, OrderStatus.WORKING),
])
def test_an_illegal_status_move_raises_and_leaves_the_order_as_it_was(now: OrderStatus, to: OrderStatus) -> None:
    live = order(now)
    with pytest.raises(IllegalTransition, match=f"c1: status {now} → {to}"):
        move_status(live, to)
    assert live.status is now


def test_a_sent_new_is_never_queued_or_sent_again_and_a_finished_cancel_never_waits_again() -> None:
    live = order()
    move_submission(live, Submission.SENT)
    with pytest.raises(IllegalTransition):
        move_submission(live, Submission.QUEUED)
    move_submission(live, Submission.UNRESOLVED)
    with pytest.raises(IllegalTransition):
        move_submission(live, Submission.SENT)
    with pytest.raises(IllegalTransition):
        move_cancel(live, CancelStage.PENDING)  # never wanted
    move_cancel(live, CancelStage.WANTED)
    move_cancel(live, CancelStage.PENDING)
    with pytest.raises(IllegalTransition):
        move_cancel(live, CancelStage.WAITING)  # at the broker: its answer or its timeout comes first
    with pytest.raises(IllegalTransition):
        move_cancel(live, CancelStage.NONE)  # a cancel is never withdrawn


def test_every_move_a_table_allows_is_made_and_staying_put_is_no_move() -> None:
    for now, allowed in STATUS_MOVES.items():
        for to in allowed | {now}:
            live = order(now)
            move_status(live, to)
            assert live.status is to
    for table in (SUBMISSION_MOVES, CANCEL_MOVES):
        assert all(now not in allowed for now, allowed in table.items()), "staying put is never listed as a move"
