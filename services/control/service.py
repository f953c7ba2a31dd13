"""The control service: StormGuard authority, heartbeats, and the ops socket operators talk to."""

from __future__ import annotations

import os

import zmq

from contracts.codec import encode
from contracts.enums import ServiceName
from contracts.messages import ControlCommand, ControlReply, ControlRequest, Heartbeat, StormGuardProposal
from services.control.authority import StormGuardAuthority
from services.control.heartbeats import HeartbeatTracker
from services.runtime.config.loader import load_yaml_model
from services.runtime.config.stack import StackConfig
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.runtime.service import ServiceRuntime
from services.runtime.sockets import Publisher

REPLY_TOPIC = b"reply"
VERBS = ("status", "ping", "stormguard_release", "enable_strategy", "disable_strategy")


def ping_reply(request_id: str, service: str, tracker: HeartbeatTracker) -> ControlReply:
    """Whether `service` is alive: control always is (it is answering); any other service when its last
    heartbeat is not a final one and is younger than service_silent_after_ms. Healthchecks ask this."""
    if service == ServiceName.CONTROL:
        return ControlReply(request_id=request_id, ok=True,
                            body={"service": service, "state": "alive", "pid": os.getpid(), "heartbeat_age_s": 0.0})
    if service not in {str(name) for name in ServiceName}:
        return ControlReply(request_id=request_id, ok=False,
                            error=f"unknown service {service!r}; services: {', '.join(ServiceName)}")
    entry = tracker.status().get(service)
    if entry is None:
        return ControlReply(request_id=request_id, ok=False,
                            error=f"{service}: no heartbeat since control started")
    age_s = entry["heartbeat_age_s"]
    if entry["state"] == "stopped":
        return ControlReply(request_id=request_id, ok=False,
                            error=f"{service} stopped: its last heartbeat, {age_s:.1f}s ago, was its final one")
    if entry["state"] != "alive":
        return ControlReply(request_id=request_id, ok=False,
                            error=f"{service} is {entry['state']}: last heartbeat {age_s:.1f}s ago, alive means "
                                  f"within {tracker.silent_after_ns / 1e9:g}s")
    return ControlReply(request_id=request_id, ok=True,
                        body={"service": service, "state": "alive", "pid": entry["pid"], "heartbeat_age_s": age_s})


def main(stack: StackConfig) -> int:
    rt = ServiceRuntime(ServiceName.CONTROL, stack)
    limits = load_yaml_model(stack.strategy_limits_file, StrategyLimitsConfig)
    strategy_ids = [entry.id for entry in limits.strategies]
    authority = StormGuardAuthority(rt.clock, strategy_ids)
    tracker = HeartbeatTracker(rt.clock, stack.service_silent_after_ms * 1_000_000)
    control_out = Publisher(rt.sockets.publisher(stack.endpoints.control))

    def broadcast_state() -> None:
        control_out.send(authority.broadcast())

    def on_proposal(proposal: StormGuardProposal) -> None:
        transition = authority.apply_proposal(proposal)
        if transition is None:
            return
        rt.log.info("stormguard_transition", scope=transition.scope, from_level=transition.from_level,
                    stormguard_state=transition.to_level, reason=transition.reason)
        broadcast_state()

    def status() -> dict[str, object]:
        return {
            "control": {"pid": os.getpid(), "stormguard_seq": authority.seq},
            "stormguard": {
                "levels": dict(authority.levels),
                "hold_fire": authority.hold_fire,
                "transitions": [
                    {"scope": t.scope, "from": t.from_level, "to": t.to_level, "reason": t.reason, "ts_ns": t.ts_ns}
                    for t in authority.transitions
                ],
            },
            "services": tracker.status(),
        }

    def answer(request: ControlRequest) -> ControlReply:
        if request.verb == "status":
            return ControlReply(request_id=request.request_id, ok=True, body=status())
        if request.verb == "ping":
            return ping_reply(request.request_id, request.args.get("service", ""), tracker)
        if request.verb == "stormguard_release":
            scope = request.args.get("scope", "")
            if scope not in authority.levels:
                return ControlReply(request_id=request.request_id, ok=False,
                                    error=f"unknown scope {scope!r}; scopes: {', '.join(authority.levels)}")
            control_out.send(ControlCommand(seq=0, verb="stormguard_release", target=scope,
                                            ts_ns=rt.clock.wall_ns()))
            return ControlReply(request_id=request.request_id, ok=True,
                                body={"released": scope, "level": authority.levels[scope]})
        if request.verb in ("enable_strategy", "disable_strategy"):
            strategy_id = request.args.get("strategy", "")
            if strategy_id not in strategy_ids:
                return ControlReply(request_id=request.request_id, ok=False,
                                    error=f"unknown strategy {strategy_id!r}; strategies: {', '.join(strategy_ids)}")
            control_out.send(ControlCommand(seq=0, verb=request.verb, target=strategy_id, ts_ns=rt.clock.wall_ns()))
            return ControlReply(request_id=request.request_id, ok=True, body={"strategy": strategy_id,
                                                                              "verb": request.verb})
        return ControlReply(request_id=request.request_id, ok=False,
                            error=f"unknown verb {request.verb!r}; this control answers: {', '.join(VERBS)}")

    ops = rt.sockets.router(stack.endpoints.ops)
    inbox = rt.inbox("ops", Heartbeat, ControlRequest)

    def on_ops(frames: list[bytes]) -> None:
        identity, rest = frames[0], frames[1:]
        message = inbox.decode(rest)
        if isinstance(message, Heartbeat):
            tracker.on_heartbeat(message)
        elif isinstance(message, ControlRequest):
            reply = answer(message)
            # Healthchecks ping every few seconds: their answers are not worth an info line each.
            log = rt.log.debug if message.verb == "ping" else rt.log.info
            log("ops_request", verb=message.verb, args=message.args, ok=reply.ok, error=reply.error)
            try:
                ops.send_multipart((identity, REPLY_TOPIC, encode(reply)), zmq.NOBLOCK)
            except zmq.Again:
                rt.log.warning("ops_reply_dropped", verb=message.verb, reason="client_gone")

    rt.loop.add_reader(ops, on_ops)
    rt.read(rt.sockets.subscriber(stack.endpoints.risk, [b"sg_proposal"]), "risk", (StormGuardProposal,),
            on_proposal)
    rt.loop.every(stack.state_broadcast_interval_ms * 1_000_000, broadcast_state)
    return rt.run()
