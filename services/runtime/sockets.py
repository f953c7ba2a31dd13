"""The one place sockets are made, each with its options set explicitly.

Streams (md, exec, risk, control) are PUB/SUB with a large HWM: a slow subscriber loses
messages rather than stalling the publisher, and sequence numbers show the loss. Order sockets
(intents, orders) are PUSH/PULL with IMMEDIATE=1: measured here, without it a sender whose
receiver was down for 0.5 s queued ~440 orders and delivered them up to 600 ms stale when the
receiver came back; with it nothing queues toward a peer that is not connected. The send HWM
then only bounds what queues toward a live but busy peer, and every order carries a deadline the
receiver enforces, so it is sized for bursts (1000): at 16, risk approving a drained backlog of
512 intents outran its own IO thread and refused half of them as queue_backpressure while the
adapter was healthy (bench/risk_service.py). Receivers of PUSH/PULL and all publishers bind; the
rest connect.
"""

from __future__ import annotations

import zmq

from contracts.codec import encode, topic_for
from contracts.messages import Message
from services.runtime.config.stack import SocketTuning


class SocketFactory:
    def __init__(self, context: zmq.Context, tuning: SocketTuning) -> None:
        self.context = context
        self.tuning = tuning
        self._sockets: list[zmq.Socket] = []

    def _make(self, kind: int, *, linger_ms: int | None = None) -> zmq.Socket:
        sock = self.context.socket(kind)
        sock.setsockopt(zmq.MAXMSGSIZE, self.tuning.max_msg_size_bytes)
        sock.setsockopt(zmq.LINGER, self.tuning.linger_ms if linger_ms is None else linger_ms)
        self._sockets.append(sock)
        return sock

    def publisher(self, endpoint: str, *, await_subscribers: bool = False) -> zmq.Socket:
        """A bound PUB (or XPUB that reports every subscription, to wait for subscribers)."""
        sock = self._make(zmq.XPUB if await_subscribers else zmq.PUB)
        if await_subscribers:
            sock.setsockopt(zmq.XPUB_VERBOSE, 1)
        sock.setsockopt(zmq.SNDHWM, self.tuning.stream_hwm)
        sock.bind(endpoint)
        return sock

    def subscriber(self, endpoint: str, topics: list[bytes] | None = None) -> zmq.Socket:
        """A connected SUB; no topics means everything."""
        sock = self._make(zmq.SUB)
        sock.setsockopt(zmq.RCVHWM, self.tuning.stream_hwm)
        for topic in topics or [b""]:
            sock.setsockopt(zmq.SUBSCRIBE, topic)
        sock.connect(endpoint)
        return sock

    def order_sender(self, endpoint: str) -> zmq.Socket:
        """A connected PUSH for orders: queues only toward a live peer, and only a few."""
        sock = self._make(zmq.PUSH, linger_ms=0)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.SNDHWM, self.tuning.order_send_hwm)
        sock.connect(endpoint)
        return sock

    def order_receiver(self, endpoint: str) -> zmq.Socket:
        sock = self._make(zmq.PULL)
        sock.setsockopt(zmq.RCVHWM, self.tuning.order_recv_hwm)
        sock.bind(endpoint)
        return sock

    def router(self, endpoint: str) -> zmq.Socket:
        sock = self._make(zmq.ROUTER)
        sock.setsockopt(zmq.RCVHWM, self.tuning.order_recv_hwm)
        sock.bind(endpoint)
        return sock

    def dealer(self, endpoint: str, *, linger_ms: int = 1000) -> zmq.Socket:
        """A connected DEALER; lingers so a last heartbeat still leaves on close."""
        sock = self._make(zmq.DEALER, linger_ms=linger_ms)
        sock.setsockopt(zmq.SNDHWM, 1000)
        sock.connect(endpoint)
        return sock

    def close_all(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()


class Publisher:
    """A PUB socket with the stream's sequence counter: every message it sends carries `seq`."""

    def __init__(self, socket: zmq.Socket) -> None:
        self.socket = socket
        self.seq = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def send(self, message: Message) -> None:
        self.socket.send_multipart((topic_for(message), encode(message)))
