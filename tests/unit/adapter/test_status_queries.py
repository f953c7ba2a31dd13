"""Status queries: an order only the broker can settle is always asked about, once at a time,
and never before its NEW has reached the broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.enums import ExecType, OrderStatus, StormGuardLevel
from contracts.messages import StormGuardState
from tests.unit.adapter import manager_harness as harness
from tests.unit.adapter.manager_harness import FAR, MS, Harness, broker, command

# The breaker never opens here: these tests are about queries, not about failures piling up.
SMALL = harness.SMALL.model_copy(update={"breaker": harness.SMALL.breaker.model_copy(update={"failures": 100})})
PATIENT = SMALL.model_copy(update={"timeouts": SMALL.timeouts.model_copy(update={"new_ms": 3_600_000})})
HALT = StormGuardState(seq=1, global_level=StormGuardLevel.HALT, ts_ns=0)


def new(n: int) -> object:
    return command(client_order_id=f"c{n}", intent_id=f"n{n}", deadline_ns=FAR)


def test_a_query_with_no_budget_waits_for_it_instead_of_being_dropped(tmp_path: Path) -> None:
    h = Harness(tmp_path, PATIENT)
    h.working("w")
    h.send(*[new(n) for n in range(7)])
    assert h.manager.limiter.in_window() == 8, "every normal slot spent"
    broker(h).answer(ExecType.CANCEL_REJECT, "w", detail="not working")  # the adapter must learn what it is
    assert broker(h).names().count("query") == 0
    assert h.manager.calls.waiting == 1
    h.scheduler.advance(10_000 * MS)
    assert broker(h).names().count("query") == 1, "sent once a slot freed, with no sweep needed"


def test_a_query_already_waiting_or_on_its_way_is_not_asked_twice(tmp_path: Path) -> None:
    h = Harness(tmp_path, PATIENT)
    h.working("w")
    broker(h).answer(ExecType.CANCEL_REJECT, "w", detail="not working")
    broker(h).answer(ExecType.CANCEL_REJECT, "w", detail="not working")
    h.manager.sweep()
    assert broker(h).names() == ["place", "query"]


def test_a_query_retry_spends_one_slot(tmp_path: Path) -> None:
    h = Harness(tmp_path, PATIENT)
    h.working("w")
    broker(h).answer(ExecType.CANCEL_REJECT, "w", detail="not working")
    assert h.manager.limiter.in_window() == 2
    h.scheduler.advance(100 * MS)
    assert broker(h).names() == ["place", "query", "query"]
    assert h.manager.limiter.in_window() == 3
    assert h.metric("broker_retries_total", call="query") == 1


def test_under_halt_the_sweep_queries_a_timed_out_new_it_cannot_cancel(tmp_path: Path) -> None:
    h = Harness(tmp_path, SMALL)
    h.send(new(1))
    h.scheduler.advance(300 * MS)  # the NEW, its query and the query's retry all time out
    assert broker(h).names() == ["place", "query", "query"]
    h.manager.on_control(HALT)
    h.manager.sweep()
    assert broker(h).names() == ["place", "query", "query", "query"]
    broker(h).status("c1", status=OrderStatus.WORKING, qty=3, broker_order_id="B1")
    assert broker(h).names()[-1] == "cancel", "found live: cancelled at once"


def test_the_sweep_never_queries_a_new_still_on_its_way(tmp_path: Path) -> None:
    h = Harness(tmp_path, PATIENT)
    h.send(new(1))
    h.manager.on_control(HALT)
    h.manager.sweep()
    h.manager.sweep()
    assert broker(h).names() == ["place"], "a query could find it missing before it arrives; its ack cancels it"
    broker(h).answer(ExecType.ACK, "c1", broker_order_id="B1")
    assert broker(h).names() == ["place", "cancel"]


@pytest.mark.parametrize("halted", [False, True])
def test_an_unresolved_new_is_queried_by_the_sweep_until_it_settles(tmp_path: Path, halted: bool) -> None:
    h = Harness(tmp_path, SMALL)
    if halted:
        h.working("w")
    h.send(new(1))
    h.scheduler.advance(300 * MS)
    if halted:
        h.manager.on_control(HALT)
    before = broker(h).names().count("query")
    h.manager.sweep()
    assert broker(h).names().count("query") == before + 1
    broker(h).status("c1", status=None)
    h.manager.sweep()
    assert broker(h).names().count("query") == before + 1, "settled: asked no more (w's cancel is on its way)"


def test_orders_recovery_must_query_wait_for_the_budget_the_last_run_spent(tmp_path: Path) -> None:
    from services.adapter.recovery import recover

    h = Harness(tmp_path, PATIENT)
    h.send(*[new(n) for n in range(8)])
    h.journal.close()
    h.start()
    summary = recover(h.manager)
    assert summary.queried == 8
    assert broker(h).names().count("query") == 0, "the last run's 8 places and the status refresh fill the window"
    assert h.manager.calls.waiting == 8
    h.scheduler.advance(10_000 * MS)
    assert broker(h).names().count("query") == 8
    broker(h).status("c0", status=None)
    assert (h.reports[-1].client_order_id, h.reports[-1].exec_type) == ("c0", ExecType.REJECT)
