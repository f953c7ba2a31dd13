"""The control service: broadcasts StormGuard state, tracks heartbeats, answers the ops socket."""

from __future__ import annotations

import os

import zmq

from contracts.codec import encode
from contracts.enums import ServiceName
from contracts.messages import ControlReply, ControlRequest, Heartbeat
from services.control.authority import StormGuardAuthority
from services.control.heartbeats import HeartbeatTracker
from services.runtime.config.loader import load_yaml_model
from services.runtime.config.stack import StackConfig
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.runtime.service import ServiceRuntime
from services.runtime.sockets import Publisher

REPLY_TOPIC = b"reply"


def main(stack: StackConfig) -> int:
    rt = ServiceRuntime(ServiceName.CONTROL, stack)
    limits = load_yaml_model(stack.strategy_limits_file, StrategyLimitsConfig)
    authority = StormGuardAuthority(rt.clock, [entry.id for entry in limits.strategies])
    tracker = HeartbeatTracker(rt.clock, stack.service_silent_after_ms * 1_000_000)
    state_out = Publisher(rt.sockets.publisher(stack.endpoints.control))

    def broadcast_state() -> None:
        state_out.send(authority.broadcast())

    rt.loop.every(stack.state_broadcast_interval_ms * 1_000_000, broadcast_state)

    ops = rt.sockets.router(stack.endpoints.ops)
    inbox = rt.inbox("ops", Heartbeat, ControlRequest)

    def answer(request: ControlRequest) -> ControlReply:
        if request.verb == "status":
            state = authority.current()
            return ControlReply(request_id=request.request_id, ok=True, body={
                "control": {"pid": os.getpid(), "stormguard_seq": authority.seq},
                "stormguard": {"global": state.global_level, "strategies": state.strategy_levels,
                               "hold_fire": state.hold_fire},
                "services": tracker.status(),
            })
        return ControlReply(request_id=request.request_id, ok=False,
                            error=f"unknown verb {request.verb!r}; this control answers: status")

    def on_ops(frames: list[bytes]) -> None:
        identity, rest = frames[0], frames[1:]
        message = inbox.decode(rest)
        if isinstance(message, Heartbeat):
            tracker.on_heartbeat(message)
        elif isinstance(message, ControlRequest):
            reply = answer(message)
            rt.log.info("ops_request", verb=message.verb, ok=reply.ok, error=reply.error)
            try:
                ops.send_multipart((identity, REPLY_TOPIC, encode(reply)), zmq.NOBLOCK)
            except zmq.Again:
                rt.log.warning("ops_reply_dropped", verb=message.verb, reason="client_gone")

    rt.loop.add_reader(ops, on_ops)
    return rt.run()
