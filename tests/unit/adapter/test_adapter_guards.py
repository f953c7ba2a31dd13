"""The adapter's guards: the order budget and its queue, timeouts and retries, the circuit breaker,
the kill switch, and recovery from the journal after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.enums import ExecType, IntentAction, OrderStatus, Reason, StormGuardLevel
from contracts.messages import ControlCommand, StormGuardState
from services.adapter.brokers.base import BrokerOutcomeUnknown, BrokerRateLimited
from services.adapter.circuit_breaker import BreakerState
from tests.unit.adapter.manager_harness import FAR, MS, PATIENT, SMALL, START_NS, Harness, broker, command


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path, SMALL)


def new(n: int, **fields: object) -> object:
    return command(client_order_id=f"c{n}", intent_id=f"n{n}", deadline_ns=FAR, **fields)  # type: ignore[arg-type]


# -- the order budget (a broker that never answers, and NEWs that never time out: only the budget acts)


@pytest.fixture
def patient(tmp_path: Path) -> Harness:
    return Harness(tmp_path, PATIENT)


def test_normal_calls_stop_at_cap_minus_reserve_and_wait_in_order(patient: Harness) -> None:
    patient.send(*[new(n) for n in range(12)])
    assert broker(patient).names() == ["place"] * 8
    assert patient.manager.calls.waiting == 4
    patient.scheduler.advance(10_000 * MS)
    placed = [arg.client_order_id for name, arg, _ in broker(patient).calls if name == "place"]  # type: ignore[attr-defined]
    assert placed == [f"c{n}" for n in range(12)], "waited NEWs go out in arrival order"


def test_cancels_use_the_reserve_and_jump_the_queue(patient: Harness) -> None:
    patient.send(*[new(n) for n in range(9)])
    for n in range(8):
        broker(patient).answer(ExecType.ACK, f"c{n}")
    patient.send(command(IntentAction.CANCEL, client_order_id="c0", intent_id="x0"),
           command(IntentAction.CANCEL, client_order_id="c1", intent_id="x1"))
    assert broker(patient).names() == ["place"] * 8 + ["cancel", "cancel"]
    patient.send(command(IntentAction.CANCEL, client_order_id="c2", intent_id="x2"))
    assert broker(patient).names().count("cancel") == 2, "the reserve is spent too: the third cancel waits"
    patient.scheduler.advance(10_000 * MS)
    assert broker(patient).names()[10] == "cancel", "the waiting cancel goes before the waiting NEW"


def test_the_broker_never_sees_more_than_the_cap_in_any_window(patient: Harness) -> None:
    for burst in range(30):
        patient.send(*[new(100 * burst + n) for n in range(7)])
        patient.scheduler.advance(700 * MS)
    times = [at for _, _, at in broker(patient).calls]
    worst = max(sum(1 for t in times if start <= t < start + 10_000 * MS) for start in times)
    assert worst <= SMALL.soft_cap
    assert len(times) > 2 * SMALL.soft_cap, "the burst outlasted several windows"


def test_a_waiting_new_past_its_deadline_is_refused_not_sent(patient: Harness) -> None:
    patient.send(*[new(n) for n in range(8)])
    patient.send(command(client_order_id="late", deadline_ns=START_NS + 1000 * MS))
    patient.scheduler.advance(10_000 * MS)
    assert "late" not in [getattr(arg, "client_order_id", "") for _, arg, _ in broker(patient).calls]
    refused = patient.reports[-1]
    assert (refused.client_order_id, refused.exec_type, refused.reason) == ("late", ExecType.REJECT,
                                                                           Reason.RATE_LIMITED)


def test_crossing_the_slow_down_share_tells_risk(patient: Harness) -> None:
    patient.send(*[new(n) for n in range(7)])
    assert patient.usage_changes == 0
    patient.send(new(7))
    assert patient.usage_changes == 1, "8 of 10 calls in the window: 80 %"


# -- timeouts


def test_a_new_that_times_out_is_reported_failed_queried_and_cancelled_when_it_turns_up(h: Harness) -> None:
    h.send(new(1))
    h.scheduler.advance(100 * MS)
    failed = h.reports[-1]
    assert (failed.exec_type, failed.reason, failed.status, failed.leaves_qty) == (
        ExecType.REJECT, Reason.BROKER_TIMEOUT, OrderStatus.REJECTED, 0)
    assert broker(h).names() == ["place", "query"]
    assert h.manager.orders.get("c1") is not None, "still tracked as unresolved"
    broker(h).answer(ExecType.ACK, "c1", broker_order_id="B9")
    assert broker(h).names()[-1] == "cancel"
    assert h.reports[-1].exec_type is ExecType.REJECT, "the late ack is not reported as a live order"
    broker(h).answer(ExecType.CANCELLED, "c1", qty=3)
    assert h.manager.orders.get("c1") is None


def test_a_timed_out_new_that_filled_reports_its_fill(h: Harness) -> None:
    h.send(new(1))
    h.scheduler.advance(100 * MS)
    broker(h).answer(ExecType.FILL, "c1", price_e4=10_000_000, qty=3, exec_id="d1")
    fill = h.reports[-1]
    assert (fill.exec_type, fill.last_qty, fill.status) == (ExecType.FILL, 3, OrderStatus.FILLED)
    assert h.manager.orders.live == {}


def test_a_timed_out_new_the_broker_never_saw_is_dropped(h: Harness) -> None:
    h.send(new(1))
    h.scheduler.advance(100 * MS)
    reports = len(h.reports)
    broker(h).status("c1", status=None)
    assert h.manager.orders.live == {}
    assert len(h.reports) == reports, "already reported failed"


def test_a_cancel_that_times_out_is_retried_once_then_reported(h: Harness) -> None:
    h.working()
    h.send(command(IntentAction.CANCEL))
    h.scheduler.advance(100 * MS)
    assert broker(h).names() == ["place", "cancel", "cancel"]
    h.scheduler.advance(100 * MS)
    report = h.reports[-1]
    assert (report.exec_type, report.reason) == (ExecType.CANCEL_REJECT, Reason.BROKER_TIMEOUT)
    assert broker(h).names()[-1] == "query"
    assert h.metric("broker_retries_total", call="cancel") == 1


def test_outcome_unknown_is_queried_never_resent(h: Harness) -> None:
    broker(h).raise_next = BrokerOutcomeUnknown("connection reset after send")
    h.send(new(1))
    assert broker(h).names() == ["place", "query"]
    assert (h.reports[-1].exec_type, h.reports[-1].reason) == (ExecType.REJECT, Reason.BROKER_TIMEOUT)
    broker(h).status("c1", status=OrderStatus.WORKING, qty=3, broker_order_id="B1")
    assert broker(h).names() == ["place", "query", "cancel"], "it went live unseen: cancelled at once"


# -- the circuit breaker


def test_repeated_timeouts_open_the_breaker_cancel_all_then_a_probe_closes_it(h: Harness) -> None:
    h.working("w1")
    h.send(new(1), new(2), new(3))
    h.scheduler.advance(100 * MS)
    assert h.manager.breaker.state is BreakerState.OPEN
    assert "cancel" in broker(h).names(), "the working order is cancelled when the breaker opens"
    h.send(new(4))
    refused = h.reports[-1]
    assert (refused.client_order_id, refused.reason) == ("c4", Reason.CIRCUIT_OPEN)
    h.scheduler.advance(5_000 * MS)
    assert h.manager.breaker.state is BreakerState.HALF_OPEN
    h.send(new(5), new(6))
    assert h.reports[-1].reason is Reason.CIRCUIT_OPEN, "one probe only"
    broker(h).answer(ExecType.ACK, "c5")
    assert h.manager.breaker.state is BreakerState.CLOSED


def test_the_brokers_rate_limit_error_opens_the_breaker_at_once(h: Harness) -> None:
    broker(h).raise_next = BrokerRateLimited("order rate over limit: suspended 60 s")
    h.send(new(1))
    assert h.manager.breaker.state is BreakerState.OPEN
    assert (h.reports[-1].exec_type, h.reports[-1].reason) == (ExecType.REJECT, Reason.RATE_LIMITED)
    assert h.usage_changes >= 1, "risk hears of the open breaker at once"


# -- the kill switch


def halt(level: StormGuardLevel = StormGuardLevel.HALT, hold_fire: bool = False) -> StormGuardState:
    return StormGuardState(seq=1, global_level=level, hold_fire=hold_fire, ts_ns=0)


def test_halt_closes_the_gate_cancels_all_and_keeps_at_it_until_nothing_works(h: Harness) -> None:
    h.working("a")
    h.working("b")
    h.manager.on_control(halt())
    assert broker(h).names().count("cancel") == 2
    h.send(new(9))
    assert h.reports[-1].reason is Reason.STORMGUARD_HALT
    broker(h).answer(ExecType.CANCELLED, "a", qty=3)
    broker(h).answer(ExecType.CANCEL_REJECT, "b", detail="busy")
    broker(h).status("b", status=OrderStatus.WORKING, qty=3)
    assert broker(h).names().count("cancel") == 3, "b still works: cancelled again"
    broker(h).answer(ExecType.CANCELLED, "b", qty=3)
    assert h.manager.orders.live == {}
    h.manager.on_control(halt())
    assert broker(h).names().count("cancel") == 3, "idempotent"


def test_hold_fire_refuses_new_orders_but_lets_cancels_through(h: Harness) -> None:
    h.working()
    h.manager.on_control(halt(StormGuardLevel.NORMAL, hold_fire=True))
    h.send(new(9))
    assert h.reports[-1].reason is Reason.HOLD_FIRE
    h.send(command(IntentAction.CANCEL))
    assert broker(h).names() == ["place", "cancel"]
    h.manager.on_control(halt(StormGuardLevel.NORMAL))
    h.send(new(10))
    assert broker(h).names()[-1] == "place"


def test_the_operators_cancel_all_works_with_no_strategy_alive(h: Harness) -> None:
    h.working("a")
    h.manager.on_control(ControlCommand(seq=1, verb="cancel_all", ts_ns=0))
    assert broker(h).names() == ["place", "cancel"]
    h.manager.on_control(ControlCommand(seq=2, verb="resume", ts_ns=0))
    h.send(new(1))
    assert broker(h).names()[-1] == "place"


# -- recovery from the journal


def test_a_restart_rebuilds_working_orders_and_reconciles_with_the_broker(tmp_path: Path) -> None:
    from services.adapter.brokers.base import BrokerOrderState
    from services.adapter.recovery import recover

    h = Harness(tmp_path, SMALL)
    h.working("live", qty=3)
    h.working("gone", qty=2)
    h.send(new(7))
    broker(h).answer(ExecType.FILL, "live", price_e4=10_000_000, qty=1, exec_id="d1")
    h.journal.close()
    broker(h).open = [BrokerOrderState("live", OrderStatus.PARTIALLY_FILLED, "B1", "2330", qty=3, cum_qty=2),
                      BrokerOrderState("stray", OrderStatus.WORKING, "B8", "2330", qty=1)]
    calls_before = len(broker(h).calls)
    h.start()
    summary = recover(h.manager)
    assert (summary.from_journal, summary.at_broker, summary.queried, summary.unknown_at_broker) == (3, 1, 2, 1)
    live = h.manager.orders.get("live")
    assert live is not None and live.cum_qty == 2, "the fill the last run missed is taken from the broker"
    missed = h.reports[-1] if h.reports[-1].client_order_id == "live" else next(
        r for r in reversed(h.reports) if r.client_order_id == "live")
    assert (missed.exec_type, missed.last_qty) == (ExecType.FILL, 1)
    new_calls = [(name, arg) for name, arg, _ in broker(h).calls[calls_before:]]
    assert ("cancel", "stray") in new_calls
    assert ("query", "gone") in new_calls and ("query", "c7") in new_calls
    assert not any(name == "place" for name, _ in new_calls), "nothing is ever resent"
    broker(h).status("gone", status=None)
    assert h.reports[-1].exec_type is ExecType.CANCELLED
    assert h.manager.orders.get("gone") is None
    assert h.reports[-1].seq > h.reports[0].seq


def test_a_restart_counts_the_last_runs_calls_against_the_budget(tmp_path: Path) -> None:
    from services.adapter.brokers.base import BrokerOrderState
    from services.adapter.recovery import recover

    h = Harness(tmp_path, SMALL)
    h.send(*[new(n) for n in range(5)])
    h.clock.advance(1_000 * MS)
    h.journal.close()
    broker(h).open = [BrokerOrderState(f"c{n}", OrderStatus.WORKING, f"B{n}", "2330", qty=3) for n in range(5)]
    h.start()
    recover(h.manager)
    assert h.manager.limiter.in_window() == 5 + 1, "the last run's 5 places and this start's update_status"
    h.send(*[new(100 + n) for n in range(5)])
    assert broker(h).names().count("place") == 5 + 2, "8 normal slots in the window, 6 spent"


def test_the_status_refresh_at_start_is_counted_and_journaled_for_the_next_start(tmp_path: Path) -> None:
    from services.adapter.recovery import recover

    h = Harness(tmp_path, SMALL)
    broker(h).open_orders_calls = 2
    recover(h.manager)
    assert h.manager.limiter.in_window() == 2
    h.clock.advance(1_000 * MS)
    h.journal.close()
    h.start()
    recover(h.manager)
    assert h.manager.limiter.in_window() == 2 + 2


def test_a_cancel_that_waited_for_the_budget_on_an_order_that_filled_meanwhile_is_too_late(h: Harness) -> None:
    h.working("a")
    h.send(*[new(n) for n in range(7)])
    for n in range(7):
        broker(h).answer(ExecType.ACK, f"c{n}")
    h.send(command(IntentAction.CANCEL, client_order_id="a", intent_id="x"))  # urgent: 9th slot, the reserve
    h.send(*[command(IntentAction.CANCEL, client_order_id=f"c{n}", intent_id=f"x{n}") for n in range(1, 7)])
    assert broker(h).names().count("cancel") == 2, "c2..c6 wait for the budget"
    broker(h).answer(ExecType.FILL, "c6", price_e4=10_000_000, qty=3, exec_id="d6")
    h.scheduler.advance(10_000 * MS)
    too_late = [r for r in h.reports if r.client_order_id == "c6" and r.exec_type is ExecType.CANCEL_REJECT]
    assert [(r.reason, r.intent_id) for r in too_late] == [(Reason.TOO_LATE, "x6")]
