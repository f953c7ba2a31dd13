"""DumpRelay: `ctl orders dump` and `ctl risk dump`, asked of the service that holds the picture.

The adapter owns the live order map and risk the positions, PnL and StormGuard inputs; control holds
neither. So control publishes a ControlCommand (dump_orders, dump_risk) carrying the operator's request
id, the service answers with an OrdersDump or a RiskDump on its ops DEALER, and control relays it to the
operator. A service that is not alive is refused at once; one that does not answer within
dump_timeout_ms is answered for, with what to check. Either way the operator gets an answer before the
CLI's own timeout, and the audit records it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import msgspec

from contracts.enums import CommandVerb, ControlVerb, ServiceName
from contracts.messages import ControlCommand, ControlReply, ControlRequest, OrdersDump, RiskDump
from services.control.heartbeats import HeartbeatTracker
from services.runtime.clock import Clock

DUMPS = {ControlVerb.ORDERS_DUMP: (CommandVerb.DUMP_ORDERS, ServiceName.ADAPTER),
         ControlVerb.RISK_DUMP: (CommandVerb.DUMP_RISK, ServiceName.RISK)}
"""Ops verb → (command the service gets, the service)."""


@dataclass(frozen=True)
class _Pending:
    identity: bytes
    request: ControlRequest
    key: str
    service: str
    deadline_ns: int


Reply = Callable[[bytes, ControlRequest, str, ControlReply], None]
"""Sends the answer to the client (identity) and accounts for it (log, audit)."""


class DumpRelay:
    def __init__(self, clock: Clock, tracker: HeartbeatTracker, send_command: Callable[[ControlCommand], None],
                 reply: Reply, timeout_ns: int) -> None:
        self.clock = clock
        self.tracker = tracker
        self._send_command = send_command
        self._reply = reply
        self.timeout_ns = timeout_ns
        self._pending: dict[str, _Pending] = {}

    def ask(self, identity: bytes, request: ControlRequest, key: str) -> ControlReply | None:
        """Forward a dump request to its service; None: the answer comes later (or at the deadline). A repeat
        of a request still waiting (the client retried) asks nothing more: the answer goes to where the repeat
        came from, the client's newest connection."""
        waiting = self._pending.get(request.request_id)
        if waiting is not None and waiting.key == key:
            self._pending[request.request_id] = replace(waiting, identity=identity)
            return None
        if waiting is not None:  # another client's request: the service's answer names only the id
            return ControlReply(request_id=request.request_id, ok=False,
                                error=f"request id {request.request_id} is in use by another client: use a new id")
        verb, service = DUMPS[request.verb]
        state = self.tracker.status().get(service, {}).get("state")
        if state != "alive":
            return ControlReply(request_id=request.request_id, ok=False,
                                error=f"{service} is {state or 'not heard from'}: nobody to ask "
                                      f"(orderpath ctl ping {service})")
        self._pending[request.request_id] = _Pending(identity, request, key, service,
                                                     self.clock.mono_ns() + self.timeout_ns)
        self._send_command(ControlCommand(seq=0, verb=verb, target=service, request_id=request.request_id,
                                          ts_ns=self.clock.wall_ns()))
        return None

    def on_dump(self, dump: OrdersDump | RiskDump) -> bool:
        """A service's answer; False if nobody waits for it any more (late, or not ours)."""
        pending = self._pending.pop(dump.request_id, None)
        if pending is None:
            return False
        body = msgspec.to_builtins(dump)
        for envelope in ("t", "v", "request_id"):
            body.pop(envelope, None)
        self._reply(pending.identity, pending.request, pending.key,
                    ControlReply(request_id=pending.request.request_id, ok=True, body=body))
        return True

    def expire(self) -> None:
        """Answer, with an error, every request whose service said nothing in time (on a timer)."""
        now = self.clock.mono_ns()
        for request_id, pending in list(self._pending.items()):
            if pending.deadline_ns <= now:
                del self._pending[request_id]
                self._reply(pending.identity, pending.request, pending.key, ControlReply(
                    request_id=request_id, ok=False,
                    error=f"{pending.service} did not answer within {self.timeout_ns / 1e9:g}s; is it busy or "
                          f"restarting? (orderpath ctl ping {pending.service}, and its log)"))
