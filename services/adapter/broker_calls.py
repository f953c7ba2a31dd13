"""Broker calls: the budget gate in front of the broker, the queue behind it, and the calls in flight.

Every call that spends Shioaji's order budget asks the RateLimiter for a slot first. When there is
none, the work waits in a queue (urgent work — cancels, the kill switch — ahead of normal work)
and runs, in order, as slots free up; queued work is a value (`WaitingWork`: what kind, for which
order) that its owner re-decides at run time, so an amend that waited sends only the newest price,
and a NEW cancelled while it waited is never sent. While anything waits, new normal work queues
behind it: a NEW is never overtaken by a later amend of the same order.

A call decided and journaled is a `PendingCall` (action, order, argument, grant, attempt) until
the journal has committed and it is made. Each call made gets a deadline; an answer settles the
oldest call of its kind for the order (of its action too, when the answer names it: an amend's
update_price or update_qty), and a call still unsettled at its deadline comes back to the owner
through `on_timeout`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from contracts.enums import BrokerAction
from contracts.messages import OrderCommand
from services.adapter.order_map import LiveOrder
from services.adapter.rate_limiter import Grant, Priority, RateLimiter
from services.adapter.timers import TimerHandle, Timers
from services.runtime.clock import Clock


class CallKind(StrEnum):
    """What an answer settles: an amend's answer settles an update_price or an update_qty."""

    PLACE = "place"
    AMEND = "amend"
    CANCEL = "cancel"
    QUERY = "query"


KIND_OF = {BrokerAction.PLACE: CallKind.PLACE, BrokerAction.UPDATE_PRICE: CallKind.AMEND,
           BrokerAction.UPDATE_QTY: CallKind.AMEND, BrokerAction.CANCEL: CallKind.CANCEL,
           BrokerAction.QUERY: CallKind.QUERY}


@dataclass(slots=True)
class WaitingWork:
    """Work waiting for a budget slot; what it sends is decided when it runs. `command` is a NEW's."""

    kind: CallKind
    order: LiveOrder
    attempt: int = 1
    command: OrderCommand | None = None


@dataclass(slots=True)
class PendingCall:
    """A broker call decided and journaled, made once the journal has committed. `argument`: the NEW's
    command, an update_price's price, an update_qty's lots off; `ingest_ns`: its market event's time when
    a command sends it in its own turn (tick-to-trade), else 0."""

    action: BrokerAction
    order: LiveOrder
    grant: Grant
    argument: OrderCommand | int | None = None
    attempt: int = 1
    ingest_ns: int = 0


@dataclass(slots=True)
class SentCall:
    """A broker call awaiting its answer."""

    kind: CallKind
    client_order_id: str
    attempt: int
    action: BrokerAction
    deadline: TimerHandle | None = None


class BrokerCalls:
    def __init__(
        self,
        clock: Clock,
        timers: Timers,
        limiter: RateLimiter,
        timeouts_ns: dict[CallKind, int],
        run_waiting: Callable[[WaitingWork], None],
        on_timeout: Callable[[SentCall], None],
        after_waiting: Callable[[], None],
    ) -> None:
        self.clock = clock
        self.timers = timers
        self.limiter = limiter
        self.timeouts_ns = timeouts_ns
        self.run_waiting = run_waiting
        self.on_timeout = on_timeout
        self.after_waiting = after_waiting
        self._waiting: dict[Priority, deque[WaitingWork]] = {Priority.URGENT: deque(), Priority.NORMAL: deque()}
        self._waiting_for: dict[tuple[str, CallKind], int] = {}
        self._drain: TimerHandle | None = None
        self._drain_at_ns = 0
        self._in_waiting_work = False
        self._in_flight: dict[tuple[str, CallKind], deque[SentCall]] = {}

    # -- the budget gate

    def acquire(self, priority: Priority) -> Grant | None:
        """A slot for one call now, unless work of the same or higher priority is already waiting."""
        if not self._in_waiting_work and (
            self._waiting[Priority.URGENT] or (priority is Priority.NORMAL and self._waiting[Priority.NORMAL])
        ):
            return None
        return self.limiter.acquire(priority)

    def wait(self, priority: Priority, work: WaitingWork) -> None:
        """Hand `work` to `run_waiting` once a slot of this priority is free; it calls `acquire` again and
        gets it."""
        self._waiting[priority].append(work)
        key = (work.order.client_order_id, work.kind)
        self._waiting_for[key] = self._waiting_for.get(key, 0) + 1
        self._schedule_drain()

    def is_waiting(self, client_order_id: str, kind: CallKind) -> bool:
        return (client_order_id, kind) in self._waiting_for

    @property
    def waiting(self) -> int:
        return len(self._waiting[Priority.URGENT]) + len(self._waiting[Priority.NORMAL])

    def drop_waiting(self) -> int:
        """The adapter is stopping: forget all work still waiting for a slot, so none runs after its owner
        answered for it; how much there was."""
        dropped = self.waiting
        for queue in self._waiting.values():
            queue.clear()
        self._waiting_for.clear()
        return dropped

    def _schedule_drain(self) -> None:
        priority = Priority.URGENT if self._waiting[Priority.URGENT] else Priority.NORMAL
        if not self._waiting[priority]:
            return
        due_ns = self.limiter.next_slot_ns(priority)
        if self._drain is not None and self._drain.pending:
            if self._drain_at_ns <= due_ns:
                return
            self._drain.cancel()
        self._drain_at_ns = due_ns
        self._drain = self.timers.call_later(due_ns - self.clock.mono_ns(), self._run_due)

    def _run_due(self) -> None:
        ran = False
        for priority in (Priority.URGENT, Priority.NORMAL):
            queue = self._waiting[priority]
            while queue and self.limiter.next_slot_ns(priority) <= self.clock.mono_ns():
                work = queue.popleft()
                key = (work.order.client_order_id, work.kind)
                left = self._waiting_for[key] - 1
                if left:
                    self._waiting_for[key] = left
                else:
                    del self._waiting_for[key]
                # The work's own acquire must not see the work queued behind it as ahead of it.
                self._in_waiting_work = True
                try:
                    self.run_waiting(work)
                finally:
                    self._in_waiting_work = False
                ran = True
            if queue:
                break
        self._schedule_drain()
        if ran:
            self.after_waiting()

    # -- calls in flight

    def sent(self, call: PendingCall) -> None:
        """Start the clock on a call just handed to the broker."""
        kind = KIND_OF[call.action]
        sent = SentCall(kind, call.order.client_order_id, call.attempt, call.action)
        self._in_flight.setdefault((sent.client_order_id, kind), deque()).append(sent)
        sent.deadline = self.timers.call_later(self.timeouts_ns[kind], lambda: self._expire(sent))

    def settle(self, client_order_id: str, kind: CallKind, action: BrokerAction | None = None) -> SentCall | None:
        """The broker answered the oldest call of this kind for the order (of this `action` when the answer
        says which): that call; None if none was in flight."""
        calls = self._in_flight.get((client_order_id, kind))
        if not calls:
            return None
        if action is None:
            call = calls.popleft()
        else:
            call = next((c for c in calls if c.action is action), None)
            if call is None:
                return None
            calls.remove(call)
        if not calls:
            del self._in_flight[(client_order_id, kind)]
        if call.deadline is not None:
            call.deadline.cancel()
        return call

    def settle_all(self, client_order_id: str) -> None:
        """The order is finished: nothing more will answer for it."""
        for kind in CallKind:
            while self.settle(client_order_id, kind) is not None:
                pass

    def in_flight(self, client_order_id: str, kind: CallKind) -> int:
        return len(self._in_flight.get((client_order_id, kind), ()))

    def _expire(self, call: SentCall) -> None:
        calls = self._in_flight[(call.client_order_id, call.kind)]
        calls.remove(call)
        if not calls:
            del self._in_flight[(call.client_order_id, call.kind)]
        self.on_timeout(call)
