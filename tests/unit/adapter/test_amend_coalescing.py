"""Amend coalescing: while an amend is unanswered and younger than the window, newer ones only
replace the wanted price; the newest goes out on the answer or when the window passes."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from contracts.enums import ExecType, IntentAction, OrderStatus, Reason
from contracts.prices import to_e4
from services.adapter.amends import AmendStage
from services.runtime.config.order_adapter import OrderAdapterConfig
from tests.unit.adapter.manager_harness import FAR, MS, START_NS, Harness, broker, command


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def amends(h: Harness) -> list[tuple[str, object]]:
    return [(name, arg) for name, arg, _ in broker(h).calls if name in ("amend_price", "reduce_qty")]


def amend(price: str, n: int, qty: int = 3, **fields: object) -> object:
    return command(IntentAction.AMEND, price=price, qty=qty, intent_id=f"a{n}", **fields)  # type: ignore[arg-type]


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


# -- what the broker will end at: the price last sent, not the one last acked

QUICK = OrderAdapterConfig.model_validate({"timeouts": {"amend_ms": 100, "query_ms": 100}})


@pytest.fixture
def quick(tmp_path: Path) -> Harness:
    return Harness(tmp_path, QUICK)


def test_an_amend_back_to_the_acked_price_while_another_is_in_flight_is_sent(h: Harness) -> None:
    h.working()
    h.send(amend("999", 1))
    h.send(amend("1000", 2))
    h.scheduler.advance(5 * MS)
    assert amends(h) == [("amend_price", ("c1", to_e4("999"))), ("amend_price", ("c1", to_e4("1000")))], \
        "the broker would end at 999 had the second been taken for no change"
    assert h.metric("amends_unchanged_total") == 0


def test_after_an_amend_gave_up_an_amend_to_its_old_target_is_sent(quick: Harness) -> None:
    quick.working()
    quick.send(amend("999", 1))
    quick.scheduler.advance(200 * MS)
    assert (quick.reports[-1].exec_type, quick.reports[-1].reason) == (ExecType.AMEND_REJECT, Reason.BROKER_TIMEOUT)
    quick.send(amend("999", 2, deadline_ns=quick.clock.mono_ns() + 100 * MS))
    assert amends(quick)[-1] == ("amend_price", ("c1", to_e4("999")))
    assert len(amends(quick)) == 3, "sent, retried once, and sent again on the new command"


def test_a_rejected_amend_leaves_the_order_headed_for_its_acked_price(h: Harness) -> None:
    h.working()
    h.send(amend("999", 1))
    broker(h).answer(ExecType.AMEND_REJECT, detail="price out of range")
    h.send(amend("999", 2))
    assert amends(h) == [("amend_price", ("c1", to_e4("999")))] * 2


def test_a_timed_out_price_amend_is_sent_again_as_the_newest_target(quick: Harness) -> None:
    quick.working()
    quick.send(amend("999", 1))
    quick.scheduler.advance(5 * MS)
    quick.send(amend("998", 2))
    assert amends(quick)[-1] == ("amend_price", ("c1", to_e4("998")))
    quick.scheduler.advance(95 * MS)  # the 999 times out: resending it could leave the order at 999
    assert amends(quick)[-1] == ("amend_price", ("c1", to_e4("998")))
    assert quick.metric("broker_retries_total", call="amend") == 1


def test_a_timed_out_quantity_cut_is_never_resent_the_order_is_queried(quick: Harness) -> None:
    quick.working(qty=5)
    quick.send(amend("1000", 1, qty=3))
    quick.scheduler.advance(100 * MS)
    assert broker(quick).names() == ["place", "reduce_qty", "query"]
    assert (quick.reports[-1].exec_type, quick.reports[-1].reason) == (ExecType.AMEND_REJECT, Reason.BROKER_TIMEOUT)
    quick.send(amend("1000", 2, qty=3, deadline_ns=quick.clock.mono_ns() + 100 * MS))
    assert broker(quick).names().count("reduce_qty") == 1, "the wanted leaves wait for the query's answer"
    broker(quick).status("c1", status=OrderStatus.WORKING, qty=3, broker_order_id="B1")
    order = quick.manager.orders.get("c1")
    assert order is not None and order.leaves_qty == 3
    assert broker(quick).names().count("reduce_qty") == 1, "the cut landed: nothing more to take off"
    assert quick.reports[-1].exec_type is ExecType.AMENDED


def test_a_cut_the_query_shows_never_landed_is_sent_once_more_on_a_new_command(quick: Harness) -> None:
    quick.working(qty=5)
    quick.send(amend("1000", 1, qty=3))
    quick.scheduler.advance(100 * MS)
    broker(quick).status("c1", status=OrderStatus.WORKING, qty=5, broker_order_id="B1")
    quick.send(amend("1000", 2, qty=3, deadline_ns=quick.clock.mono_ns() + 100 * MS))
    assert amends(quick) == [("reduce_qty", ("c1", 2)), ("reduce_qty", ("c1", 2))]


def test_two_cuts_to_the_same_leaves_send_one_reduce(h: Harness) -> None:
    h.working(qty=5)
    h.send(amend("1000", 1, qty=3))
    h.scheduler.advance(5 * MS)
    h.send(amend("1000", 2, qty=3))
    h.scheduler.advance(5 * MS)
    broker(h).answer(ExecType.AMENDED, price_e4=to_e4("1000"), qty=3)
    assert amends(h) == [("reduce_qty", ("c1", 2))]


def test_a_deeper_cut_while_one_is_in_flight_waits_for_its_answer(h: Harness) -> None:
    h.working(qty=5)
    h.send(amend("1000", 1, qty=3))
    h.scheduler.advance(5 * MS)
    h.send(amend("1000", 2, qty=1))
    h.scheduler.advance(5 * MS)
    assert amends(h) == [("reduce_qty", ("c1", 2))]
    broker(h).answer(ExecType.AMENDED, price_e4=to_e4("1000"), qty=3)
    assert amends(h) == [("reduce_qty", ("c1", 2)), ("reduce_qty", ("c1", 2))]


def test_the_journal_records_what_each_amend_sent(h: Harness) -> None:
    h.working(qty=5)
    h.send(amend("999", 1, qty=3))
    recorded = [(action, msgspec.msgpack.decode(payload)) for action, payload in h.journal.commands_for("c1")
                if action.startswith("update")]
    assert recorded == [("update_qty", [2, "a1"]), ("update_price", [to_e4("999"), "a1"])]


def test_amends_queued_for_the_budget_make_one_job_per_order(tmp_path: Path) -> None:
    h = Harness(tmp_path, OrderAdapterConfig.model_validate({"soft_cap": 4, "reserve": 1, "window_guard_ms": 0}))
    far = START_NS + 60_000 * MS
    h.working("c1")
    h.working("c2")
    h.send(amend("999", 1, deadline_ns=far))
    h.send(command(IntentAction.AMEND, client_order_id="c2", price="999", intent_id="b1", deadline_ns=far))
    h.scheduler.advance(5 * MS)
    h.send(amend("998", 2, deadline_ns=far))
    h.scheduler.advance(5 * MS)
    h.send(amend("997", 3, deadline_ns=far))
    assert h.manager.calls.waiting == 2, "c2's amend and c1's newest, once"
    h.scheduler.advance(10_000 * MS)
    assert amends(h)[-2:] == [("amend_price", ("c2", to_e4("999"))), ("amend_price", ("c1", to_e4("997")))]


PRICE, CUT = {"op": "update_price"}, {"op": "update_qty"}  # the call an answer names, as Shioaji's op_type does


def test_the_late_answer_to_a_timed_out_price_amend_never_stands_in_for_a_cut_on_its_way(quick: Harness) -> None:
    quick.working(qty=5)
    quick.send(amend("999", 1, qty=5))  # P1 at 0 ms
    quick.scheduler.advance(50 * MS)
    quick.send(amend("999", 2, qty=3))  # the cut C1 at 50 ms, while P1 is unanswered; its deadline is 150 ms
    assert amends(quick) == [("amend_price", ("c1", to_e4("999"))), ("reduce_qty", ("c1", 2))]
    quick.scheduler.advance(51 * MS)  # P1 timed out at 100 ms and went again as P2
    assert amends(quick)[-1] == ("amend_price", ("c1", to_e4("999")))
    broker(quick).answer(ExecType.AMENDED, price_e4=to_e4("999"), qty=5, **PRICE)  # P1's answer, late
    quick.send(amend("999", 3, qty=3, deadline_ns=quick.clock.mono_ns() + 100 * MS))
    quick.scheduler.advance(10 * MS)  # past the coalescing window, C1 still within its deadline
    assert [name for name, _ in amends(quick)].count("reduce_qty") == 1, "C1 is still on its way: no second cut"
    broker(quick).answer(ExecType.AMENDED, price_e4=to_e4("999"), qty=3, **CUT)  # C1's answer
    order = quick.manager.orders.get("c1")
    assert order is not None and (order.qty, order.amend.cut_to_leaves) == (3, None)
    assert [name for name, _ in amends(quick)].count("reduce_qty") == 1


def test_a_cuts_answer_after_a_query_already_showed_it_settles_the_cut(quick: Harness) -> None:
    quick.working(qty=5)
    quick.send(amend("1000", 1, qty=3))
    quick.manager.query(quick.manager.orders.get("c1"))  # e.g. the sweep asked
    broker(quick).status("c1", status=OrderStatus.WORKING, qty=3, broker_order_id="B1")  # the cut is there
    broker(quick).answer(ExecType.AMENDED, price_e4=to_e4("1000"), qty=3, **CUT)  # then its own answer
    quick.scheduler.advance(200 * MS)
    assert not any(r.reason is Reason.BROKER_TIMEOUT for r in quick.reports), "the cut was answered, not lost"
    assert quick.metric("broker_timeouts_total", call="amend") == 0


def test_a_cuts_late_answer_never_settles_a_price_amend_in_flight(quick: Harness) -> None:
    quick.working(qty=5)
    quick.send(amend("1000", 1, qty=3))  # the cut C1
    quick.scheduler.advance(100 * MS)  # C1 times out: queried, never resent
    broker(quick).status("c1", status=OrderStatus.WORKING, qty=3, broker_order_id="B1")
    quick.send(amend("998", 2, qty=3, deadline_ns=quick.clock.mono_ns() + 100 * MS))  # P in flight
    assert amends(quick)[-1] == ("amend_price", ("c1", to_e4("998")))
    broker(quick).answer(ExecType.AMENDED, price_e4=to_e4("1000"), qty=3, **CUT)  # C1's answer, late
    quick.scheduler.advance(100 * MS)  # P unanswered past its deadline: it must still time out and go again
    assert quick.metric("broker_retries_total", call="amend") == 1
    assert amends(quick)[-1] == ("amend_price", ("c1", to_e4("998")))


def test_the_pending_amend_stages_follow_the_amend_from_asked_to_answered(h: Harness) -> None:
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
