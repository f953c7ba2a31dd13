"""ControlStateFollower: a service's copy of control's authoritative state, kept current by the clone pattern.

Control publishes its whole state (StormGuardState) on every change, under a `seq` that goes up by one
per change, and repeats it every state_broadcast_interval_ms. A service:

- on start asks control for a snapshot over the ops socket, and asks again every `retry_after_ns`
  until one arrives (or a broadcast brings the state first): a late joiner does not wait for the
  next broadcast, and does not miss a state that will not change for hours;
- applies a state whose seq is above the one it holds (from the broadcast or a snapshot alike); the
  same seq again is the re-broadcast and changes nothing; a lower one is old news (a snapshot answer
  overtaken by a broadcast) and is dropped;
- on a gap (a seq more than one above, or a command whose per-topic number skips) counts it, applies
  what it got if that is newer (every message is the whole state: tightening never waits on a hop),
  and asks for a snapshot, which is applied if newer still;
- takes a state of another `epoch` whatever its seq: control's numbering started again (its state
  file was lost), and control is the authority.

An engine: it takes the function that sends the snapshot request, a Clock and a Scheduler, and never
touches a socket (services/runtime/control_link.py wires it).
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from prometheus_client import Counter, Gauge

from contracts.messages import ControlCommand, StormGuardState
from services.runtime.clock import Clock, Scheduler
from services.runtime.metrics import ServiceMetrics

DEFAULT_RETRY_AFTER_NS = 1_000_000_000

StateHandler = Callable[[StormGuardState, str], None]
"""Called with a state newer than the one held, and where it came from: "snapshot" or "broadcast"."""


class FollowerMetrics:
    def __init__(self, metrics: ServiceMetrics) -> None:
        registry = metrics.registry
        self.seq = Gauge("control_state_seq", "Seq of control's state this service applied (0: none yet)",
                         registry=registry)
        self.gaps = Counter("control_state_gaps", "Updates from control found missing (a seq skipped)",
                            registry=registry)
        self.snapshots = Counter("control_snapshots_requested", "Snapshots of control's state asked for",
                                 registry=registry)
        self.applied = Counter("control_state_applied", "States of control applied", ["source"], registry=registry)


class ControlStateFollower:
    def __init__(self, apply: StateHandler, request_snapshot: Callable[[], bool], clock: Clock, scheduler: Scheduler,
                 log: structlog.stdlib.BoundLogger, metrics: ServiceMetrics, *,
                 retry_after_ns: int = DEFAULT_RETRY_AFTER_NS) -> None:
        """`request_snapshot` returns False if the request could not be sent (it is retried on the timer)."""
        self._apply = apply
        self._request = request_snapshot
        self._clock = clock
        self._scheduler = scheduler
        self._log = log
        self.metrics = FollowerMetrics(metrics)
        self.retry_after_ns = retry_after_ns
        self.state: StormGuardState | None = None
        self.wants_snapshot = False
        self._retry_armed = False
        self._command_seq: int | None = None

    @property
    def synced(self) -> bool:
        return self.state is not None

    def start(self) -> None:
        self._ask("start")

    def on_broadcast(self, state: StormGuardState) -> None:
        held = self.state
        if held is not None and state.epoch == held.epoch and state.seq > held.seq + 1:
            self.metrics.gaps.inc()
            self._log.warning("control_state_gap", held_seq=held.seq, got_seq=state.seq, reason="missed_messages")
            self._take(state, "broadcast")
            self._ask("gap")
            return
        # Every broadcast is the whole state: one in sequence is as good as the snapshot being waited for.
        self.wants_snapshot = False
        self._take(state, "broadcast")

    def on_snapshot(self, state: StormGuardState) -> None:
        self.wants_snapshot = False
        self._take(state, "snapshot")

    def on_command(self, command: ControlCommand) -> None:
        """Commands are numbered per topic by control's publisher: a skipped one may have changed what the
        state says (it is applied from the state), so the state is asked for again."""
        last = self._command_seq
        self._command_seq = command.seq
        if last is not None and command.seq > last + 1:
            self.metrics.gaps.inc()
            self._log.warning("control_command_gap", expected=last + 1, got=command.seq, reason="missed_messages")
            self._ask("command_gap")

    def _take(self, state: StormGuardState, source: str) -> None:
        held = self.state
        if held is not None and state.epoch == held.epoch and state.seq <= held.seq:
            return
        if held is not None and state.epoch != held.epoch:
            self._log.warning("control_state_new_epoch", held_epoch=held.epoch, held_seq=held.seq,
                              epoch=state.epoch, seq=state.seq, source=source)
        self.state = state
        self.metrics.seq.set(state.seq)
        self.metrics.applied.labels(source).inc()
        self._log.info("control_state_applied", seq=state.seq, source=source, global_level=state.global_level,
                       hold_fire=state.hold_fire, cancel_all=state.cancel_all)
        self._apply(state, source)

    def _ask(self, why: str) -> None:
        self.wants_snapshot = True
        self.metrics.snapshots.inc()
        sent = self._request()
        # While control is away this repeats every retry interval: only the first ask is worth an info line.
        log = self._log.debug if why == "no_answer" else self._log.info
        log("control_snapshot_requested", reason=why, sent=sent)
        if not self._retry_armed:
            self._retry_armed = True
            self._scheduler.call_later(self.retry_after_ns, self._retry)

    def _retry(self) -> None:
        self._retry_armed = False
        if self.wants_snapshot:
            self._ask("no_answer")
