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
from services.control.config_watch import ConfigWatcher
from services.control.desk import ControlDesk
from services.control.dumps import DUMPS, DumpRelay
from services.control.heartbeats import HeartbeatTracker
from services.control.reload import ConfigReloader
from services.control.replies import undecodable_request_reply
from services.control.state_file import StateFileError, load_state, save_state
from services.control.strategies import strategies_status
from services.runtime.config.loader import ConfigError
from services.runtime.config.stack import StackConfig
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.runtime.curve import ensure_keys
from services.runtime.hot_config import STRATEGY_LIMITS, ConfigVersions, config_files
from services.runtime.service import ServiceRuntime
from services.runtime.sockets import Publisher
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


def main(stack: StackConfig) -> int:
    created = ensure_keys(stack.curve)  # control is the first to start (compose fills the keys volume here)
    rt = ServiceRuntime(ServiceName.CONTROL, stack)
    if created:
        rt.log.warning("curve_keys_created", keys_dir=str(stack.curve.keys_dir), files=len(created))
    if not stack.curve.ops:
        rt.log.warning("ops_unauthenticated", reason=OPS_OPEN_WARNING)
    watcher = ConfigWatcher(config_files(stack), rt.clock, stack.control.config_poll_ms * 1_000_000)
    first_read = watcher.poll(force=True)
    limits_read = watcher.current(STRATEGY_LIMITS)
    if limits_read is None:  # control cannot run without its strategies: refuse to start, as before
        raise ConfigError(next(o.error for o in first_read if o.file == STRATEGY_LIMITS) or "no strategy limits")
    limits = limits_read.model
    assert isinstance(limits, StrategyLimitsConfig)
    strategy_ids = [entry.id for entry in limits.strategies]
    entries = list(limits.strategies)
    authority = StormGuardAuthority(rt.clock, strategy_ids)
    state_path = under_var(stack, stack.control.state_file)
    try:
        saved = load_state(state_path)
    except StateFileError as exc:
        rt.log.error("control_state_unreadable", error=str(exc), reason="starting from a fresh state")
        saved = None
    if saved is not None:
        authority.restore(saved)
        rt.log.warning("control_state_restored", path=str(state_path), seq=authority.seq, forced=authority.forced,
                       hold_fire=authority.hold_fire, cancel_all=authority.cancel_all,
                       strategy_enabled=authority.strategy_enabled)
    tracker = HeartbeatTracker(rt.clock, stack.service_silent_after_ms * 1_000_000)
    audit = AuditLog(under_var(stack, stack.control.audit_file), rt.clock)
    control_out = Publisher(rt.sockets.publisher(stack.endpoints.control))
    rt.advertise("control", control_out.heads)

    def broadcast_state() -> None:
        control_out.send(authority.current())

    def state_changed() -> None:
        """Every change: saved first (a crash right after must not forget it), then broadcast at once."""
        try:
            save_state(state_path, authority.saved())
        except OSError as exc:
            rt.log.error("control_state_not_saved", path=str(state_path), error=str(exc))
        broadcast_state()

    alerts = AlertCenter(rt.clock, stack.control.alerts, limits.stormguard, rt.log, rt.metrics.registry,
                         control_out.send)

    def on_transition(transition: RecordedTransition) -> None:
        alerts.rules.on_level(transition.scope, transition.to_level, transition.reason)

    desk = ControlDesk(rt.clock, rt.log, authority, tracker, strategy_ids, audit,
                       state_changed=state_changed, send_command=control_out.send, on_transition=on_transition,
                       service_key=stack.curve.service_key if stack.curve.ops else None)
    desk.add_verb(ControlVerb.ALERTS, alerts.answer)

    def apply_limits(new_limits: StrategyLimitsConfig) -> None:
        """A reloaded strategy_limits.yaml in control: new strategies get a scope and can be switched, the
        usage alerts follow StormGuard's thresholds."""
        strategy_ids[:] = [entry.id for entry in new_limits.strategies]
        entries[:] = new_limits.strategies
        authority.add_scopes(strategy_ids)
        alerts.rules.set_stormguard(new_limits.stormguard)

    reloader = ConfigReloader(watcher, authority, alerts.rules, ConfigVersions(rt.metrics.registry), rt.log,
                              apply={STRATEGY_LIMITS: apply_limits}, state_changed=state_changed)
    reloader.start(first_read)
    desk.add_verb(ControlVerb.CONFIG_GET, reloader.config_get)
    desk.add_verb(ControlVerb.CONFIG_RELOAD, reloader.config_reload)
    desk.status_parts["config"] = reloader.status
    desk.status_parts["security"] = lambda _services: security_status(stack)
    desk.status_parts["strategies"] = lambda services: strategies_status(entries, services)

    def on_transitions(transitions: list[RecordedTransition]) -> None:
        for transition in transitions:
            rt.log.info("stormguard_transition", scope=transition.scope, from_level=transition.from_level,
                        stormguard_state=transition.to_level, reason=transition.reason)
            on_transition(transition)
        state_changed()

    def on_risk(message: StormGuardProposal | RiskSnapshot) -> None:
        if isinstance(message, StormGuardProposal):
            seq = authority.seq
            transition = authority.apply_proposal(message)
            if authority.seq != seq:
                on_transitions([transition] if transition is not None else [])
        else:
            on_trading_day(message.trading_day)
            if message.levels:
                seq = authority.seq
                transitions = authority.resync(message.levels)
                if authority.seq != seq:
                    on_transitions(transitions)

    def on_trading_day(day: str) -> None:
        """Risk's trading day from its snapshot: a later one is logged, alerted (after a known day) and saved."""
        previous = authority.trading_day
        if not authority.set_trading_day(day):
            return
        rt.log.warning("trading_day_started", trading_day=day, previous_day=previous or None)
        if previous:
            alerts.rules.on_trading_day(day, previous)
        try:
            save_state(state_path, authority.saved())
        except OSError as exc:
            rt.log.error("control_state_not_saved", path=str(state_path), error=str(exc))

    ops = rt.sockets.ops_router(stack.endpoints.ops)
    rt.watch_handshakes(ops, "ops")
    inbox = rt.inbox("ops", Heartbeat, ControlRequest, OrdersDump, RiskDump)

    def reply_to(identity: bytes, reply: ControlReply, verb: str) -> None:
        """Send an answer; one that cannot be delivered is logged (the client's retry gets it again)."""
        try:
            ops.send_multipart((identity, REPLY_TOPIC, encode(reply)), zmq.NOBLOCK)
        except zmq.Again:
            rt.log.warning("ops_reply_dropped", verb=verb, request_id=reply.request_id, reason="client_queue_full")
        except zmq.ZMQError as exc:  # EHOSTUNREACH (ROUTER_MANDATORY): the connection it came on is gone
            rt.log.warning("ops_reply_dropped", verb=verb, request_id=reply.request_id, reason="client_gone",
                           error=exc.strerror)

    def relay(identity: bytes, request: ControlRequest, key: str, reply: ControlReply) -> None:
        desk.account(request, key, reply)
        reply_to(identity, reply, request.verb)

    dumps = DumpRelay(rt.clock, tracker, control_out.send, relay, stack.control.dump_timeout_ms * 1_000_000)
    for verb in DUMPS:
        desk.add_deferred_verb(verb, dumps.ask)

    def on_ops(frames: list[bytes]) -> None:
        identity, rest = frames[0], frames[1:]
        message = inbox.decode(rest)
        if message is None:
            # Counted and logged by the inbox; a request that names its id is also answered, with the field.
            refusal = undecodable_request_reply(rest[-1]) if len(rest) == 2 else None
            if refusal is not None:
                rt.log.warning("ops_request_refused", request_id=refusal.request_id, reason="bad_message",
                               error=refusal.error)
                reply_to(identity, refusal, "undecoded")
        elif isinstance(message, Heartbeat):
            restart = tracker.on_heartbeat(message)
            if restart is not None:
                rt.log.warning("service_restarted", instance=restart.instance, old_pid=restart.old_pid,
                               pid=restart.pid, said_goodbye=restart.said_goodbye, restarts=restart.restarts)
                alerts.rules.on_restart(restart)
            alerts.rules.on_heartbeat(message)
        elif isinstance(message, ControlRequest):
            # With curve.ops the ZAP handler let only allow-listed keys connect, and named the key.
            reply = desk.handle(message, ops.peer_key or NO_KEY, identity)
            if reply is not None:
                reply_to(identity, reply, message.verb)
        elif isinstance(message, OrdersDump | RiskDump) and not dumps.on_dump(message):
            rt.log.info("dump_unclaimed", request_id=message.request_id, reason="answered too late")

    rt.loop.add_reader(ops, on_ops)
    rt.read(rt.sockets.subscriber(stack.endpoints.risk, [b"sg_proposal", b"risk_snapshot"]), "risk",
            (StormGuardProposal, RiskSnapshot), on_risk)

    def ask_own_tracker(streams: list[str], on_heads: HeadsHandler) -> bool:
        """Control's own SUB is checked against the heads its tracker holds, answered at once."""
        on_heads(tracker.heads(streams))
        return True

    rt.streams.ask = ask_own_tracker
    rt.loop.every(stack.state_broadcast_interval_ms * 1_000_000, broadcast_state)
    rt.loop.every(stack.heartbeat_interval_ms * 1_000_000, lambda: alerts.rules.on_services(tracker.status()))
    rt.loop.every(stack.control.config_poll_ms * 1_000_000, reloader.poll)
    rt.loop.every(DUMP_CHECK_NS, dumps.expire)
    rt.loop.call_later(0, state_changed)
    try:
        return rt.run()
    finally:
        alerts.sinks.close()
        audit.close()
