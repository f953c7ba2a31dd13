"""ControlLink: a service's requests to control's ops socket that need an answer, and its follow of control's state.

A service already sends heartbeats to control's ops ROUTER on a DEALER nobody reads (they need no
answer). This is a second DEALER, read by the service loop, for what does: the state snapshot a late
joiner or a service that saw a gap asks for (services/runtime/control_state.py), the text of a config
version it must switch to (services/runtime/hot_config.py), and the answers to control's dump requests
(sent unasked, relayed by control to the operator who asked). `follow_control` wires a service to
control: the control SUB, this link, a ControlStateFollower and a HotConfig.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
import zmq

from contracts.codec import encode, topic_for
from contracts.enums import ControlVerb
from contracts.messages import ControlCommand, ControlReply, ControlRequest, Message, StormGuardState
from services.runtime.control_state import ControlStateFollower
from services.runtime.hot_config import ConfigVersions, HotConfig
from services.runtime.stream_guard import HeadsHandler
from services.runtime.stream_watch import Heads

if TYPE_CHECKING:
    from services.runtime.service import ServiceRuntime

ReplyHandler = Callable[[ControlReply], None]
PENDING_KEPT = 256
CONTROL_TOPICS = [b"sg", b"command"]


class ControlLink:
    def __init__(self, rt: ServiceRuntime) -> None:
        self.rt = rt
        self.socket = rt.sockets.ops_dealer(rt.stack.endpoints.ops, linger_ms=0)
        self._inbox = rt.inbox("control_link", ControlReply)
        self._pending: OrderedDict[str, ReplyHandler] = OrderedDict()
        self._ids = itertools.count(1)
        self._prefix = f"{rt.name}.{rt.clock.wall_ns():x}"
        rt.loop.add_reader(self.socket, self._on_frames)

    def request(self, verb: ControlVerb, args: dict[str, str], on_reply: ReplyHandler) -> bool:
        """Send a request; `on_reply` gets the answer, if one comes. False if it could not be queued."""
        request_id = f"{self._prefix}.{next(self._ids)}"
        request = ControlRequest(request_id=request_id, verb=verb, args=args, who=str(self.rt.name))
        if not self.send(request):
            return False
        self._pending[request_id] = on_reply
        while len(self._pending) > PENDING_KEPT:  # answers that never came: forget the oldest
            self._pending.popitem(last=False)
        return True

    def send(self, message: Message) -> bool:
        try:
            self.socket.send_multipart((topic_for(message), encode(message)), zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def _on_frames(self, frames: list[bytes]) -> None:
        reply = self._inbox.decode(frames)
        if reply is None:
            return
        handler = self._pending.pop(reply.request_id, None)
        if handler is not None:
            handler(reply)


@dataclass(frozen=True)
class ControlFollow:
    follower: ControlStateFollower
    link: ControlLink
    hot: HotConfig
    """Register the config files this service reloads (`hot.follow`) or only reports (`hot.report`)."""


def follow_control(rt: ServiceRuntime, on_state: Callable[[StormGuardState, str], None],
                   on_command: Callable[[ControlCommand], None],
                   heard: Callable[[], None] = lambda: None) -> ControlFollow:
    """Subscribe to control's state and commands, keep the state by the clone pattern, and start by
    asking for a snapshot. `on_state` gets each newer state, then the config files registered with the
    returned `hot` are brought to the versions it names; `on_command` gets every command; `heard` is
    called first for anything from control (a re-broadcast, a command, a snapshot answer): it is alive.
    The service's subscribed streams are checked against the publishers' heads control answers on this
    link (`stream_heads`), which does not depend on any of them, control's own stream included."""
    link = ControlLink(rt)
    bad_heads = rt.inbox("control_link", ControlReply)

    def ask_heads(streams: list[str], on_heads: HeadsHandler) -> bool:
        def on_reply(reply: ControlReply) -> None:
            try:
                heads = msgspec.convert(reply.body.get("streams", {}), dict[str, Heads])
            except msgspec.ValidationError as exc:
                bad_heads.reject("stream_heads", str(exc))
                return
            on_heads(heads)

        return link.request(ControlVerb.STREAM_HEADS, {"streams": ",".join(streams)}, on_reply)

    rt.streams.ask = ask_heads
    hot = HotConfig(ConfigVersions(rt.metrics.registry), link.request, rt.log)

    def on_newer_state(state: StormGuardState, source: str) -> None:
        on_state(state, source)
        hot.on_state(state)
    bad_snapshot = rt.inbox("control_link", ControlReply)

    def on_snapshot_reply(reply: ControlReply) -> None:
        heard()
        if not reply.ok:
            rt.log.warning("control_snapshot_refused", error=reply.error)
            return
        try:
            state = msgspec.convert(reply.body.get("state"), StormGuardState)
        except msgspec.ValidationError as exc:
            bad_snapshot.reject("snapshot", str(exc))
            return
        follower.on_snapshot(state)

    follower = ControlStateFollower(
        on_newer_state, lambda: link.request(ControlVerb.SNAPSHOT, {}, on_snapshot_reply), rt.clock, rt.loop, rt.log,
        rt.metrics,
        retry_after_ns=rt.stack.control.snapshot_retry_ms * 1_000_000,
    )

    def on_message(message: StormGuardState | ControlCommand) -> None:
        heard()
        if isinstance(message, StormGuardState):
            follower.on_broadcast(message)
        else:
            follower.on_command(message)
            on_command(message)

    rt.read(rt.sockets.subscriber(rt.stack.endpoints.control, CONTROL_TOPICS), "control",
            (StormGuardState, ControlCommand), on_message)
    rt.loop.call_later(0, follower.start)
    return ControlFollow(follower, link, hot)
