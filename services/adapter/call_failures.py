"""CallFailures: what the order manager does when a broker call raises or goes unanswered, and how the
circuit breaker hears of it.

- A call that raised gives its budget slot back only if it provably never left the process
  (`BrokerError(sent=False)`); the broker's rate-limit and unknown-outcome errors always keep it.
- An unknown outcome is never resent: the order is queried, and a NEW is unresolved meanwhile.
- A NEW with no answer in time is reported failed but tracked (unresolved) and queried; a price
  amend or a cancel goes once more; a cut never does; a query goes once more, then the sweep asks.
- Timeouts and rejects feed the breaker; the broker's rate-limit or session errors trip it at once.
  Opening cancels every working order; the broker taking the half-open probe closes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.enums import ExecType, OrderStatus, Reason
from services.adapter.broker_calls import KIND_OF, CallKind, PendingCall, SentCall
from services.adapter.brokers.base import BrokerError, BrokerOutcomeUnknown, BrokerRateLimited, BrokerSessionDown
from services.adapter.lifecycle import CancelStage, Submission, move_cancel, move_status, move_submission
from services.adapter.order_map import LiveOrder
from services.adapter.rate_limiter import Priority

if TYPE_CHECKING:
    from services.adapter.order_manager import OrderManager

_KEEP_SLOT = (BrokerRateLimited, BrokerOutcomeUnknown)  # the broker may have counted these whatever they say


class CallFailures:
    def __init__(self, manager: OrderManager) -> None:
        self.manager = manager

    def call_failed(self, call: PendingCall, error: BrokerError, cause: Exception | None = None) -> None:
        manager, order, action = self.manager, call.order, call.action
        kind = KIND_OF[action]
        unknown = isinstance(error, BrokerOutcomeUnknown)
        slot_back = not error.sent and not isinstance(error, _KEEP_SLOT)
        if slot_back:
            manager.limiter.release(call.grant)
        manager.metrics.broker_errors.labels(type(cause or error).__name__).inc()
        manager.log.warning("broker_call_failed", client_order_id=order.client_order_id,
                            intent_id=order.last_intent_id, strategy_id=order.strategy_id, call=action,
                            error=str(error), reason=type(error).__name__, budget_slot_returned=slot_back,
                            stormguard_state=manager.stormguard_level)
        if kind is CallKind.AMEND:
            manager.amends.failed(order, action, unknown)
        elif kind is CallKind.CANCEL:
            move_cancel(order, CancelStage.WANTED)
        if isinstance(error, BrokerRateLimited | BrokerSessionDown):
            self.breaker_changed(manager.breaker.trip(f"{type(error).__name__}: {error}"))
        elif not unknown:
            self.breaker_changed(manager.breaker.record_failure(str(error)))
        if unknown:
            if kind is CallKind.PLACE:
                self.unresolve(order, f"outcome unknown: {error}")
            if kind is not CallKind.QUERY:  # a query that failed so is not asked again at once: the sweep asks
                manager.query(order)
            return
        if kind is CallKind.PLACE:
            move_status(order, OrderStatus.REJECTED)
            reason = Reason.RATE_LIMITED if isinstance(error, BrokerRateLimited) else (
                Reason.CIRCUIT_OPEN if isinstance(error, BrokerSessionDown) else Reason.BROKER_REJECT)
            manager.reports.order(order, ExecType.REJECT, reason=reason, detail=str(error))
            manager.close(order)
        elif kind is CallKind.AMEND:
            manager.reports.order(order, ExecType.AMEND_REJECT, reason=Reason.BROKER_REJECT, detail=str(error))
            manager.save(order)
        elif kind is CallKind.CANCEL:
            manager.save(order)  # the cancel stays wanted: the sweep cancels again

    def timed_out(self, call: SentCall) -> None:
        manager = self.manager
        order = manager.orders.get(call.client_order_id)
        manager.metrics.timeouts.labels(call.kind).inc()
        if order is None:
            return
        manager.log.warning("broker_timeout", client_order_id=order.client_order_id, intent_id=order.last_intent_id,
                            strategy_id=order.strategy_id, call=call.kind, attempt=call.attempt,
                            reason=Reason.BROKER_TIMEOUT, stormguard_state=manager.stormguard_level)
        self.breaker_changed(manager.breaker.record_failure(f"{call.action} timed out"))
        if call.kind is CallKind.PLACE:
            self.unresolve(order, "no answer from the broker in time")
            manager.query(order)
        elif call.kind is CallKind.QUERY:
            if call.attempt == 1:
                manager.metrics.retries.labels(call.kind).inc()
                manager.query(order, attempt=2)  # later on, the sweep asks while the order needs settling
        elif call.kind is CallKind.AMEND:
            manager.amends.timed_out(order, call)
        else:
            self._cancel_timed_out(order, call)
        manager.flush()

    def _cancel_timed_out(self, order: LiveOrder, call: SentCall) -> None:
        manager = self.manager
        move_cancel(order, CancelStage.WANTED)
        grant = manager.calls.acquire(Priority.URGENT) if call.attempt == 1 else None
        if grant is not None:
            manager.metrics.retries.labels(call.kind).inc()
            manager.send_cancel(order, grant, attempt=2)
            return
        manager.reports.order(order, ExecType.CANCEL_REJECT, reason=Reason.BROKER_TIMEOUT,
                              detail="no answer to the cancel, retried once; the adapter keeps trying")
        manager.query(order)

    def unresolve(self, order: LiveOrder, detail: str) -> None:
        """Report a NEW failed to strategy and risk, but keep tracking it until the broker settles it."""
        if order.submission is Submission.UNRESOLVED:
            return
        move_submission(order, Submission.UNRESOLVED)
        manager = self.manager
        manager.metrics.unresolved.inc()
        manager.reports.order(order, ExecType.REJECT, reason=Reason.BROKER_TIMEOUT,
                              detail=f"{detail}; tracked until the broker settles it", status=OrderStatus.REJECTED)
        manager.save(order)

    def breaker_changed(self, opened: bool) -> None:
        if not opened:
            return
        manager = self.manager
        manager.metrics.breaker_opened.inc()
        manager.log.error("circuit_breaker_open", reason=manager.breaker.reason,
                          stormguard_state=manager.stormguard_level)
        manager.cancel_all("circuit breaker open")
        manager.on_usage_change()

    def broker_took_new(self) -> None:
        """The broker took a NEW (its ack, a deal before the ack, a status showing it): in HALF_OPEN
        with the probe let through, that closes the breaker."""
        manager = self.manager
        if manager.breaker.record_success():
            manager.probe_id = None
            manager.log.info("circuit_breaker_closed", stormguard_state=manager.stormguard_level)
            manager.on_usage_change()

