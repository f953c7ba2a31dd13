"""CircuitBreaker: stops new orders while the broker is failing, then lets one probe order test it.

The adapter records the outcome of each order it sends. CLOSED counts timeouts and rejects in a
sliding window (a failure at mono time t counts from t up to, but not including, t + window_ns);
`failures` of them within the window open the breaker. Some errors (the broker's rate limit, the
session going down) open it at once through `trip`. OPEN refuses new orders (cancels are not its
business) until `cooldown_ns` after it opened; it then reads HALF_OPEN and lets exactly one probe
order through: the probe's success closes it with an empty failure window, its failure opens it
again with a fresh cooldown. A probe that never answers is the caller's to time out and record;
one that never reached the broker is given back with `release_probe`.

The breaker does not match outcomes to orders: in HALF_OPEN a success closes it only once the
probe has been let through, while any failure reopens it, probe or not (the safe side). While
OPEN, outcomes of orders sent before it opened change nothing; only `trip` restarts the cooldown.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

from services.runtime.clock import Clock


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, clock: Clock, failures: int, window_ns: int, cooldown_ns: int) -> None:
        if failures <= 0:
            raise ValueError(f"failures must be positive, got {failures}")
        if window_ns <= 0:
            raise ValueError(f"window_ns must be positive, got {window_ns}")
        if cooldown_ns <= 0:
            raise ValueError(f"cooldown_ns must be positive, got {cooldown_ns}")
        self.clock = clock
        self.failures = failures
        self.window_ns = window_ns
        self.cooldown_ns = cooldown_ns
        self.reason = ""  # why it last opened; "" until it first does
        self.opened_at_ns = 0  # mono_ns at which it last opened; 0 until it first does
        self._state = BreakerState.CLOSED
        self._failed_at: deque[int] = deque()  # CLOSED only: failures in the window, at most `failures`
        self._probe_in_flight = False  # HALF_OPEN only

    @property
    def state(self) -> BreakerState:
        """The state as of now: OPEN reads HALF_OPEN once cooldown_ns have passed since it opened."""
        if self._state is BreakerState.OPEN and self.clock.mono_ns() - self.opened_at_ns >= self.cooldown_ns:
            self._state = BreakerState.HALF_OPEN
        return self._state

    def allow_new(self) -> bool:
        """Whether a new order may go to the broker now; in HALF_OPEN, True once, for the probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> bool:
        """An order the broker accepted; True when it was the probe's and so closed the breaker."""
        if self.state is BreakerState.HALF_OPEN and self._probe_in_flight:
            self._state = BreakerState.CLOSED  # the failure window was emptied when it opened
            return True
        return False

    def record_failure(self, reason: str) -> bool:
        """A timeout or reject; True when it opened the breaker (from CLOSED, or again from HALF_OPEN)."""
        state = self.state
        if state is BreakerState.OPEN:
            return False
        if state is BreakerState.HALF_OPEN:
            self._open(reason)
            return True
        now_ns = self.clock.mono_ns()
        failed_at = self._failed_at
        failed_at.append(now_ns)
        horizon = now_ns - self.window_ns
        while failed_at[0] <= horizon:
            failed_at.popleft()
        if len(failed_at) >= self.failures:
            self._open(reason)
            return True
        return False

    def trip(self, reason: str) -> bool:
        """Open now, whatever the failure count; True if it was not already OPEN (if it was, the cooldown restarts)."""
        was_open = self.state is BreakerState.OPEN
        self._open(reason)
        return not was_open

    def release_probe(self) -> None:
        """The probe never reached the broker (refused while it waited, cancelled first, or not there
        when asked): the next new order may probe instead. Nothing unless HALF_OPEN."""
        if self.state is BreakerState.HALF_OPEN:
            self._probe_in_flight = False

    def _open(self, reason: str) -> None:
        self._state = BreakerState.OPEN
        self.reason = reason
        self.opened_at_ns = self.clock.mono_ns()
        self._failed_at.clear()
        self._probe_in_flight = False
