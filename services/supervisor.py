"""RestartPolicy: when `orderpath up` starts a service again after it exited, and when it gives up.

The launcher (services/launcher.py) owns the processes; this decides, with an injected clock, so the
backoff and the ceiling are tested without a process or a sleep. A service that exits is started
again after a backoff that doubles with each restart still inside the window (0.5 s, 1 s, 2 s, … up
to the cap); once a restart would be one more than `max_restarts` inside the window, the policy
gives up and the launcher stops the stack, naming the service. A service that stays up longer than
the window has its count, and so its backoff, start again from the first step.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from services.runtime.clock import Clock
from services.runtime.config.supervision import SupervisionConfig


@dataclass(frozen=True, slots=True)
class RestartDue:
    """A restart to make at `due_mono_ns`: the `attempt`-th inside the window, after `delay_ns`."""

    service: str
    due_mono_ns: int
    delay_ns: int
    attempt: int


@dataclass(frozen=True, slots=True)
class GiveUp:
    """One restart too many inside the window: the stack stops."""

    service: str
    restarts: int
    window_ns: int


class RestartPolicy:
    def __init__(self, clock: Clock, config: SupervisionConfig) -> None:
        self.clock = clock
        self.backoff_initial_ns = config.backoff_initial_ms * 1_000_000
        self.backoff_max_ns = config.backoff_max_ms * 1_000_000
        self.max_restarts = config.max_restarts
        self.window_ns = config.window_s * 1_000_000_000
        self._restarts: dict[str, deque[int]] = {}
        self.totals: dict[str, int] = {}
        """Restarts per service since the launcher started, for its summary."""

    def exited(self, service: str) -> RestartDue | GiveUp:
        """`service` has just exited on its own: when to start it again, or that it has restarted too often."""
        now_ns = self.clock.mono_ns()
        recent = self._restarts.setdefault(service, deque())
        while recent and recent[0] <= now_ns - self.window_ns:
            recent.popleft()
        if len(recent) >= self.max_restarts:
            return GiveUp(service, len(recent), self.window_ns)
        delay_ns = min(self.backoff_max_ns, self.backoff_initial_ns << len(recent))
        recent.append(now_ns)
        self.totals[service] = self.totals.get(service, 0) + 1
        return RestartDue(service, now_ns + delay_ns, delay_ns, len(recent))
