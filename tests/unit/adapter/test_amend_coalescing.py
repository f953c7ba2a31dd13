"""Amend coalescing: while an amend is unanswered and younger than the window, newer ones only
replace the wanted price; the newest goes out on the answer or when the window passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.enums import ExecType, IntentAction, OrderStatus, Reason
from contracts.prices import to_e4
from tests.unit.adapter.manager_harness import MS, Harness, RecordingBroker, command


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def broker(h: Harness) -> RecordingBroker:
    assert isinstance(h.broker, RecordingBroker)
    return h.broker


def amends(h: Harness) -> list[tuple[str, object]]:
    return [(name, arg) for name, arg, _ in broker(h).calls if name in ("amend_price", "reduce_qty")]


def amend(price: str, n: int, qty: int = 3) -> object:
    return command(IntentAction.AMEND, price=price, qty=qty, intent_id=f"a{n}")


def test_amends_while_one_is_unanswered_go_out_as_the_newest_on_its_answer(h: Harness) -> None:
    h.working()
    h.send(amend("999", 1))
    h.send(amend("998", 2))
    h.send(amend("997", 3))
    assert amends(h) == [("amend_price", ("c1", to_e4("999")))]
    assert h.metric("amends_coalesced_total") == 1, "a2 replaced by a3 before it went out"
    broker(h).answer(ExecType.AMENDED, price_e4=to_e4("999"), qty=3)
    assert amends(h) == [("amend_price", ("c1", to_e4("999"))), ("amend_price", ("c1", to_e4("997")))]
    broker(h).answer(ExecType.AMENDED, price_e4=to_e4("997"), qty=3)
    last = h.reports[-1]
    assert (last.exec_type, last.price_e4, last.intent_id) == (ExecType.AMENDED, to_e4("997"), "a3")


def test_the_window_passing_sends_the_newest_without_waiting_for_the_answer(h: Harness) -> None:
    h.working()
    h.send(amend("999", 1))
    h.scheduler.advance(1 * MS)
    h.send(amend("998", 2))
    assert len(amends(h)) == 1
    h.scheduler.advance(int(h.config.coalesce_window_ms * MS) - 1 * MS - 1)
    assert len(amends(h)) == 1, "one ns before the window ends"
    h.scheduler.advance(1)
    assert amends(h)[-1] == ("amend_price", ("c1", to_e4("998")))


def test_an_amend_after_the_window_with_nothing_pending_goes_at_once(h: Harness) -> None:
    h.working()
    h.send(amend("999", 1))
    broker(h).answer(ExecType.AMENDED, price_e4=to_e4("999"), qty=3)
    h.send(amend("998", 2))
    assert len(amends(h)) == 2


def test_an_amend_that_changes_nothing_sends_nothing_and_says_so(h: Harness) -> None:
    h.working()
    h.send(amend("1000", 1))
    assert amends(h) == []
    report = h.reports[-1]
    assert (report.exec_type, report.intent_id, report.price_e4) == (ExecType.AMENDED, "a1", to_e4("1000"))
    assert h.metric("amends_unchanged_total") == 1


def test_a_cancel_supersedes_pending_amends(h: Harness) -> None:
    h.working()
    h.send(amend("999", 1))
    h.send(amend("998", 2))
    h.send(command(IntentAction.CANCEL, intent_id="x"))
    broker(h).answer(ExecType.AMENDED, price_e4=to_e4("999"), qty=3)
    assert [name for name, _, _ in broker(h).calls] == ["place", "amend_price", "cancel"]
    assert h.metric("amends_superseded_total") == 1


def test_a_lower_quantity_is_a_reduce_by_and_a_raise_is_refused(h: Harness) -> None:
    h.working(qty=5)
    h.send(amend("1000", 1, qty=2))
    assert amends(h) == [("reduce_qty", ("c1", 3))]
    broker(h).answer(ExecType.AMENDED, price_e4=to_e4("1000"), qty=2)
    order = h.manager.orders.get("c1")
    assert order is not None and (order.qty, order.leaves_qty) == (2, 2)
    h.send(amend("1000", 2, qty=4))
    refused = h.reports[-1]
    assert (refused.exec_type, refused.reason) == (ExecType.AMEND_REJECT, Reason.QTY_INCREASE)
    assert "cancel and send a new order" in refused.detail


def test_leaves_between_the_fill_and_the_original_size_leave_quantity_alone(h: Harness) -> None:
    """A fill raced the amend: the strategy asked for its old leaves, which is no reduction."""
    h.working(qty=3)
    broker(h).answer(ExecType.FILL, price_e4=to_e4("1000"), qty=1, exec_id="d1")
    h.send(amend("999", 1, qty=3))
    assert amends(h) == [("amend_price", ("c1", to_e4("999")))]


def test_an_amend_before_the_ack_is_held_and_sent_after_it(h: Harness) -> None:
    h.send(command())
    h.send(amend("999", 1))
    h.send(amend("998", 2))
    assert amends(h) == []
    broker(h).answer(ExecType.ACK, broker_order_id="B1")
    assert amends(h) == [("amend_price", ("c1", to_e4("998")))]
    assert h.manager.orders.get("c1").status is OrderStatus.WORKING  # type: ignore[union-attr]
