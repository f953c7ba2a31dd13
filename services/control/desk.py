"""ControlDesk: what control answers on its ops socket, verb by verb, and the audit of every operator command.

Requests come from operators (`orderpath ctl …`) and from the services themselves (the state snapshot
a late joiner asks for). Each operator verb is checked, applied to the StormGuardAuthority, answered,
written to the audit file (who, what, when, result) and logged. Verbs that change nothing a service
acts on (status, ping, snapshot) are not audited; healthchecks ping every few seconds.

Plain code with an injected clock: the service module gives it the functions that publish the state
and a command, and the socket identity (CURVE key name) each request was authenticated with.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import msgspec
import structlog

from contracts.enums import CommandVerb, ControlVerb, ServiceName, StormGuardLevel
from contracts.messages import GLOBAL_SCOPE, ControlCommand, ControlReply, ControlRequest
from services.control.audit import AuditLog
from services.control.authority import RecordedTransition, StormGuardAuthority
from services.control.heartbeats import HeartbeatTracker
from services.control.replies import RecentReplies
from services.runtime.clock import Clock
from services.runtime.instance import service_of

SERVICE_VERBS = frozenset({ControlVerb.SNAPSHOT, ControlVerb.CONFIG_GET, ControlVerb.STREAM_HEADS})
"""What the services ask for themselves (their link to control)."""
OPERATOR_VERBS = frozenset({
    ControlVerb.STORMGUARD_FORCE, ControlVerb.STORMGUARD_RELEASE, ControlVerb.HOLD, ControlVerb.RESUME,
    ControlVerb.CANCEL_ALL, ControlVerb.ENABLE_STRATEGY, ControlVerb.DISABLE_STRATEGY, ControlVerb.CONFIG_RELOAD,
})
UNAUDITED = SERVICE_VERBS | {ControlVerb.PING}
REMEMBERED = OPERATOR_VERBS
"""Verbs whose answer a repeated request id gets again instead of a second run (RecentReplies)."""

Handler = Callable[[ControlRequest, str], ControlReply]
DeferredHandler = Callable[[bytes, ControlRequest, str], ControlReply | None]
"""Gets the client's identity too; None: the answer comes later, through `account` and the caller's send."""


class ControlDesk:
    def __init__(self, clock: Clock, log: structlog.stdlib.BoundLogger, authority: StormGuardAuthority,
                 tracker: HeartbeatTracker, strategy_ids: list[str], audit: AuditLog, *,
                 state_changed: Callable[[], None], send_command: Callable[[ControlCommand], None],
                 on_transition: Callable[[RecordedTransition], None] = lambda t: None,
                 service_key: str | None = None) -> None:
        """`service_key`: the name of the services' CURVE key, which may not run operator verbs (None
        without CURVE on ops: nobody is authenticated, so nobody can be told apart)."""
        self.clock = clock
        self.service_key = service_key
        self.log = log
        self.authority = authority
        self.tracker = tracker
        self.strategy_ids = strategy_ids
        self.audit = audit
        self._state_changed = state_changed
        self._send_command = send_command
        self._on_transition = on_transition
        self.status_parts: dict[str, Callable[[dict[str, Any]], Any]] = {}
        """More sections of `status`, each computed from the services' part (config versions, …)."""
        self._verbs: dict[ControlVerb, Handler] = {
            ControlVerb.STATUS: self._status, ControlVerb.PING: self._ping, ControlVerb.SNAPSHOT: self._snapshot,
            ControlVerb.STREAM_HEADS: self._heads, ControlVerb.STORMGUARD_FORCE: self._force,
            ControlVerb.STORMGUARD_RELEASE: self._release, ControlVerb.HOLD: self._hold,
            ControlVerb.RESUME: self._resume, ControlVerb.CANCEL_ALL: self._cancel_all,
            ControlVerb.ENABLE_STRATEGY: self._switch_strategy, ControlVerb.DISABLE_STRATEGY: self._switch_strategy,
        }
        self._deferred: dict[ControlVerb, DeferredHandler] = {}
        self.replies = RecentReplies()

    @property
    def verbs(self) -> list[ControlVerb]:
        return sorted([*self._verbs, *self._deferred])

    def add_verb(self, verb: ControlVerb, handler: Handler) -> None:
        self._verbs[verb] = handler

    def add_deferred_verb(self, verb: ControlVerb, handler: DeferredHandler) -> None:
        self._deferred[verb] = handler

    def handle(self, request: ControlRequest, key: str, identity: bytes = b"") -> ControlReply | None:
        """Answer one request authenticated as `key` (the CURVE key's name, or "none" without CURVE); None
        when a deferred verb answers later. A repeat (same key and request id) of a verb that changes something
        gets its first answer again, and runs nothing."""
        remembered = self.replies.get(key, request.request_id)
        if remembered is not None:
            if remembered.verb != request.verb:
                self.log.warning("ops_request_id_reused", verb=request.verb, request_id=request.request_id, key=key,
                                 who=request.who, first_verb=remembered.verb)
                return self._refuse(request, f"request id {request.request_id} was {remembered.verb}; a new "
                                             "request needs a new id")
            self.log.info("ops_request_repeat", verb=request.verb, request_id=request.request_id, key=key,
                          who=request.who, ok=remembered.reply.ok)
            return remembered.reply
        verb = _verb(request.verb)
        handler = self._verbs.get(verb) if verb is not None else None
        if self.service_key is not None and key == self.service_key and verb in OPERATOR_VERBS:
            reply = self._refuse(request, f"the services' key ({key}) may not run {request.verb}: use an "
                                          "operator's key")
        elif verb is not None and verb in self._deferred:
            deferred = self._deferred[verb](identity, request, key)
            if deferred is None:
                return None
            reply = deferred
        elif handler is None:
            reply = self._refuse(request, f"unknown verb {request.verb!r}; this control answers: "
                                          f"{', '.join(self.verbs)}")
        else:
            reply = handler(request, key)
        self.account(request, key, reply)
        return reply

    def account(self, request: ControlRequest, key: str, reply: ControlReply) -> None:
        """The log line of every request, and the audit record of every operator command."""
        # Healthchecks ping every few seconds and services ask for snapshots: not worth an info line each.
        if request.verb in REMEMBERED:
            self.replies.remember(key, request.request_id, request.verb, reply)
        log = self.log.debug if request.verb in UNAUDITED else self.log.info
        log("ops_request", verb=request.verb, args=request.args, key=key, who=request.who, ok=reply.ok,
            error=reply.error)
        if request.verb not in UNAUDITED:
            self.audit.record(key=key, who=request.who, verb=request.verb, args=dict(request.args), ok=reply.ok,
                              result=reply.error or _summary(reply.body))

    # -- reading

    def status(self) -> dict[str, Any]:
        authority = self.authority
        services = self.tracker.status()
        return {
            "control": {"pid": os.getpid(), "stormguard_seq": authority.seq, "epoch": authority.epoch},
            "stormguard": {
                "levels": authority.levels,
                "risk_levels": dict(authority.risk_levels),
                "forced": dict(authority.forced),
                "hold_fire": authority.hold_fire,
                "cancel_all": authority.cancel_all,
                "strategy_enabled": dict(authority.strategy_enabled),
                "transitions": [
                    {"scope": t.scope, "from": t.from_level, "to": t.to_level, "reason": t.reason, "ts_ns": t.ts_ns}
                    for t in authority.transitions
                ],
            },
            "services": services,
            **{name: part(services) for name, part in self.status_parts.items()},
        }

    def _status(self, request: ControlRequest, key: str) -> ControlReply:
        return ControlReply(request_id=request.request_id, ok=True, body=self.status())

    def _snapshot(self, request: ControlRequest, key: str) -> ControlReply:
        state = self.authority.current()
        return ControlReply(request_id=request.request_id, ok=True, body={"state": msgspec.to_builtins(state)})

    def _heads(self, request: ControlRequest, key: str) -> ControlReply:
        """Where the live publishers of the streams asked for (`streams`, comma-separated) are: a subscriber
        checks its sockets with it (services/runtime/stream_watch.py)."""
        heads = self.tracker.heads([s for s in request.args.get("streams", "").split(",") if s])
        return ControlReply(request_id=request.request_id, ok=True,
                            body={"streams": {stream: msgspec.to_builtins(h) for stream, h in heads.items()}})

    def _ping(self, request: ControlRequest, key: str) -> ControlReply:
        return ping_reply(request.request_id, request.args.get("service", ""), self.tracker)

    # -- the operator's verbs

    def _scope(self, request: ControlRequest) -> str | ControlReply:
        scope = request.args.get("scope", GLOBAL_SCOPE)
        if scope not in self.authority.risk_levels:
            return self._refuse(request, f"unknown scope {scope!r}; scopes: {', '.join(self.authority.risk_levels)}")
        return scope

    def _force(self, request: ControlRequest, key: str) -> ControlReply:
        scope = self._scope(request)
        if isinstance(scope, ControlReply):
            return scope
        try:
            level = StormGuardLevel(request.args.get("level", "").upper())
        except ValueError:
            return self._refuse(request, f"unknown level {request.args.get('level', '')!r}; levels: "
                                         f"{', '.join(StormGuardLevel)}")
        if level is StormGuardLevel.HALT and not _confirmed(request):
            return self._refuse(request, "forcing HALT cancels every working order of the scope: it needs "
                                         "confirmed=yes (ctl … --yes)")
        transition = self.authority.force(scope, level, _who(request, key))
        self._changed(transition)
        effective = self.authority.level(scope)
        note = "" if effective is level else (
            f"risk's own level {self.authority.risk_levels[scope]} is stricter and counts"
            if level is not StormGuardLevel.NORMAL else
            f"the operator's floor is lifted; risk's own level {effective} counts (`stormguard release` leaves HALT)")
        return self._ok(request, {"scope": scope, "forced": level, "level": effective, "note": note})

    def _release(self, request: ControlRequest, key: str) -> ControlReply:
        scope = self._scope(request)
        if isinstance(scope, ControlReply):
            return scope
        before = self.authority.level(scope)
        self._changed(self.authority.release(scope, _who(request, key)))
        # Risk's own HALT is latched in risk: it steps it down to STORM and proposes the change.
        self._send_command(ControlCommand(seq=0, verb=CommandVerb.STORMGUARD_RELEASE, target=scope,
                                          ts_ns=self.clock.wall_ns()))
        return self._ok(request, {"released": scope, "was": before, "level": self.authority.level(scope)})

    def _hold(self, request: ControlRequest, key: str) -> ControlReply:
        self._changed(None, self.authority.set_hold_fire(True))
        return self._ok(request, {"hold_fire": True})

    def _resume(self, request: ControlRequest, key: str) -> ControlReply:
        released_hold = self.authority.set_hold_fire(False)
        released_kill = self.authority.set_cancel_all(False)
        self._changed(None, released_hold or released_kill)
        return self._ok(request, {"hold_fire": False, "cancel_all": False,
                                  "was_holding": released_hold, "was_cancelling": released_kill})

    def _cancel_all(self, request: ControlRequest, key: str) -> ControlReply:
        if not _confirmed(request):
            return self._refuse(request, "cancel_all cancels every working order and takes no new one until resume: "
                                         "it needs confirmed=yes (ctl cancel-all --yes)")
        self._changed(None, self.authority.set_cancel_all(True))
        return self._ok(request, {"cancel_all": True})

    def _switch_strategy(self, request: ControlRequest, key: str) -> ControlReply:
        strategy_id = request.args.get("strategy", "")
        if strategy_id not in self.strategy_ids:
            return self._refuse(request, f"unknown strategy {strategy_id!r}; strategies: "
                                         f"{', '.join(self.strategy_ids)}")
        enabled = request.verb == ControlVerb.ENABLE_STRATEGY
        self._changed(None, self.authority.set_enabled(strategy_id, enabled))
        return self._ok(request, {"strategy": strategy_id, "verb": request.verb, "enabled": enabled})

    # -- helpers

    def _changed(self, transition: RecordedTransition | None, changed: bool = True) -> None:
        """Log a transition the operator caused; broadcast and save the state if anything changed."""
        if transition is not None:
            self.log.warning("stormguard_transition", scope=transition.scope, from_level=transition.from_level,
                             stormguard_state=transition.to_level, reason=transition.reason)
            self._on_transition(transition)
        if changed or transition is not None:
            self._state_changed()

    def _ok(self, request: ControlRequest, body: dict[str, Any]) -> ControlReply:
        return ControlReply(request_id=request.request_id, ok=True, body={**body, "seq": self.authority.seq})

    @staticmethod
    def _refuse(request: ControlRequest, error: str) -> ControlReply:
        return ControlReply(request_id=request.request_id, ok=False, error=error)


def _verb(verb: str) -> ControlVerb | None:
    """The verb a request names; None for one this control does not know (refused, naming those it does)."""
    try:
        return ControlVerb(verb)
    except ValueError:
        return None


def _confirmed(request: ControlRequest) -> bool:
    return request.args.get("confirmed") == "yes"


def _who(request: ControlRequest, key: str) -> str:
    return f"{request.who or 'unknown'} (key {key})"


def _summary(body: dict[str, Any]) -> str:
    """What an audit record keeps of an answer: its small fields, not a whole status."""
    return ", ".join(f"{k}={v}" for k, v in body.items() if isinstance(v, str | int | float | bool) and k != "note")


def ping_reply(request_id: str, service: str, tracker: HeartbeatTracker) -> ControlReply:
    """Whether `service` (a service, or an instance of one: strategy-2) is alive: control always is (it is
    answering); any other when its last heartbeat is not a final one and is younger than
    service_silent_after_ms. Healthchecks ask this."""
    if service == ServiceName.CONTROL:
        return ControlReply(request_id=request_id, ok=True,
                            body={"service": service, "state": "alive", "pid": os.getpid(), "heartbeat_age_s": 0.0})
    if service_of(service) is None:
        return ControlReply(request_id=request_id, ok=False,
                            error=f"unknown service {service!r}; services: {', '.join(ServiceName)}, or an "
                                  "instance of one (strategy-2)")
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
