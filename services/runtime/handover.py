"""Handover: what a foreign thread (the Shioaji SDK's) hands to a service's loop thread.

The SDK calls its callbacks on threads of its own. They only `post` an item here: it goes on a
thread-safe queue and, unless one is already on its way, a wake-up frame goes on an inproc PAIR
socket that the loop polls like any other socket (`loop.add_reader(handover.socket,
handover.on_wake)`); the loop thread then gives every queued item to the consumer, in the order they
were posted. So nothing the service owns is ever touched from the SDK's thread.

At most one wake-up is in flight: the loop clears the flag before it drains, so an item posted
after that sends a new one, and an item posted before it is drained now. A wake-up is never
dropped for a full pipe (zmq only learns late that a reader has emptied it, and a dropped last
wake-up would strand the items behind it).

The pair lives in a zmq context of its own, closed with the handover: the service's context is
terminated when its loop ends, and would wait for ever on sockets it does not know it should close.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import zmq

T = TypeVar("T")

_names = itertools.count()


class Handover(Generic[T]):
    def __init__(self, consumer: Callable[[T], None]) -> None:
        endpoint = f"inproc://handover-{next(_names)}"
        self._context = zmq.Context()
        self._consumer = consumer
        self._items: queue.SimpleQueue[T] = queue.SimpleQueue()
        self._lock = threading.Lock()  # a zmq socket is not thread-safe; posters may be several threads
        self._wake_sent = False
        self._closed = False
        self.socket = self._context.socket(zmq.PAIR)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(endpoint)
        self._wake = self._context.socket(zmq.PAIR)
        self._wake.setsockopt(zmq.LINGER, 0)
        self._wake.connect(endpoint)

    def post(self, item: T) -> None:
        """Any thread: queue `item` for the consumer and wake the loop; dropped once closed (an SDK may
        still call back while its owner shuts down)."""
        with self._lock:
            if self._closed:
                return
            self._items.put(item)
            if not self._wake_sent:
                self._wake_sent = True
                self._wake.send(b"")

    def on_wake(self, frames: list[bytes]) -> None:
        """Loop thread: the reader registered for `socket`."""
        self.drain()

    def drain(self) -> int:
        """Loop thread: give every queued item to the consumer; returns how many."""
        with self._lock:
            self._wake_sent = False
        handed = 0
        while True:
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                return handed
            self._consumer(item)
            handed += 1

    def pump(self, timeout_ms: int) -> int:
        """Wait up to `timeout_ms` for a wake-up, then drain (for a caller that runs no ServiceLoop)."""
        if self.socket.poll(timeout_ms):
            while self.socket.poll(0):
                self.socket.recv()
        return self.drain()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.close()
        self.socket.close()
        self._context.term()
