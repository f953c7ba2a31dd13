"""Duplicate: the same intent id twice is one order, so the second is refused.

Ids are unique per strategy, so the key is (strategy_id, intent_id). An id is remembered until its
intent's deadline has passed, and no longer: every intent this check sees (NEW and AMEND; risk
approves CANCELs without the chain) is checked for staleness right after it on the same clock
(engine.py, `before_gate`), so a copy arriving after the deadline is refused as stale, remembered
or not. Memory is then the intents of one TTL (intent_ttl_ms, 500 ms by default), not of the
session; `capacity` still caps it, the oldest forgotten first, against deadlines far ahead. The ids
are kept in a deque beside a set, oldest first (why not a dict: docs/performance.md, "Risk's
duplicate memory").
"""

from __future__ import annotations

from collections import deque

from contracts.enums import Reason
from contracts.messages import OrderIntent
from services.risk.validators.base import Rejection
from services.runtime.clock import Clock


class DuplicateValidator:
    def __init__(self, capacity: int, clock: Clock) -> None:
        if capacity <= 0:
            raise ValueError("a duplicate memory needs room for at least one id")
        self.capacity = capacity
        self.clock = clock
        self._seen: set[tuple[str, str]] = set()
        self._order: deque[tuple[int, tuple[str, str]]] = deque()
        """(deadline_ns, key) in arrival order."""

    def __len__(self) -> int:
        return len(self._order)

    def check(self, intent: OrderIntent) -> Rejection | None:
        """Refuse an id seen before its deadline passed; remember a new one until its deadline."""
        order = self._order
        now_ns = self.clock.mono_ns()
        # Arrival order, not deadline order: an id behind a later deadline waits for it (capacity bounds both).
        while order and order[0][0] < now_ns:
            self._seen.discard(order.popleft()[1])
        key = (intent.strategy_id, intent.intent_id)
        if key in self._seen:
            return Rejection(Reason.DUPLICATE_INTENT, f"intent {intent.intent_id} of {intent.strategy_id} seen before")
        if len(order) >= self.capacity:
            self._seen.discard(order.popleft()[1])
        order.append((intent.deadline_ns, key))
        self._seen.add(key)
        return None
