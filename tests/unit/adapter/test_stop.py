"""OrderManager.stop on a fake clock: every command the adapter will not send is answered (shutting_down) and
journaled, orders at the broker stay tracked, nothing waiting runs afterwards, and the next start inherits no
NEW that nobody answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.codec import Decoder
from contracts.enums import ExecType, IntentAction, OrderStatus, Reason
from contracts.messages import ExecutionReport, OrderCommand
from services.adapter.lifecycle import CancelStage, Submission
from services.adapter.order_map import decode_order
from services.adapter.recovery import recover
from tests.unit.adapter.manager_harness import FAR, MS, PATIENT, Harness, broker, command

LAST_SEQ = 10_000


def new(n: int) -> OrderCommand:
    return command(client_order_id=f"c{n}", intent_id=f"n{n}", deadline_ns=FAR)


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    """A budget of 8 normal calls a window and NEWs that never time out: only the budget holds orders back."""
    return Harness(tmp_path, PATIENT)


def answers(h: Harness, reason: Reason) -> list[tuple[str, ExecType]]:
    return [(r.client_order_id, r.exec_type) for r in h.reports if r.reason is reason]


def journaled_reports(h: Harness) -> list[ExecutionReport]:
    decoder = Decoder(ExecutionReport)
    return [decoder.decode(payload) for _, payload in h.journal.reports_between(1, LAST_SEQ, LAST_SEQ)]


def test_news_waiting_for_the_budget_are_rejected_and_journaled_the_sent_ones_stay_tracked(h: Harness) -> None:
    h.send(*[new(n) for n in range(12)])
    assert (broker(h).names(), h.manager.calls.waiting) == (["place"] * 8, 4)

    stopped = h.manager.stop([])

    waiting = [(f"c{n}", ExecType.REJECT) for n in range(8, 12)]
    assert answers(h, Reason.SHUTTING_DOWN) == waiting
    assert all(r.status is OrderStatus.REJECTED and r.leaves_qty == 0 for r in h.reports[-4:])
    assert [(r.client_order_id, r.exec_type) for r in journaled_reports(h) if r.reason is Reason.SHUTTING_DOWN] \
        == waiting, "journaled before the process exits"
    open_rows = [decode_order(payload) for payload in h.journal.open_orders()]
    assert sorted(order.client_order_id for order in open_rows) == sorted(f"c{n}" for n in range(8))
    assert all(order.submission is not Submission.QUEUED for order in open_rows), \
        "no pending_new left that never reached the broker"
    assert (stopped.news_answered, stopped.amends_rejected, stopped.unread_refused, stopped.at_broker) == (4, 0, 0, 8)
    assert h.manager.calls.waiting == 0
    h.scheduler.advance(20_000 * MS)
    assert broker(h).names() == ["place"] * 8, "nothing that waited goes out after the stop"


def test_the_next_start_inherits_no_unanswered_new(h: Harness) -> None:
    h.send(*[new(n) for n in range(10)])
    h.manager.stop([])
    h.journal.close()
    reports_before = len(h.reports)
    h.start()
    summary = recover(h.manager)
    assert (summary.from_journal, summary.never_sent) == (8, 0)
    assert all(r.reason is not Reason.STALE_INTENT for r in h.reports[reports_before:])


def test_a_waiting_new_a_cancel_came_for_is_reported_cancelled(h: Harness) -> None:
    h.send(*[new(n) for n in range(9)])
    h.send(command(IntentAction.CANCEL, client_order_id="c8", intent_id="x8", deadline_ns=FAR))
    h.manager.stop([])
    last = h.reports[-1]
    assert (last.client_order_id, last.exec_type, last.intent_id, last.reason) == ("c8", ExecType.CANCELLED, "x8",
                                                                                 None)


def test_an_amend_not_yet_sent_is_rejected_and_the_order_keeps_its_price(h: Harness) -> None:
    h.working("a", price="1000")
    h.send(*[new(n) for n in range(7)])  # the ack of "a" spent no slot: 7 more places fill the 8
    h.send(command(IntentAction.AMEND, client_order_id="a", intent_id="amend-a", price="999", deadline_ns=FAR))
    assert broker(h).names().count("amend_price") == 0 and h.manager.calls.waiting == 1

    stopped = h.manager.stop([])

    assert answers(h, Reason.SHUTTING_DOWN) == [("a", ExecType.AMEND_REJECT)]
    assert h.reports[-1].intent_id == "amend-a"
    order = h.manager.orders.get("a")
    assert order is not None and order.amend.unsent_price_e4 is None
    assert order.amend.asked_price_e4 == order.broker_price_e4
    assert (stopped.news_answered, stopped.amends_rejected) == (0, 1)


def test_a_cancel_waiting_for_the_budget_stays_wanted_for_the_next_start(h: Harness) -> None:
    h.working("a")
    h.send(*[new(n) for n in range(9)])  # 8 normal slots taken, cancels keep the reserve of 2
    for n in range(2):  # two cancels of working orders spend the reserve
        broker(h).answer(ExecType.ACK, f"c{n}", broker_order_id=f"B{n}")
        h.send(command(IntentAction.CANCEL, client_order_id=f"c{n}", intent_id=f"x{n}", deadline_ns=FAR))
    h.send(command(IntentAction.CANCEL, client_order_id="a", intent_id="xa", deadline_ns=FAR))
    order = h.manager.orders.get("a")
    assert order is not None and order.cancel is CancelStage.WAITING

    h.manager.stop([])

    assert all(r.client_order_id != "a" for r in h.reports if r.reason is Reason.SHUTTING_DOWN)
    saved = next(decode_order(p) for p in h.journal.open_orders() if decode_order(p).client_order_id == "a")
    assert saved.cancel is not CancelStage.NONE, "the next start cancels it (recovery queries it, then cancels)"


def test_commands_read_after_the_loop_stopped_are_refused(h: Harness) -> None:
    h.working("a")
    unread = [new(50), command(IntentAction.AMEND, client_order_id="a", intent_id="late-amend", price="990"),
              command(IntentAction.CANCEL, client_order_id="a", intent_id="late-cancel")]
    stopped = h.manager.stop(unread)
    assert answers(h, Reason.SHUTTING_DOWN) == [("c50", ExecType.REJECT), ("a", ExecType.AMEND_REJECT),
                                                ("a", ExecType.CANCEL_REJECT)]
    assert stopped.unread_refused == 3
    assert broker(h).names() == ["place"], "only the first order's place: nothing read at the stop is sent"
    assert h.manager.orders.get("a") is not None and h.manager.orders.get("c50") is None
