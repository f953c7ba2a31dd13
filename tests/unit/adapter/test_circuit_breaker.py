"""services.adapter.circuit_breaker: CLOSED → OPEN on failures or a trip, HALF_OPEN after the cooldown, one probe."""

from __future__ import annotations

import pytest

from services.adapter.circuit_breaker import BreakerState, CircuitBreaker
from services.runtime.clock import FakeClock

SECOND = 1_000_000_000
WINDOW_NS = 10 * SECOND
COOLDOWN_NS = 30 * SECOND


def make(failures: int = 3) -> tuple[FakeClock, CircuitBreaker]:
    clock = FakeClock()
    return clock, CircuitBreaker(clock, failures=failures, window_ns=WINDOW_NS, cooldown_ns=COOLDOWN_NS)


def opened(reason: str = "timeout") -> tuple[FakeClock, CircuitBreaker]:
    clock, breaker = make()
    assert breaker.trip(reason)
    return clock, breaker


def half_open() -> tuple[FakeClock, CircuitBreaker]:
    clock, breaker = opened()
    clock.advance(COOLDOWN_NS)
    assert breaker.state is BreakerState.HALF_OPEN
    return clock, breaker


@pytest.mark.parametrize(
    ("failures", "window_ns", "cooldown_ns"),
    [(0, SECOND, SECOND), (-1, SECOND, SECOND), (1, 0, SECOND), (1, SECOND, 0)],
)
def test_refuses_a_nonsense_configuration(failures: int, window_ns: int, cooldown_ns: int) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(FakeClock(), failures=failures, window_ns=window_ns, cooldown_ns=cooldown_ns)


def test_starts_closed_and_lets_every_order_through() -> None:
    _, breaker = make()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.state == "closed"
    assert all(breaker.allow_new() for _ in range(100))
    assert (breaker.reason, breaker.opened_at_ns) == ("", 0)


def test_success_in_closed_is_a_no_op() -> None:
    clock, breaker = make(failures=3)
    breaker.record_failure("timeout")
    breaker.record_failure("timeout")
    assert not breaker.record_success()  # does not close anything, nor forget the failures
    assert breaker.state is BreakerState.CLOSED
    clock.advance(1)
    assert breaker.record_failure("reject")
    assert breaker.state is BreakerState.OPEN


def test_fewer_failures_than_the_threshold_leave_it_closed() -> None:
    _, breaker = make(failures=3)
    assert not breaker.record_failure("timeout")
    assert not breaker.record_failure("timeout")
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow_new()


def test_exactly_failures_in_the_window_open_it() -> None:
    clock, breaker = make(failures=3)
    assert not breaker.record_failure("timeout")
    clock.advance(WINDOW_NS // 2)
    assert not breaker.record_failure("timeout")
    clock.advance(WINDOW_NS // 2 - 1)  # the first failure is still in the window
    assert breaker.record_failure("reject 88")
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow_new()
    assert breaker.reason == "reject 88"
    assert breaker.opened_at_ns == clock.mono_ns()


def test_failures_spread_beyond_the_window_do_not_open_it() -> None:
    clock, breaker = make(failures=3)
    for _ in range(10):  # three failures never fit in one window: each leaves it exactly window_ns after it
        assert not breaker.record_failure("timeout")
        clock.advance(WINDOW_NS // 2)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow_new()


def test_one_failure_threshold_opens_on_the_first() -> None:
    _, breaker = make(failures=1)
    assert breaker.record_failure("timeout")
    assert breaker.state is BreakerState.OPEN


def test_open_refuses_new_orders_until_the_cooldown_has_passed() -> None:
    clock, breaker = opened()
    reopens_ns = breaker.opened_at_ns + COOLDOWN_NS
    clock.advance(COOLDOWN_NS - 1)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow_new()
    clock.advance(1)
    assert clock.mono_ns() == reopens_ns
    assert breaker.state is BreakerState.HALF_OPEN


def test_open_turns_half_open_lazily_through_allow_new_too() -> None:
    clock, breaker = opened()
    clock.advance(COOLDOWN_NS)
    assert breaker.allow_new()  # no read of `state` first: the probe goes
    assert breaker.state is BreakerState.HALF_OPEN


def test_outcomes_while_open_change_nothing() -> None:
    clock, breaker = opened("session down")
    opened_at_ns = breaker.opened_at_ns
    clock.advance(SECOND)
    assert not breaker.record_success()
    for _ in range(5):  # more than the threshold: they neither reopen it nor restart the cooldown
        assert not breaker.record_failure("timeout")
    assert breaker.state is BreakerState.OPEN
    assert (breaker.reason, breaker.opened_at_ns) == ("session down", opened_at_ns)


def test_half_open_lets_exactly_one_probe_through() -> None:
    _, breaker = half_open()
    assert breaker.allow_new()
    assert not breaker.allow_new()
    assert not breaker.allow_new()
    assert breaker.state is BreakerState.HALF_OPEN


def test_the_probes_success_closes_it() -> None:
    _, breaker = half_open()
    assert breaker.allow_new()
    assert breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert all(breaker.allow_new() for _ in range(10))
    assert not breaker.record_success()  # closed already


def test_it_closes_with_an_empty_failure_window() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, failures=3, window_ns=WINDOW_NS, cooldown_ns=SECOND)  # cooldown inside the window
    for _ in range(3):
        breaker.record_failure("timeout")
    clock.advance(SECOND)
    assert breaker.allow_new()
    assert breaker.record_success()
    assert not breaker.record_failure("timeout")  # the three that opened it are forgotten, though within window_ns
    assert not breaker.record_failure("timeout")
    assert breaker.record_failure("timeout")


def test_a_success_before_the_probe_went_does_not_close_it() -> None:
    _, breaker = half_open()
    assert not breaker.record_success()  # a late answer to an order sent before it opened
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow_new()  # the probe still goes


def test_the_probes_failure_reopens_it_with_a_fresh_cooldown() -> None:
    clock, breaker = half_open()
    assert breaker.allow_new()
    clock.advance(2 * SECOND)
    assert breaker.record_failure("probe timeout")
    assert breaker.state is BreakerState.OPEN
    assert breaker.reason == "probe timeout"
    assert breaker.opened_at_ns == clock.mono_ns()
    assert not breaker.allow_new()
    clock.advance(COOLDOWN_NS - 1)
    assert breaker.state is BreakerState.OPEN
    clock.advance(1)
    assert breaker.allow_new()  # a new probe
    assert not breaker.allow_new()


def test_any_failure_in_half_open_reopens_it() -> None:
    clock, breaker = half_open()
    assert breaker.record_failure("reject")  # no probe sent yet: still evidence the broker is failing
    assert breaker.state is BreakerState.OPEN
    assert breaker.opened_at_ns == clock.mono_ns()


def test_trip_opens_a_closed_breaker_at_once() -> None:
    clock, breaker = make(failures=5)
    breaker.record_failure("timeout")
    clock.advance(SECOND)
    assert breaker.trip("broker rate limit")
    assert breaker.state is BreakerState.OPEN
    assert (breaker.reason, breaker.opened_at_ns) == ("broker rate limit", clock.mono_ns())
    assert not breaker.allow_new()


def test_trip_while_open_restarts_the_cooldown() -> None:
    clock, breaker = opened("timeout")
    clock.advance(COOLDOWN_NS - 1)
    assert not breaker.trip("session down")
    assert breaker.state is BreakerState.OPEN
    assert (breaker.reason, breaker.opened_at_ns) == ("session down", clock.mono_ns())
    clock.advance(1)
    assert breaker.state is BreakerState.OPEN
    assert breaker.opened_at_ns == clock.mono_ns() - 1


def test_trip_while_half_open_with_a_probe_in_flight() -> None:
    clock, breaker = half_open()
    assert breaker.allow_new()  # the probe is out
    assert breaker.trip("session down")  # half open is not open
    assert breaker.state is BreakerState.OPEN
    assert breaker.reason == "session down"
    assert breaker.opened_at_ns == clock.mono_ns()
    assert not breaker.record_success()  # the probe's late answer no longer counts
    assert breaker.state is BreakerState.OPEN
    clock.advance(COOLDOWN_NS)
    assert breaker.allow_new()  # a fresh probe after the fresh cooldown
    assert not breaker.allow_new()


def test_it_can_go_round_again_after_closing() -> None:
    clock, breaker = half_open()
    breaker.allow_new()
    breaker.record_success()
    for _ in range(2):
        assert not breaker.record_failure("timeout")
    assert breaker.record_failure("reject")
    assert breaker.state is BreakerState.OPEN
    assert breaker.opened_at_ns == clock.mono_ns()


def test_a_probe_that_never_reached_the_broker_is_given_back() -> None:
    _, breaker = half_open()
    assert breaker.allow_new()
    assert not breaker.allow_new()
    breaker.release_probe()
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow_new(), "the next new order probes instead"


def test_release_probe_does_nothing_unless_half_open() -> None:
    clock, breaker = opened()
    breaker.release_probe()
    assert breaker.state is BreakerState.OPEN
    clock.advance(COOLDOWN_NS)
    assert breaker.allow_new()
    assert breaker.record_success()
    breaker.release_probe()
    assert breaker.state is BreakerState.CLOSED
