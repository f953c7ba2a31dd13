"""HeartbeatTracker: the last word of every service, how old it is, and whether it still counts as alive.

Keyed by instance name (services/runtime/instance.py): two strategy runners are two entries, `strategy`
and `strategy-2`, each saying which service it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.messages import Heartbeat
from services.runtime.clock import Clock


@dataclass(slots=True)
class ServiceSeen:
    heartbeat: Heartbeat
    received_mono_ns: int


class HeartbeatTracker:
    def __init__(self, clock: Clock, silent_after_ns: int) -> None:
        self.clock = clock
        self.silent_after_ns = silent_after_ns
        self.services: dict[str, ServiceSeen] = {}

    def on_heartbeat(self, heartbeat: Heartbeat) -> None:
        self.services[heartbeat.instance or heartbeat.service] = ServiceSeen(heartbeat, self.clock.mono_ns())

    def status(self) -> dict[str, Any]:
        """Per instance: its service, pid, liveness, heartbeat age and every metric sample it last sent."""
        now = self.clock.mono_ns()
        out: dict[str, Any] = {}
        for name, seen in sorted(self.services.items()):
            beat = seen.heartbeat
            age_ns = now - seen.received_mono_ns
            if beat.final:
                state = "stopped"
            elif age_ns > self.silent_after_ns:
                state = "silent"
            else:
                state = "alive"
            out[name] = {
                "service": str(beat.service),
                "pid": beat.pid,
                "state": state,
                "heartbeat_age_s": round(age_ns / 1e9, 3),
                "heartbeat_seq": beat.seq,
                "metrics": [[s.name, s.labels, s.value] for s in beat.metrics],
            }
        return out
