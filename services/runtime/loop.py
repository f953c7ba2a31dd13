"""The one loop every service runs: a poller over its sockets, dispatch, and timers.

Each ready socket is drained with NOBLOCK until it has nothing left (bounded per turn so one
flooded socket cannot starve the others): measured here, one poll per message cost 30–40 % of throughput.
Signals wake the poller through a self-pipe, so SIGTERM stops a service at once, not at the
next timer; timers wake it through a timerfd, so they fire on time to the microsecond rather
than the millisecond (services/runtime/timerfd.py has the measurement).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any

import zmq

from services.runtime.clock import Clock
from services.runtime.sockets import EVENTS, NOBLOCK, POLLIN
from services.runtime.timerfd import make_timerfd

FrameHandler = Callable[[list[bytes]], None]
BatchHandler = Callable[[list[list[bytes]]], None]

MAX_DRAIN_PER_TURN = 512


class ServiceLoop:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._poller = zmq.Poller()
        self._handlers: dict[zmq.Socket, FrameHandler] = {}
        self._batch_handlers: dict[zmq.Socket, BatchHandler] = {}
        self._timers: list[tuple[int, int, Callable[[], None]]] = []
        self._idle: list[Callable[[], None]] = []
        self._after_turn: Callable[[], None] | None = None
        self._order = itertools.count()
        self._stop_requested = False
        self._previous_handlers: dict[int, Any] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._poller.register(self._wake_r.fileno(), zmq.POLLIN)
        self._timerfd = make_timerfd()
        self._armed_due: int | None = None
        if self._timerfd is not None:
            self._poller.register(self._timerfd.fd, zmq.POLLIN)

    def add_reader(self, sock: zmq.Socket, handler: FrameHandler) -> None:
        self._handlers[sock] = handler
        self._poller.register(sock, zmq.POLLIN)

    def remove_reader(self, sock: zmq.Socket) -> None:
        """Stop reading `sock` (before it is closed). Not while this turn's ready sockets are being read:
        from a timer."""
        self._handlers.pop(sock, None)
        self._batch_handlers.pop(sock, None)
        self._poller.unregister(sock)

    def add_batch_reader(self, sock: zmq.Socket, handler: BatchHandler) -> None:
        """Like add_reader, but `handler` gets everything drained in one turn at once (a backlog
        can then be checked as one batch)."""
        self._batch_handlers[sock] = handler
        self._poller.register(sock, zmq.POLLIN)

    def call_later(self, delay_ns: int, callback: Callable[[], None]) -> None:
        """Run `callback` once, on the loop thread, no sooner than `delay_ns` from now."""
        self._call_at(self.clock.mono_ns() + max(0, delay_ns), callback)

    def _call_at(self, due_ns: int, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (due_ns, next(self._order), callback))

    def after_each_turn(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every turn (one at most: it runs on every message batch, so it must be cheap)."""
        self._after_turn = callback

    def when_idle(self, callback: Callable[[], None]) -> None:
        """Run `callback` once, at the first turn that finds no socket ready: work that may wait for a quiet
        moment but should not delay a message (the adapter journal's checkpoint)."""
        self._idle.append(callback)

    def every(self, interval_ns: int, callback: Callable[[], None]) -> None:
        """Run `callback` every `interval_ns`, first after one interval.

        Each run is scheduled from the previous one's due time, not from when it ran, so the
        period does not drift by the wake-up latency; after a stall longer than one interval the
        missed runs are skipped rather than fired in a burst.
        """
        due_ns = self.clock.mono_ns() + interval_ns

        def tick() -> None:
            nonlocal due_ns
            due_ns += interval_ns
            now = self.clock.mono_ns()
            if due_ns <= now:
                due_ns = now + interval_ns
            self._call_at(due_ns, tick)
            callback()

        self._call_at(due_ns, tick)

    def stop(self) -> None:
        """End the current run, or the next one at once if none is running yet: SIGTERM can arrive
        between the handlers' installation and run(), while start-up's heap is collected."""
        self._stop_requested = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def install_signal_handlers(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        """These signals (SIGINT and SIGTERM by default) stop the loop cleanly (the service then says
        goodbye and closes); close() gives them back their previous handlers, so a second Ctrl-C
        during what follows the loop is not swallowed."""
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        for signum in signals:
            self._previous_handlers[signum] = signal.signal(signum, lambda *_: self.stop())

    def _timeout_ms(self) -> int | None:
        """How long poll may sleep: until the next timer, which the timerfd (if any) marks exactly."""
        if not self._timers:
            return None
        due = self._timers[0][0]
        remaining_ns = due - self.clock.mono_ns()
        if remaining_ns <= 0:
            return 0
        if self._timerfd is None:
            return -(-remaining_ns // 1_000_000)
        if self._armed_due != due:
            self._timerfd.arm(remaining_ns)
            self._armed_due = due
        return None

    def _run_due_timers(self) -> None:
        """Run what was due when this turn began; what those callbacks schedule waits for a later turn."""
        now = self.clock.mono_ns()
        due: list[Callable[[], None]] = []
        while self._timers and self._timers[0][0] <= now:
            due.append(heapq.heappop(self._timers)[2])
        for callback in due:
            if self._stop_requested:
                return
            callback()

    def run(self) -> None:
        handlers = self._handlers
        while not self._stop_requested:
            ready = self._poller.poll(0 if self._idle else self._timeout_ms())
            if not ready and self._idle:
                idle, self._idle = self._idle, []
                for callback in idle:
                    callback()
            for sock, _ in ready:
                if isinstance(sock, int):
                    self._drain_fd(sock)
                    continue
                handler = handlers.get(sock)
                if handler is None:
                    self._batch_handlers[sock](list(drain(sock)))
                    continue
                for frames in drain(sock):
                    handler(frames)
            self._run_due_timers()
            if self._after_turn is not None:
                self._after_turn()
        self._stop_requested = False

    def _drain_fd(self, fd: int) -> None:
        if self._timerfd is not None and fd == self._timerfd.fd:
            self._timerfd.clear()
            self._armed_due = None
            return
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass

    def close(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()
        signal.set_wakeup_fd(-1)
        self._wake_r.close()
        self._wake_w.close()
        if self._timerfd is not None:
            self._timerfd.close()


def drain(sock: zmq.Socket) -> Iterator[list[bytes]]:
    """What is queued on a ready socket, at most MAX_DRAIN_PER_TURN messages; asking EVENTS whether
    more is waiting costs much less than a last recv that raises Again."""
    for _ in range(MAX_DRAIN_PER_TURN):
        try:
            yield sock.recv_multipart(NOBLOCK)
        except zmq.Again:
            return
        if not sock.get(EVENTS) & POLLIN:
            return
