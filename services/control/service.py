"""The control service: StormGuard authority, heartbeats, and the ops socket operators talk to.

Sockets: the control PUB (the state on every change and every state_broadcast_interval_ms, commands,
alerts), the ops ROUTER (heartbeats, requests from operators and services, answers to dumps), and a SUB
on risk (proposals, and the periodic snapshot whose levels resync what a dropped proposal left behind).
Timers: the state re-broadcast, the alert rules on the heartbeats' view, the config files' poll.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zmq

from contracts.codec import encode
from contracts.enums import ControlVerb, ServiceName
from contracts.messages import (
    ControlReply,
    ControlRequest,
    Heartbeat,
    OrdersDump,
    RiskDump,
    RiskSnapshot,
    StormGuardProposal,
)
from services.control.alerting import AlertCenter
from services.control.audit import AuditLog
from services.control.authority import RecordedTransition, StormGuardAuthority
from services.control.config_watch import ConfigWatcher, Outcome
from services.control.desk import ControlDesk
from services.control.dumps import DUMPS, DumpRelay
from services.control.heartbeats import HeartbeatTracker
from services.control.metrics import ControlMetrics
from services.control.reload import ConfigReloader
from services.control.replies import undecodable_request_reply
from services.control.state_file import StateFileError, load_state, save_state
from services.control.strategies import strategies_status
from services.runtime.config.loader import ConfigError
from services.runtime.config.stack import StackConfig
from services.runtime.config.strategy_limits import StrategyEntry, StrategyLimitsConfig
from services.runtime.curve import ensure_keys
from services.runtime.hot_config import STRATEGY_LIMITS, ConfigVersions, config_files
from services.runtime.inbox import Inbox
from services.runtime.service import ServiceRuntime
from services.runtime.sockets import PeerKeySocket, Publisher
from services.runtime.stream_guard import HeadsHandler

OPS_OPEN_WARNING = ("curve.ops is off: any local process can send operator commands (hold, cancel-all, "
                    "stormguard force); remove `ops: false` from stack.yaml's curve: section")
REPLY_TOPIC = b"reply"
DUMP_CHECK_NS = 100_000_000
NO_KEY = "none"
"""The key name recorded for a request on an ops socket without CURVE: nobody was authenticated."""


def under_var(stack: StackConfig, path: Path) -> Path:
    return path if path.is_absolute() else stack.var_dir / path


def security_status(stack: StackConfig) -> dict[str, Any]:
    """What `ctl status` says of the operator plane: an open one is shown as the warning it is."""
    status: dict[str, Any] = {"ops_curve": stack.curve.ops, "data_curve": stack.curve.data}
    if not stack.curve.ops:
        status["warning"] = OPS_OPEN_WARNING
    return status


def read_strategy_limits(watcher: ConfigWatcher, first_read: list[Outcome]) -> StrategyLimitsConfig:
    """strategy_limits.yaml as the first poll read it; ConfigError if it could not be taken."""
    current = watcher.current(STRATEGY_LIMITS)
    if current is None:  # control cannot run without its strategies: refuse to start, as before
        raise ConfigError(next(o.error for o in first_read if o.file == STRATEGY_LIMITS) or "no strategy limits")
    limits = current.model
    assert isinstance(limits, StrategyLimitsConfig)
    return limits


class ControlService:
    """Control's wiring: the StormGuard authority and what moves it (risk's proposals and snapshots, operators'
    requests), the heartbeat tracker and its alerts, the config reloader, and the control PUB every change
    leaves on. Built (sockets bound, handlers registered) by `__init__`, run by `run`."""

    def __init__(self, rt: ServiceRuntime, stack: StackConfig) -> None:
        """Raises ConfigError if strategy_limits.yaml cannot be read."""
        self.rt = rt
        self.stack = stack
        if not stack.curve.ops:
            rt.log.warning("ops_unauthenticated", reason=OPS_OPEN_WARNING)
        self.watcher = ConfigWatcher(config_files(stack), rt.clock, stack.control.config_poll_ms * 1_000_000)
        first_read = self.watcher.poll(force=True)
        limits = read_strategy_limits(self.watcher, first_read)
        self.entries: list[StrategyEntry] = list(limits.strategies)
        """strategy_limits.yaml's strategies as last taken (first read or reload)."""
        self.authority = StormGuardAuthority(rt.clock, [entry.id for entry in self.entries])
        self.state_path: Path = under_var(stack, stack.control.state_file)
        self._restore_state()
        self.tracker = HeartbeatTracker(rt.clock, stack.service_silent_after_ms * 1_000_000)
        self.audit = AuditLog(under_var(stack, stack.control.audit_file), rt.clock)
        self.control_out = Publisher(rt.sockets.publisher(stack.endpoints.control))
        self.metrics = ControlMetrics(rt.metrics.registry)
        self.alerts = AlertCenter(rt.clock, stack.control.alerts, limits.stormguard, rt.log, self.metrics,
                                  self.control_out.send)
        self.desk = ControlDesk(rt.clock, rt.log, self.authority, self.tracker, [entry.id for entry in self.entries],
                                self.audit, state_changed=self.state_changed, send_command=self.control_out.send,
                                on_transition=self.on_transition,
                                service_key=stack.curve.service_key if stack.curve.ops else None)
        self.reloader = ConfigReloader(self.watcher, self.authority, self.alerts.rules,
                                       ConfigVersions(rt.metrics.registry), rt.log,
                                       apply={STRATEGY_LIMITS: self.apply_limits}, state_changed=self.state_changed)
        self.reloader.start(first_read)
        self.ops: PeerKeySocket = rt.sockets.ops_router(stack.endpoints.ops)
        # At once: a monitor hears only of handshakes after it is attached.
        rt.watch_handshakes(self.ops, "ops")
        self.inbox: Inbox[Heartbeat | ControlRequest | OrdersDump | RiskDump] = rt.inbox(
            "ops", Heartbeat, ControlRequest, OrdersDump, RiskDump)
        self.dumps = DumpRelay(rt.clock, self.tracker, self.control_out.send, self.relay,
                               stack.control.dump_timeout_ms * 1_000_000)
        self._register()

    def _register(self) -> None:
        """Every verb, reader and timer control has."""
        rt, stack, desk = self.rt, self.stack, self.desk
        rt.advertise("control", self.control_out.heads)
        desk.add_verb(ControlVerb.ALERTS, self.alerts.answer)
        desk.add_verb(ControlVerb.CONFIG_GET, self.reloader.config_get)
        desk.add_verb(ControlVerb.CONFIG_RELOAD, self.reloader.config_reload)
        for verb in DUMPS:
            desk.add_deferred_verb(verb, self.dumps.ask)
        desk.status_parts["config"] = self.reloader.status
        desk.status_parts["security"] = lambda _services: security_status(stack)
        desk.status_parts["strategies"] = lambda services: strategies_status(self.entries, services)
        rt.loop.add_reader(self.ops, self.on_ops)
        rt.read(rt.sockets.subscriber(stack.endpoints.risk, [b"sg_proposal", b"risk_snapshot"]), "risk",
                (StormGuardProposal, RiskSnapshot), self.on_risk)
        rt.streams.ask = self.ask_own_tracker
        rt.loop.every(stack.state_broadcast_interval_ms * 1_000_000, self.broadcast_state)
        rt.loop.every(stack.heartbeat_interval_ms * 1_000_000, self.check_services)
        rt.loop.every(stack.control.config_poll_ms * 1_000_000, self.reloader.poll)
        rt.loop.every(DUMP_CHECK_NS, self.dumps.expire)
        rt.loop.call_later(0, self.state_changed)

    def run(self) -> int:
        """Run until SIGINT/SIGTERM; returns the process exit code."""
        try:
            return self.rt.run()
        finally:
            self.alerts.sinks.close()
            self.audit.close()

    def _restore_state(self) -> None:
        """The authority as the state file left it; an unreadable file is logged and control starts fresh."""
        try:
            saved = load_state(self.state_path)
        except StateFileError as exc:
            self.rt.log.error("control_state_unreadable", error=str(exc), reason="starting from a fresh state")
            return
        if saved is None:
            return
        authority = self.authority
        authority.restore(saved)
        self.rt.log.warning("control_state_restored", path=str(self.state_path), seq=authority.seq,
                            forced=authority.forced, hold_fire=authority.hold_fire, cancel_all=authority.cancel_all,
                            strategy_enabled=authority.strategy_enabled)

    def _save_state(self) -> None:
        try:
            save_state(self.state_path, self.authority.saved())
        except OSError as exc:
            self.rt.log.error("control_state_not_saved", path=str(self.state_path), error=str(exc))

    def broadcast_state(self) -> None:
        self.control_out.send(self.authority.current())

    def state_changed(self) -> None:
        """Every change: saved first (a crash right after must not forget it), then broadcast at once."""
        self._save_state()
        self.broadcast_state()

    def check_services(self) -> None:
        self.alerts.rules.on_services(self.tracker.status())

    def on_transition(self, transition: RecordedTransition) -> None:
        self.alerts.rules.on_level(transition.scope, transition.to_level, transition.reason)

    def on_transitions(self, transitions: list[RecordedTransition]) -> None:
        for transition in transitions:
            self.rt.log.info("stormguard_transition", scope=transition.scope, from_level=transition.from_level,
                             stormguard_state=transition.to_level, reason=transition.reason)
            self.on_transition(transition)
        self.state_changed()

    def apply_limits(self, limits: StrategyLimitsConfig) -> None:
        """A reloaded strategy_limits.yaml in control: new strategies get a scope and can be switched, the
        usage alerts follow StormGuard's thresholds."""
        self.entries = list(limits.strategies)
        self.desk.strategy_ids = [entry.id for entry in self.entries]
        self.authority.add_scopes(self.desk.strategy_ids)
        self.alerts.rules.set_stormguard(limits.stormguard)

    def on_risk(self, message: StormGuardProposal | RiskSnapshot) -> None:
        authority = self.authority
        if isinstance(message, StormGuardProposal):
            seq = authority.seq
            transition = authority.apply_proposal(message)
            if authority.seq != seq:
                self.on_transitions([transition] if transition is not None else [])
        else:
            self.on_trading_day(message.trading_day)
            if message.levels:
                seq = authority.seq
                transitions = authority.resync(message.levels)
                if authority.seq != seq:
                    self.on_transitions(transitions)

    def on_trading_day(self, day: str) -> None:
        """Risk's trading day from its snapshot: a later one is logged, alerted (after a known day) and saved."""
        previous = self.authority.trading_day
        if not self.authority.set_trading_day(day):
            return
        self.rt.log.warning("trading_day_started", trading_day=day, previous_day=previous or None)
        if previous:
            self.alerts.rules.on_trading_day(day, previous)
        self._save_state()

    def reply_to(self, identity: bytes, reply: ControlReply, verb: str) -> None:
        """Send an answer; one that cannot be delivered is logged (the client's retry gets it again)."""
        try:
            self.ops.send_multipart((identity, REPLY_TOPIC, encode(reply)), zmq.NOBLOCK)
        except zmq.Again:
            self.rt.log.warning("ops_reply_dropped", verb=verb, request_id=reply.request_id,
                                reason="client_queue_full")
        except zmq.ZMQError as exc:  # EHOSTUNREACH (ROUTER_MANDATORY): the connection it came on is gone
            self.rt.log.warning("ops_reply_dropped", verb=verb, request_id=reply.request_id, reason="client_gone",
                                error=exc.strerror)

    def relay(self, identity: bytes, request: ControlRequest, key: str, reply: ControlReply) -> None:
        """A deferred answer (a dump): accounted for by the desk, then sent."""
        self.desk.account(request, key, reply)
        self.reply_to(identity, reply, request.verb)

    def on_ops(self, frames: list[bytes]) -> None:
        identity, rest = frames[0], frames[1:]
        message = self.inbox.decode(rest)
        if message is None:
            # Counted and logged by the inbox; a request that names its id is also answered, with the field.
            refusal = undecodable_request_reply(rest[-1]) if len(rest) == 2 else None
            if refusal is not None:
                self.rt.log.warning("ops_request_refused", request_id=refusal.request_id, reason="bad_message",
                                    error=refusal.error)
                self.reply_to(identity, refusal, "undecoded")
        elif isinstance(message, Heartbeat):
            restart = self.tracker.on_heartbeat(message)
            if restart is not None:
                self.rt.log.warning("service_restarted", instance=restart.instance, old_pid=restart.old_pid,
                                    pid=restart.pid, said_goodbye=restart.said_goodbye, restarts=restart.restarts)
                self.alerts.rules.on_restart(restart)
            self.alerts.rules.on_heartbeat(message)
        elif isinstance(message, ControlRequest):
            # With curve.ops the ZAP handler let only allow-listed keys connect, and named the key.
            reply = self.desk.handle(message, self.ops.peer_key or NO_KEY, identity)
            if reply is not None:
                self.reply_to(identity, reply, message.verb)
        elif isinstance(message, OrdersDump | RiskDump) and not self.dumps.on_dump(message):
            self.rt.log.info("dump_unclaimed", request_id=message.request_id, reason="answered too late")

    def ask_own_tracker(self, streams: list[str], on_heads: HeadsHandler) -> bool:
        """Control's own SUB is checked against the heads its tracker holds, answered at once."""
        on_heads(self.tracker.heads(streams))
        return True


def main(stack: StackConfig) -> int:
    created = ensure_keys(stack.curve)  # control is the first to start (compose fills the keys volume here)
    rt = ServiceRuntime(ServiceName.CONTROL, stack)
    if created:
        rt.log.warning("curve_keys_created", keys_dir=str(stack.curve.keys_dir), files=len(created))
    return ControlService(rt, stack).run()
