"""RestartPolicy on a fake clock: backoff doubling to its cap, the ceiling inside the window, and a
service that stayed up long enough starting from the first step again."""

from __future__ import annotations

from services.runtime.clock import FakeClock
from services.runtime.config.supervision import SupervisionConfig
from services.supervisor import GiveUp, RestartDue, RestartPolicy

MS = 1_000_000
S = 1_000_000_000


def policy(clock: FakeClock, **overrides: int) -> RestartPolicy:
    config = {"backoff_initial_ms": 500, "backoff_max_ms": 4_000, "max_restarts": 5, "window_s": 60, **overrides}
    return RestartPolicy(clock, SupervisionConfig(**config))


def test_the_backoff_doubles_from_the_first_step_to_its_cap() -> None:
    clock = FakeClock()
    restarts = policy(clock)
    delays = []
    for _ in range(5):
        decision = restarts.exited("adapter")
        assert isinstance(decision, RestartDue)
        assert decision.due_mono_ns == clock.mono_ns() + decision.delay_ns
        delays.append(decision.delay_ns // MS)
        clock.advance(decision.delay_ns)
    assert delays == [500, 1_000, 2_000, 4_000, 4_000]


def test_one_restart_past_the_ceiling_inside_the_window_gives_up_naming_the_service() -> None:
    clock = FakeClock()
    restarts = policy(clock, max_restarts=3)
    attempts = []
    for _ in range(3):
        decision = restarts.exited("risk")
        assert isinstance(decision, RestartDue)
        attempts.append(decision.attempt)
        clock.advance(5 * S)
    assert attempts == [1, 2, 3]
    assert restarts.exited("risk") == GiveUp("risk", 3, 60 * S)
    assert restarts.totals == {"risk": 3}


def test_restarts_older_than_the_window_no_longer_count() -> None:
    clock = FakeClock()
    restarts = policy(clock, max_restarts=2, window_s=10)
    assert isinstance(restarts.exited("feed"), RestartDue)
    clock.advance(6 * S)
    assert isinstance(restarts.exited("feed"), RestartDue)
    clock.advance(5 * S)  # the first restart is 11 s old: out of the window
    decision = restarts.exited("feed")
    assert isinstance(decision, RestartDue) and decision.attempt == 2 and decision.delay_ns == 1_000 * MS
    assert restarts.totals == {"feed": 3}


def test_a_service_up_for_longer_than_the_window_starts_again_from_the_first_step() -> None:
    clock = FakeClock()
    restarts = policy(clock)
    for _ in range(3):
        assert isinstance(restarts.exited("strategy"), RestartDue)
    clock.advance(61 * S)
    decision = restarts.exited("strategy")
    assert isinstance(decision, RestartDue) and (decision.attempt, decision.delay_ns) == (1, 500 * MS)


def test_services_are_counted_apart() -> None:
    clock = FakeClock()
    restarts = policy(clock, max_restarts=1)
    assert isinstance(restarts.exited("adapter"), RestartDue)
    assert isinstance(restarts.exited("risk"), RestartDue)
    assert isinstance(restarts.exited("adapter"), GiveUp)


def test_no_restarts_allowed_gives_up_at_the_first_exit() -> None:
    assert policy(FakeClock(), max_restarts=0).exited("control") == GiveUp("control", 0, 60 * S)
