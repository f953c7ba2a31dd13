"""HeartbeatTracker: the last word of every service, how old it is, and whether it still counts as alive.

Keyed by instance name (services/runtime/instance.py): two strategy runners are two entries, `strategy`
and `strategy-2`, each saying which service it is.

A heartbeat from a new pid under a known instance name is a restart, whoever made it (`orderpath up`'s
supervision, compose's restart policy, an operator's `orderpath run`): counted per instance since control
started, and handed back to the caller to log and alert on. Whether the process before said goodbye (a
final heartbeat) tells a planned replacement from a crash or a kill -9."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.messages import Heartbeat
from services.runtime.clock import Clock
from services.runtime.stream_watch import Heads


@dataclass(frozen=True, slots=True)
class ServiceRestart:
    """An instance heard from a new process: the `restarts`-th since control started."""

    instance: str
    old_pid: int
    pid: int
    said_goodbye: bool
    """The process before sent its final heartbeat: stopped on purpose, not crashed or killed."""
    restarts: int
    wall_ns: int


@dataclass(slots=True)
class ServiceSeen:
    heartbeat: Heartbeat
    received_mono_ns: int
    restarts: int = 0
    last_restart: ServiceRestart | None = None


class HeartbeatTracker:
    def __init__(self, clock: Clock, silent_after_ns: int) -> None:
        self.clock = clock
        self.silent_after_ns = silent_after_ns
        self.services: dict[str, ServiceSeen] = {}

    def on_heartbeat(self, heartbeat: Heartbeat) -> ServiceRestart | None:
        """Record the heartbeat; the restart it reveals, if it comes from a new process of a known instance."""
        name = heartbeat.instance or heartbeat.service
        before = self.services.get(name)
        seen = ServiceSeen(heartbeat, self.clock.mono_ns())
        self.services[name] = seen
        if before is None:
            return None
        seen.restarts, seen.last_restart = before.restarts, before.last_restart
        if before.heartbeat.pid == heartbeat.pid:
            return None
        seen.restarts += 1
        seen.last_restart = ServiceRestart(name, before.heartbeat.pid, heartbeat.pid, before.heartbeat.final,
                                           seen.restarts, self.clock.wall_ns())
        return seen.last_restart

    def heads(self, streams: list[str]) -> dict[str, Heads]:
        """Per stream asked for, where its live publisher (alive, not stopped; the latest heard if two are)
        said it was in its last heartbeat: what subscribers compare their sockets with (`stream_heads`)."""
        now = self.clock.mono_ns()
        found: dict[str, tuple[int, Heads]] = {}
        for seen in self.services.values():
            beat = seen.heartbeat
            if beat.final or now - seen.received_mono_ns > self.silent_after_ns:
                continue
            for published in beat.published:
                if published.stream in streams and seen.received_mono_ns >= found.get(published.stream, (-1,))[0]:
                    found[published.stream] = (seen.received_mono_ns, Heads(epoch=beat.started_ns, beat=beat.seq,
                                                                            topics=published.topics))
        return {stream: heads for stream, (_, heads) in found.items()}

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
                "restarts": seen.restarts,
                "last_restart": None if seen.last_restart is None else {
                    "old_pid": seen.last_restart.old_pid, "said_goodbye": seen.last_restart.said_goodbye,
                    "ts_ns": seen.last_restart.wall_ns,
                },
                "metrics": [[s.name, s.labels, s.value] for s in beat.metrics],
                "streams": {f.stream: {"received_seq": f.received_seq, "published_seq": f.published_seq,
                                       "age_s": f.age_ms / 1000, "reconnects": f.reconnects, "dead": f.dead}
                            for f in beat.subscribed},
            }
        return out
