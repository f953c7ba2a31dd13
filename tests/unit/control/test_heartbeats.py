"""HeartbeatTracker on a fake clock: a heartbeat from a new pid under a known instance is a restart,
counted per instance, with whether the process before said goodbye."""

from __future__ import annotations

from contracts.enums import ServiceName
from contracts.messages import Heartbeat
from services.control.heartbeats import HeartbeatTracker, ServiceRestart
from services.runtime.clock import FakeClock

SILENT_NS = 3_000_000_000


def beat(pid: int, seq: int, *, service: ServiceName = ServiceName.ADAPTER, final: bool = False,
         instance: str = "") -> Heartbeat:
    return Heartbeat(service=service, pid=pid, seq=seq, ts_ns=0, final=final, instance=instance)


def test_heartbeats_from_the_same_process_are_no_restart() -> None:
    tracker = HeartbeatTracker(FakeClock(), SILENT_NS)
    assert [tracker.on_heartbeat(beat(10, seq)) for seq in (1, 2, 3)] == [None, None, None]
    assert tracker.status()["adapter"]["restarts"] == 0
    assert tracker.status()["adapter"]["last_restart"] is None


def test_a_new_pid_without_a_final_heartbeat_before_is_a_crash_restart_counted_in_status() -> None:
    clock = FakeClock()
    tracker = HeartbeatTracker(clock, SILENT_NS)
    tracker.on_heartbeat(beat(10, 1))
    restart = tracker.on_heartbeat(beat(11, 1))
    assert restart == ServiceRestart("adapter", 10, 11, said_goodbye=False, restarts=1, wall_ns=clock.wall_ns())
    assert tracker.on_heartbeat(beat(11, 2)) is None, "counted once, not once per heartbeat"
    entry = tracker.status()["adapter"]
    assert (entry["pid"], entry["restarts"]) == (11, 1)
    assert entry["last_restart"] == {"old_pid": 10, "said_goodbye": False, "ts_ns": clock.wall_ns()}


def test_a_replacement_after_a_final_heartbeat_is_counted_as_having_said_goodbye() -> None:
    tracker = HeartbeatTracker(FakeClock(), SILENT_NS)
    tracker.on_heartbeat(beat(10, 1))
    tracker.on_heartbeat(beat(10, 2, final=True))
    restart = tracker.on_heartbeat(beat(12, 1))
    assert restart is not None and restart.said_goodbye and restart.restarts == 1


def test_restarts_add_up_per_instance_and_instances_are_apart() -> None:
    tracker = HeartbeatTracker(FakeClock(), SILENT_NS)
    for pid in (20, 21, 22):
        tracker.on_heartbeat(beat(pid, 1, service=ServiceName.STRATEGY, instance="strategy"))
    tracker.on_heartbeat(beat(30, 1, service=ServiceName.STRATEGY, instance="strategy-2"))
    status = tracker.status()
    assert (status["strategy"]["restarts"], status["strategy-2"]["restarts"]) == (2, 0)
