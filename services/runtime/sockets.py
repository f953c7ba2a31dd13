"""The one place sockets are made, each with its options set explicitly.

Streams (md, exec, risk, control) are PUB/SUB with a large HWM: a slow subscriber loses
messages rather than stalling the publisher, and sequence numbers show the loss. Order sockets
(intents, orders) are PUSH/PULL with IMMEDIATE=1, so nothing queues toward a peer that is not
connected, and a send HWM (`sockets.order_send_hwm`) sized for bursts toward a live but busy
peer; every order carries a deadline the receiver enforces. Why these values: docs/performance.md,
"Socket options, measured". Receivers of PUSH/PULL and all publishers bind; the rest connect.

CURVE (stack.yaml `curve:`, keys from services/runtime/curve.py): with `ops`, control's ops ROUTER is a
CURVE server and every DEALER to it a client; with `data`, every other socket is, servers where it
binds and clients where it connects. Options are set before bind/connect, as ZeroMQ requires.
"""

from __future__ import annotations

import zmq

from contracts.codec import encode, topic_for
from contracts.messages import Message
from services.runtime.config.stack import SocketTuning
from services.runtime.curve import CurveSettings

_DATA, _OPS = "data", "ops"
# Plain ints for the per-message calls: pyzmq's constants are enum members, and combining them
# (SNDMORE | NOBLOCK, EVENTS & POLLIN) runs Python-level enum code on every message (~1 µs here).
NOBLOCK = int(zmq.NOBLOCK)
SNDMORE = int(zmq.SNDMORE)
EVENTS = int(zmq.EVENTS)
POLLIN = int(zmq.POLLIN)


def send_topic(sock: zmq.Socket, topic: bytes, payload: bytes, *, block: bool = False) -> None:
    """Send `[topic, payload]` as one message; raises zmq.Again where send_multipart would. Two plain
    sends cost 1.4 µs here against 3.3 µs for send_multipart, which type-checks every frame and
    combines enum flags (bench/hot_path.py)."""
    flags = 0 if block else NOBLOCK
    sock.send(topic, flags | SNDMORE)
    sock.send(payload, flags)


class PeerKeySocket(zmq.Socket):
    """A socket that keeps the User-Id of the last message it received: the name the ZAP handler gave
    the client's allow-listed CURVE key ("" without CURVE). Read it in the handler of that message."""

    peer_key = ""

    def recv_multipart(self, flags: int = 0, copy: bool = True, track: bool = False) -> list:  # type: ignore[override]
        frames = super().recv_multipart(flags, copy=False, track=track)
        try:
            self.peer_key = frames[-1].get("User-Id")
        except zmq.ZMQError:  # no ZAP handler gave one: not a CURVE connection
            self.peer_key = ""
        return [frame.bytes for frame in frames] if copy else frames


class SocketFactory:
    def __init__(self, context: zmq.Context, tuning: SocketTuning, curve: CurveSettings | None = None) -> None:
        self.context = context
        self.tuning = tuning
        self.curve = curve
        self._sockets: list[zmq.Socket] = []
        self._monitors: dict[zmq.Socket, zmq.Socket] = {}
        self._subscriptions: dict[zmq.Socket, tuple[str, list[bytes] | None]] = {}

    def _make(self, kind: int, *, linger_ms: int | None = None, role: tuple[str, str] | None = None,
              socket_class: type[zmq.Socket] | None = None) -> zmq.Socket:
        """`role`: (which CURVE setting covers it, "server" or "client")."""
        sock = self.context.socket(kind, socket_class=socket_class)
        sock.setsockopt(zmq.MAXMSGSIZE, self.tuning.max_msg_size_bytes)
        sock.setsockopt(zmq.LINGER, self.tuning.linger_ms if linger_ms is None else linger_ms)
        self._sockets.append(sock)
        curve = self.curve
        if curve is not None and role is not None and (curve.ops if role[0] == _OPS else curve.data):
            keys = curve.server if role[1] == "server" else curve.client
            if keys is None:
                raise ValueError(f"no CURVE {role[1]} keys for a {role[0]} socket")
            keys.apply(sock)
            if role[1] == "server":
                sock.setsockopt(zmq.ZAP_DOMAIN, role[0].encode())
        return sock

    def own(self, sock: zmq.Socket) -> None:
        """Close `sock` with the factory's sockets (one made elsewhere in the same context)."""
        self._sockets.append(sock)

    def publisher(self, endpoint: str, *, await_subscribers: bool = False) -> zmq.Socket:
        """A bound PUB (or XPUB that reports every subscription, to wait for subscribers)."""
        sock = self._make(zmq.XPUB if await_subscribers else zmq.PUB, role=(_DATA, "server"))
        if await_subscribers:
            sock.setsockopt(zmq.XPUB_VERBOSE, 1)
        sock.setsockopt(zmq.SNDHWM, self.tuning.stream_hwm)
        sock.bind(endpoint)
        return sock

    def subscriber(self, endpoint: str, topics: list[bytes] | None = None) -> zmq.Socket:
        """A connected SUB; `topics=None` means everything, an empty list nothing (a runner hosting no
        symbol must not take in the whole md stream)."""
        sock = self._make(zmq.SUB, role=(_DATA, "client"))
        sock.setsockopt(zmq.RCVHWM, self.tuning.stream_hwm)
        sock.setsockopt(zmq.RECONNECT_IVL, self.tuning.data_reconnect_ivl_ms)
        for topic in [b""] if topics is None else topics:
            sock.setsockopt(zmq.SUBSCRIBE, topic)
        sock.connect(endpoint)
        self._subscriptions[sock] = (endpoint, topics)
        return sock

    def topics_of(self, sock: zmq.Socket) -> list[bytes]:
        """The topic prefixes a SUB made here subscribes to ([b""]: everything)."""
        topics = self._subscriptions[sock][1]
        return [b""] if topics is None else list(topics)

    def resubscribe(self, sock: zmq.Socket) -> zmq.Socket:
        """Close a SUB made here at once (linger 0) and return a new one, same endpoint, options and topics:
        a SUB whose connection ZeroMQ ended for good (a peer's frame over MAXMSGSIZE is a protocol error,
        after which the connecting side never reconnects) hears its publisher again only so."""
        endpoint, topics = self._subscriptions.pop(sock)
        sock.close(linger=0)
        self._sockets.remove(sock)
        return self.subscriber(endpoint, topics)

    def order_sender(self, endpoint: str) -> zmq.Socket:
        """A connected PUSH for orders: queues only toward a live peer. Its connection events are
        watched from before the connect (`monitor_of`), so the first handshake is never missed."""
        sock = self._make(zmq.PUSH, linger_ms=0, role=(_DATA, "client"))
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.SNDHWM, self.tuning.order_send_hwm)
        sock.setsockopt(zmq.RECONNECT_IVL, self.tuning.data_reconnect_ivl_ms)  # a replaced peer is found sooner
        self.watch(sock, zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        sock.connect(endpoint)
        return sock

    def watch(self, sock: zmq.Socket, events: int) -> zmq.Socket:
        """A monitor socket reporting `events` of `sock`, closed before it (`monitor_of` finds it again)."""
        monitor = sock.get_monitor_socket(events)
        monitor.setsockopt(zmq.LINGER, 0)
        self._sockets.insert(0, monitor)
        self._monitors[sock] = monitor
        return monitor

    def monitor_of(self, sock: zmq.Socket) -> zmq.Socket:
        """The socket reporting when `sock` (an order sender) gains or loses its peer."""
        return self._monitors[sock]

    def order_receiver(self, endpoint: str) -> zmq.Socket:
        sock = self._make(zmq.PULL, role=(_DATA, "server"))
        sock.setsockopt(zmq.RCVHWM, self.tuning.order_recv_hwm)
        sock.bind(endpoint)
        return sock

    def router(self, endpoint: str) -> zmq.Socket:
        sock = self._make(zmq.ROUTER, role=(_DATA, "server"))
        sock.setsockopt(zmq.RCVHWM, self.tuning.order_recv_hwm)
        sock.bind(endpoint)
        return sock

    def ops_router(self, endpoint: str) -> PeerKeySocket:
        """Control's ops ROUTER: with curve.ops, only allow-listed keys get through, and each message says
        which key it came with (`peer_key`). Sending to an unknown identity raises zmq.ZMQError (EHOSTUNREACH),
        and to a full one zmq.Again."""
        sock = self._make(zmq.ROUTER, role=(_OPS, "server"), socket_class=PeerKeySocket)
        sock.setsockopt(zmq.RCVHWM, self.tuning.order_recv_hwm)
        # A reply to a client that is gone (closed, or reconnected under a new identity) raises instead of
        # vanishing, so it is logged; the client's retry, with the same request id, gets the answer.
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.bind(endpoint)
        return sock  # type: ignore[return-value]

    def dealer(self, endpoint: str, *, linger_ms: int = 1000, immediate: bool = False) -> zmq.Socket:
        """A connected DEALER; lingers so a last heartbeat still leaves on close. `immediate`: refuse to
        queue (zmq.Again) while the peer is not connected, for requests that are retried anyway and
        would be stale by the time a restarted peer got them."""
        sock = self._make(zmq.DEALER, linger_ms=linger_ms, role=(_DATA, "client"))
        sock.setsockopt(zmq.SNDHWM, 1000)
        if immediate:
            sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.connect(endpoint)
        return sock

    def ops_dealer(self, endpoint: str, *, linger_ms: int = 1000) -> zmq.Socket:
        """A DEALER to control's ops socket (heartbeats, snapshot and config requests, dump answers); a CURVE
        client with the services' key when curve.ops is on."""
        sock = self._make(zmq.DEALER, linger_ms=linger_ms, role=(_OPS, "client"))
        sock.setsockopt(zmq.SNDHWM, 1000)
        sock.connect(endpoint)
        return sock

    def close_all(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        self._monitors.clear()
        self._subscriptions.clear()


class Publisher:
    """A PUB socket that numbers what it sends: each topic has its own sequence, from 1, so a
    subscriber to any subset of topics can tell a gap from a topic it did not ask for. A message
    built with seq=0 is numbered here; one built with its own seq (StormGuard's state version) keeps it.
    """

    def __init__(self, socket: zmq.Socket) -> None:
        self.socket = socket
        self._seq: dict[bytes, int] = {}

    def send(self, message: Message) -> None:
        topic = topic_for(message)
        seq = getattr(message, "seq", None)
        if seq == 0:
            seq = self._seq.get(topic, 0) + 1
            message.seq = seq  # type: ignore[attr-defined]
        if seq is not None:
            self._seq[topic] = seq
        send_topic(self.socket, topic, encode(message), block=True)

    def heads(self) -> dict[bytes, int]:
        """The seq last sent on each topic: what this stream's heartbeat advertises (Heartbeat.published)."""
        return dict(self._seq)
