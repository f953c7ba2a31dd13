"""services.adapter.lifecycle: an order's states move only as their tables allow; anything else raises."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.enums import ExecType, IntentAction, OrderStatus, Side
from contracts.prices import to_e4
from services.adapter.amends import AmendStage
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
from services.adapter.order_map import LiveOrder, decode_order
from services.adapter.timers import Timers
from services.runtime.clock import FakeClock, ManualScheduler
from tests.unit.adapter.manager_harness import FAR, Harness, broker, command

# A LiveOrder row of ROW_VERSION 1, flags and all: c2 working, 2 of 5 filled, unresolved, a cancel
# waiting for the budget, a price amend retried and a cut to 1 lot unanswered.
VERSION_1_ROW = bytes.fromhex(
    "9201dc0022a26332a26e32a36d6d31a432333330a473656c6c05ce00989680a34c4d54a3524f44a7776f726b696e6702a24232a278"
    "3200c30000ce00986f70c0c000ce00986f700102c3c200c2c2c3c3c2c391a26432"
)


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


def test_the_pending_amend_stages_follow_the_amend_from_asked_to_answered(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.working()
    live = h.manager.orders.get("c1")
    assert live is not None and h.manager.amends.stage(live) is AmendStage.NONE
    h.manager.on_command(command(IntentAction.AMEND, price="999", intent_id="a1", deadline_ns=FAR))
    assert h.manager.amends.stage(live) is AmendStage.PENDING
    h.manager.on_command(command(IntentAction.AMEND, price="998", intent_id="a2", deadline_ns=FAR))
    assert h.manager.amends.stage(live) is AmendStage.COALESCING, "held for the answer or the window"
    broker(h).answer(ExecType.AMENDED, price_e4=to_e4("999"))
    assert h.manager.amends.stage(live) is AmendStage.PENDING, "the newest went out with the answer"
    assert broker(h).calls[-1][:2] == ("amend_price", ("c1", to_e4("998")))
    broker(h).answer(ExecType.AMENDED, price_e4=to_e4("998"))
    assert h.manager.amends.stage(live) is AmendStage.NONE


def test_a_version_1_row_is_recovered_with_its_flags_as_states() -> None:
    live = decode_order(VERSION_1_ROW)
    assert (live.client_order_id, live.status, live.cum_qty, live.broker_price_e4) == (
        "c2", OrderStatus.WORKING, 2, 10_000_000)
    assert (live.submission, live.cancel) == (Submission.UNRESOLVED, CancelStage.WAITING)
    amend = live.amend
    assert (amend.asked_price_e4, amend.sent_price_e4, amend.cut_to_leaves) == (9_990_000, 9_990_000, 1)
    assert (amend.in_flight, amend.price_attempt, amend.unsent) == (2, 2, False)
    assert live.exec_ids == {"d2"}


def test_a_cancelled_timer_never_runs() -> None:
    clock = FakeClock()
    scheduler = ManualScheduler(clock)
    timers = Timers(scheduler)
    ran: list[str] = []
    kept = timers.call_later(10, lambda: ran.append("kept"))
    dropped = timers.call_later(5, lambda: ran.append("dropped"))
    dropped.cancel()
    scheduler.advance(20)
    assert ran == ["kept"]
    assert not kept.pending and not dropped.pending
