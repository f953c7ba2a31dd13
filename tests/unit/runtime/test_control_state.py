"""ControlStateFollower: the clone pattern. A late joiner asks for a snapshot; a gap asks again; the same
seq twice is a re-broadcast; a new epoch is taken whatever its seq."""

from __future__ import annotations

import logging

import structlog
from structlog.testing import LogCapture

from contracts.enums import StormGuardLevel
from contracts.messages import ControlCommand, StormGuardState
from services.runtime.clock import FakeClock, ManualScheduler
from services.runtime.control_state import ControlStateFollower
from services.runtime.metrics import ServiceMetrics

RETRY_NS = 1_000_000_000


def state(seq: int, *, epoch: int = 1, level: StormGuardLevel = StormGuardLevel.NORMAL,
          hold: bool = False) -> StormGuardState:
    return StormGuardState(seq=seq, epoch=epoch, global_level=level, hold_fire=hold, ts_ns=seq)


class Harness:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.scheduler = ManualScheduler(self.clock)
        self.applied: list[tuple[int, str]] = []
        self.requests = 0
        self.send_ok = True
        self.capture = LogCapture()
        log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[self.capture],
                                    wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        self.metrics = ServiceMetrics("risk")
        self.follower = ControlStateFollower(lambda s, source: self.applied.append((s.seq, source)), self._request,
                                             self.clock, self.scheduler, log, self.metrics, retry_after_ns=RETRY_NS)

    def _request(self) -> bool:
        self.requests += 1
        return self.send_ok

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels or None)
        return 0.0 if value is None else value


def test_a_late_joiner_gets_the_state_from_the_snapshot_before_any_broadcast() -> None:
    h = Harness()
    h.follower.start()
    assert h.requests == 1 and not h.follower.synced
    h.follower.on_snapshot(state(41, hold=True))
    assert h.applied == [(41, "snapshot")] and h.follower.synced
    assert h.follower.state is not None and h.follower.state.hold_fire
    h.follower.on_broadcast(state(41, hold=True))
    assert h.applied == [(41, "snapshot")], "the re-broadcast of the same version changes nothing"
    h.follower.on_broadcast(state(42))
    assert h.applied[-1] == (42, "broadcast")
    assert h.sample("control_state_seq") == 42


def test_an_update_older_than_the_snapshot_is_dropped() -> None:
    h = Harness()
    h.follower.start()
    h.follower.on_snapshot(state(10))
    h.follower.on_broadcast(state(9))
    assert h.applied == [(10, "snapshot")]


def test_an_answer_overtaken_by_a_broadcast_is_dropped() -> None:
    h = Harness()
    h.follower.start()
    h.follower.on_broadcast(state(5))
    h.follower.on_snapshot(state(4))
    assert h.applied == [(5, "broadcast")]


def test_the_snapshot_is_asked_again_until_control_answers() -> None:
    h = Harness()
    h.send_ok = False
    h.follower.start()
    h.scheduler.advance(RETRY_NS)
    h.scheduler.advance(RETRY_NS)
    assert h.requests == 3
    h.send_ok = True
    h.follower.on_snapshot(state(3))
    h.scheduler.advance(5 * RETRY_NS)
    assert h.requests == 3, "answered: no more asking"


def test_a_dropped_update_is_counted_applied_from_the_next_and_confirmed_by_a_snapshot() -> None:
    h = Harness()
    h.follower.start()
    h.follower.on_snapshot(state(1))
    h.follower.on_broadcast(state(2))
    # seq 3 (a HALT) never arrives; seq 4 does, and is the whole state.
    h.follower.on_broadcast(state(4, level=StormGuardLevel.HALT))
    assert h.applied[-1] == (4, "broadcast"), "tightening never waits for the round trip"
    assert h.sample("control_state_gaps_total") == 1
    assert h.requests == 2 and h.follower.wants_snapshot
    gap_logs = [e for e in h.capture.entries if e["event"] == "control_state_gap"]
    assert (gap_logs[0]["held_seq"], gap_logs[0]["got_seq"]) == (2, 4)
    h.follower.on_snapshot(state(5, level=StormGuardLevel.HALT, hold=True))
    assert h.applied[-1] == (5, "snapshot") and not h.follower.wants_snapshot


def test_a_skipped_command_asks_for_the_state_again() -> None:
    h = Harness()
    h.follower.start()
    h.follower.on_snapshot(state(1))
    h.follower.on_command(ControlCommand(seq=1, verb="stormguard_release", target="global", ts_ns=0))
    h.follower.on_command(ControlCommand(seq=2, verb="stormguard_release", target="global", ts_ns=0))
    assert h.requests == 1
    h.follower.on_command(ControlCommand(seq=4, verb="stormguard_release", target="global", ts_ns=0))
    assert h.requests == 2 and h.sample("control_state_gaps_total") == 1


def test_a_new_epoch_is_taken_whatever_its_seq() -> None:
    h = Harness()
    h.follower.start()
    h.follower.on_snapshot(state(90, epoch=1))
    h.follower.on_broadcast(state(2, epoch=2, hold=True))
    assert h.applied[-1] == (2, "broadcast")
    assert h.follower.state is not None and h.follower.state.epoch == 2
    assert any(e["event"] == "control_state_new_epoch" for e in h.capture.entries)
