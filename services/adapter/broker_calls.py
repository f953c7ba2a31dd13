"""Broker calls: the budget gate in front of the broker, the queue behind it, and the calls in flight.

Every call that spends Shioaji's order budget asks the RateLimiter for a slot first. When there is
none, the work waits in a queue (urgent work — cancels, the kill switch — ahead of normal work)
and runs, in order, as slots free up; the queued item is a job that re-decides at run time what
to send, so an amend that waited sends only the newest price, and a NEW cancelled while it waited
is never sent. While anything waits, new normal work queues behind it: a NEW is never overtaken
by a later amend of the same order.

Each call sent gets a deadline; an answer settles the oldest call of its kind for the order (of
its action too, when the answer names it: an amend's update_price or update_qty), and a call still
unsettled at its deadline comes back to the owner through `on_timeout`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from services.adapter.rate_limiter import Grant, Priority, RateLimiter
from services.runtime.clock import Clock, Scheduler


class CallKind(StrEnum):
    PLACE = "place"
    AMEND = "amend"
    CANCEL = "cancel"
    QUERY = "query"


@dataclass(slots=True)
class SentCall:
    """A broker call awaiting its answer."""

    token: int
    kind: CallKind
    client_order_id: str
    attempt: int
    action: str  # the Broker method's journal name: an AMEND is update_price or update_qty


Job = Callable[[], None]


class BrokerCalls:
    def __init__(
        self,
        clock: Clock,
        scheduler: Scheduler,
        limiter: RateLimiter,
        timeouts_ns: dict[CallKind, int],
        on_timeout: Callable[[SentCall], None],
        after_jobs: Callable[[], None],
    ) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self.limiter = limiter
        self.timeouts_ns = timeouts_ns
        self.on_timeout = on_timeout
        self.after_jobs = after_jobs
        self._waiting: dict[Priority, deque[Job]] = {Priority.URGENT: deque(), Priority.NORMAL: deque()}
        self._drain_at_ns: int | None = None
        self._in_job = False
        self._in_flight: dict[tuple[str, CallKind], deque[SentCall]] = {}
        self._by_token: dict[int, SentCall] = {}
        self._next_token = 0

    # -- the budget gate

    def acquire(self, priority: Priority) -> Grant | None:
        """A slot for one call now, unless work of the same or higher priority is already waiting."""
        if not self._in_job and (
            self._waiting[Priority.URGENT] or (priority is Priority.NORMAL and self._waiting[Priority.NORMAL])
        ):
            return None
        return self.limiter.acquire(priority)

    def wait(self, priority: Priority, job: Job) -> None:
        """Run `job` once a slot of this priority is free; the job calls `acquire` again and gets it."""
        self._waiting[priority].append(job)
        self._schedule_drain()

    @property
    def waiting(self) -> int:
        return len(self._waiting[Priority.URGENT]) + len(self._waiting[Priority.NORMAL])

    def drop_waiting(self) -> int:
        """The adapter is stopping: forget every job still waiting for a slot, so none runs after its owner
        answered for it; how many there were."""
        dropped = self.waiting
        for queue in self._waiting.values():
            queue.clear()
        return dropped

    def _schedule_drain(self) -> None:
        priority = Priority.URGENT if self._waiting[Priority.URGENT] else Priority.NORMAL
        if not self._waiting[priority]:
            return
        due_ns = self.limiter.next_slot_ns(priority)
        if self._drain_at_ns is not None and self._drain_at_ns <= due_ns:
            return
        self._drain_at_ns = due_ns
        self.scheduler.call_later(due_ns - self.clock.mono_ns(), self._drain)

    def _drain(self) -> None:
        self._drain_at_ns = None
        ran = False
        for priority in (Priority.URGENT, Priority.NORMAL):
            queue = self._waiting[priority]
            while queue and self.limiter.next_slot_ns(priority) <= self.clock.mono_ns():
                job = queue.popleft()
                # The job's own acquire must not see the work queued behind it as ahead of it.
                self._in_job = True
                try:
                    job()
                finally:
                    self._in_job = False
                ran = True
            if queue:
                break
        self._schedule_drain()
        if ran:
            self.after_jobs()

    # -- calls in flight

    def sent(self, kind: CallKind, client_order_id: str, attempt: int = 1, action: str = "") -> None:
        """Start the clock on a call just handed to the broker."""
        self._next_token += 1
        call = SentCall(self._next_token, kind, client_order_id, attempt, action or kind)
        self._in_flight.setdefault((client_order_id, kind), deque()).append(call)
        self._by_token[call.token] = call
        self.scheduler.call_later(self.timeouts_ns[kind], lambda: self._expire(call.token))

    def settle(self, client_order_id: str, kind: CallKind, action: str | None = None) -> SentCall | None:
        """The broker answered the oldest call of this kind for the order (of this `action` when the answer
        says which): that call; None if none was in flight."""
        calls = self._in_flight.get((client_order_id, kind))
        if not calls:
            return None
        if action is None:
            call = calls.popleft()
        else:
            call = next((c for c in calls if c.action == action), None)
            if call is None:
                return None
            calls.remove(call)
        if not calls:
            del self._in_flight[(client_order_id, kind)]
        del self._by_token[call.token]
        return call

    def settle_all(self, client_order_id: str) -> None:
        """The order is finished: nothing more will answer for it."""
        for kind in CallKind:
            while self.settle(client_order_id, kind) is not None:
                pass

    def in_flight(self, client_order_id: str, kind: CallKind) -> int:
        return len(self._in_flight.get((client_order_id, kind), ()))

    def _expire(self, token: int) -> None:
        call = self._by_token.get(token)
        if call is None:
            return
        calls = self._in_flight[(call.client_order_id, call.kind)]
        calls.remove(call)
        if not calls:
            del self._in_flight[(call.client_order_id, call.kind)]
        del self._by_token[token]
        self.on_timeout(call)

