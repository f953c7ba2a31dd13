"""Broker calls that fail: the budget slot comes back only when the call provably never left, an
exception that is no BrokerError does not stop the adapter, and the circuit breaker never sticks
half open."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.enums import ExecType, IntentAction, OrderStatus, Reason
from services.adapter.brokers.base import (
    BrokerError,
    BrokerOutcomeUnknown,
    BrokerRateLimited,
    BrokerSessionDown,
)
from services.adapter.circuit_breaker import BreakerState
from services.adapter.lifecycle import CancelStage
from tests.unit.adapter.manager_harness import FAR, MS, PATIENT, SMALL, Harness, RecordingBroker, broker, command


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path, SMALL)


def new(n: int, deadline_ns: int = FAR) -> object:
    return command(client_order_id=f"c{n}", intent_id=f"n{n}", deadline_ns=deadline_ns)


# -- the budget slot of a failed call


@pytest.mark.parametrize(("error", "slots"), [
    (BrokerError("Shioaji has no contract 2330", sent=False), 0),
    (BrokerSessionDown("not logged in", sent=False), 0),
    (BrokerError("BadRequestError(400)"), 1),  # the server answered: it may have counted the call
    (BrokerSessionDown("SystemMaintenance(503)"), 1),
    (BrokerRateLimited("TokenError(401)", sent=False), 1),  # whatever it says, the broker counted it
    (BrokerOutcomeUnknown("OrderOutcomeUnknownError(409)", sent=False), 2),  # kept, and the order queried
])
def test_a_failed_call_gives_its_slot_back_only_when_it_provably_never_left(h: Harness, error: BrokerError,
                                                                           slots: int) -> None:
    broker(h).raise_next = error
    h.send(new(1))
    assert h.manager.limiter.in_window() == slots


def test_a_failed_amend_gives_back_its_own_slot_not_a_newer_one(h: Harness) -> None:
    h.working()
    h.clock.advance(1_000 * MS)
    broker(h).raise_next = BrokerError("not acknowledged yet", sent=False)
    h.send(command(IntentAction.AMEND, price="999", deadline_ns=FAR))
    assert h.manager.limiter.in_window() == 1
    h.clock.advance(9_000 * MS)
    assert h.manager.limiter.in_window() == 0, "the place's slot left with its window; the amend's was given back"


# -- exceptions that are no BrokerError


def test_a_broker_bug_on_place_does_not_stop_the_adapter_the_order_is_queried(h: Harness) -> None:
    broker(h).raise_next = RuntimeError("trade object has no attribute 'status'")
    h.send(new(1))
    assert broker(h).names() == ["place", "query"]
    assert (h.reports[-1].exec_type, h.reports[-1].reason) == (ExecType.REJECT, Reason.BROKER_TIMEOUT)
    assert h.metric("broker_errors_total", error="RuntimeError") == 1
    assert h.manager.limiter.in_window() == 2, "what the call did is unknown: its slot is kept"
    broker(h).status("c1", status=OrderStatus.WORKING, qty=3, broker_order_id="B1")
    assert broker(h).names()[-1] == "cancel"


def test_a_broker_bug_on_cancel_leaves_the_cancel_wanted(h: Harness) -> None:
    h.working()
    broker(h).raise_next = KeyError("c1")
    h.send(command(IntentAction.CANCEL))
    order = h.manager.orders.get("c1")
    assert order is not None and order.cancel is CancelStage.WANTED
    assert broker(h).names() == ["place", "cancel", "query"]
    broker(h).status("c1", status=OrderStatus.WORKING, qty=3)
    assert broker(h).names()[-1] == "cancel", "still working: cancelled again"


# -- the circuit breaker never sticks half open


def half_open(h: Harness) -> None:
    broker(h).raise_next = BrokerRateLimited("TokenError(401): Token is expired")
    h.send(new(1))
    assert h.manager.breaker.state is BreakerState.OPEN
    h.scheduler.advance(5_000 * MS)
    assert h.manager.breaker.state is BreakerState.HALF_OPEN


def test_a_probe_that_fills_before_its_ack_closes_the_breaker(h: Harness) -> None:
    half_open(h)
    changes = h.usage_changes
    h.send(new(5))
    assert broker(h).names()[-1] == "place"
    broker(h).answer(ExecType.FILL, "c5", price_e4=10_000_000, qty=3, exec_id="d1")
    assert h.manager.breaker.state is BreakerState.CLOSED
    assert h.usage_changes == changes + 1, "risk hears at once that the breaker closed"


def test_a_probe_a_status_shows_working_closes_the_breaker(h: Harness) -> None:
    half_open(h)
    h.send(new(5))
    broker(h).status("c5", status=OrderStatus.WORKING, qty=3, broker_order_id="B5")
    assert h.manager.breaker.state is BreakerState.CLOSED
    assert h.reports[-1].exec_type is ExecType.ACK


def test_a_probe_refused_while_it_waited_for_the_budget_lets_the_next_new_probe(tmp_path: Path) -> None:
    h = Harness(tmp_path, PATIENT)
    h.send(*[new(n) for n in range(7)])
    broker(h).raise_next = BrokerRateLimited("TokenError(401): Token is expired")
    h.send(new(7))
    assert h.manager.breaker.state is BreakerState.OPEN
    assert h.manager.limiter.in_window() == 8, "every normal slot spent"
    h.scheduler.advance(5_000 * MS)
    h.send(new(8, deadline_ns=h.clock.mono_ns() + 1_000 * MS))
    assert h.manager.calls.waiting == 1, "the probe waits for the budget"
    h.scheduler.advance(5_000 * MS)
    assert (h.reports[-1].client_order_id, h.reports[-1].reason) == ("c8", Reason.RATE_LIMITED)
    assert h.metric("adapter_refused_total", reason="rate_limited") == 1
    h.send(new(9))
    assert broker(h).names()[-1] == "place", "c9 is the probe now"
    broker(h).answer(ExecType.ACK, "c9")
    assert h.manager.breaker.state is BreakerState.CLOSED


def test_a_query_that_keeps_crashing_is_not_asked_again_at_once(h: Harness) -> None:
    class CrashingQueries(RecordingBroker):
        def query(self, client_order_id: str) -> None:
            super().query(client_order_id)
            raise AttributeError("'NoneType' object has no attribute 'trade'")

    h = Harness(h.tmp_path / "crashing", SMALL, broker=CrashingQueries(h.clock), clock=h.clock)
    broker(h).raise_next = BrokerOutcomeUnknown("409")
    h.send(new(1))
    assert broker(h).names() == ["place", "query"]
    h.manager.sweep()
    assert broker(h).names() == ["place", "query", "query"], "the sweep asks again, once a sweep"


def test_a_broker_bug_on_an_amend_leaves_the_price_unknown_so_the_next_amend_goes_out(h: Harness) -> None:
    h.working()
    broker(h).raise_next = TypeError("update_order() got an unexpected keyword argument 'price'")
    h.send(command(IntentAction.AMEND, price="999", intent_id="a1", deadline_ns=FAR))
    assert broker(h).names() == ["place", "amend_price", "query"]
    order = h.manager.orders.get("c1")
    assert order is not None and (order.amend.in_flight, order.amend.sent_price_e4) == (0, None)
    h.clock.advance(10 * MS)
    h.send(command(IntentAction.AMEND, price="999", intent_id="a2", deadline_ns=FAR))
    assert broker(h).names()[-1] == "amend_price", "the first may or may not have landed: sent again"
