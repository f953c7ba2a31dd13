"""Handover: what a foreign thread (the Shioaji SDK's) hands to a service's loop thread.

The SDK calls its callbacks on threads of its own. They only `post` an item here: it goes on a
thread-safe queue and a wake-up frame goes on an inproc PAIR socket that the loop polls like any
other socket (`loop.add_reader(handover.socket, handover.on_wake)`); the loop thread then gives
every queued item to the consumer, in the order they were posted. So nothing the service owns is
ever touched from the SDK's thread.

A wake-up that finds the PAIR full is dropped: one still queued is enough, because an item is
always queued before its wake-up is sent and every wake-up drains the whole queue.

The pair lives in a zmq context of its own, closed with the handover: the service's context is
terminated when its loop ends, and would wait for ever on sockets it does not know it should close.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import zmq

T = TypeVar("T")

_names = itertools.count()
WAKE_HWM = 16


class Handover(Generic[T]):
    def __init__(self, consumer: Callable[[T], None]) -> None:
        endpoint = f"inproc://handover-{next(_names)}"
        self._context = zmq.Context()
        self._consumer = consumer
        self._items: queue.SimpleQueue[T] = queue.SimpleQueue()
        self._send_lock = threading.Lock()  # a zmq socket is not thread-safe; posters may be several threads
        self._closed = False
        self.socket = self._context.socket(zmq.PAIR)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, WAKE_HWM)
        self.socket.bind(endpoint)
        self._wake = self._context.socket(zmq.PAIR)
        self._wake.setsockopt(zmq.LINGER, 0)
        self._wake.setsockopt(zmq.SNDHWM, WAKE_HWM)
        self._wake.connect(endpoint)

    def post(self, item: T) -> None:
        """Any thread: queue `item` for the consumer and wake the loop; dropped once closed (an SDK may
        still call back while its owner shuts down)."""
        with self._send_lock, contextlib.suppress(zmq.Again):
            if self._closed:
                return
            self._items.put(item)
            self._wake.send(b"", zmq.NOBLOCK)

    def on_wake(self, frames: list[bytes]) -> None:
        """Loop thread: the reader registered for `socket`."""
        self.drain()

    def drain(self) -> int:
        """Loop thread: give every queued item to the consumer; returns how many."""
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
        with self._send_lock:
            self._closed = True
            self._wake.close()
        self.socket.close()
        self._context.term()
