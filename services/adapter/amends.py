"""AmendCoalescer: a strategy's AMENDs of one order into as few update_price / update_qty calls as keep it right.

It owns each order's amend sub-state (`LiveOrder.amend`, an AmendState) and the coalescing window
timers. Its promises (docs/adapter.md, "Amends"):
- while the previous amend is unanswered and younger than the window, a new one only replaces
  what is wanted; the newest goes out when the answer comes or the window passes; before the
  NEW's ack nothing goes;
- an amend that changes nothing — against the price last sent, where the broker ends once it
  answers — sends nothing, and is answered at once unless an answer still to come will do it;
- AMEND.qty is the leaves wanted: less than the order's leaves is a cut (Shioaji only reduces),
  one at a time; more than the original quantity is refused (qty_increase);
- a price amend that timed out goes once more, as the newest price asked for; a cut never does
  (a second could cut twice): the order is queried and its answer says what the cut did.

The pending-amend stages (`AmendStage`) are read off the sub-state and the budget queue.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from contracts.enums import BrokerAction, ExecType, OrderStatus, Reason
from contracts.messages import OrderCommand
from services.adapter.broker_calls import BrokerCalls, CallKind, PendingCall, SentCall, WaitingWork
from services.adapter.brokers.base import BrokerEvent
from services.adapter.lifecycle import CancelStage
from services.adapter.metrics import AdapterMetrics
from services.adapter.order_map import LiveOrder, OrderMap
from services.adapter.order_reports import OrderReports
from services.adapter.rate_limiter import Grant, Priority
from services.adapter.timers import TimerHandle, Timers
from services.runtime.clock import Clock


class AmendStage(StrEnum):
    NONE = "none"  # nothing asked that is not answered
    COALESCING = "coalescing"  # asked, held: for the NEW's ack, the window, or a cut's answer
    WAITING = "waiting"  # asked, queued for the order budget
    PENDING = "pending"  # sent, unanswered, nothing newer asked


class AmendHost(Protocol):
    """What the coalescer needs of the order manager."""

    def save(self, order: LiveOrder) -> None: ...

    def send(self, call: PendingCall) -> None: ...

    def query(self, order: LiveOrder, attempt: int = 1) -> None: ...

    def flush(self) -> None: ...


class AmendCoalescer:
    def __init__(
        self,
        clock: Clock,
        timers: Timers,
        calls: BrokerCalls,
        orders: OrderMap,
        reports: OrderReports,
        metrics: AdapterMetrics,
        coalesce_window_ns: int,
        host: AmendHost,
    ) -> None:
        self.clock = clock
        self.timers = timers
        self.calls = calls
        self.orders = orders
        self.reports = reports
        self.metrics = metrics
        self.coalesce_window_ns = coalesce_window_ns
        self.host = host
        self._windows: dict[str, TimerHandle] = {}

    def stage(self, order: LiveOrder) -> AmendStage:
        """Where the order's amends stand (docs/adapter.md, "Order lifecycle")."""
        amend = order.amend
        if amend.unsent:
            waiting = self.calls.is_waiting(order.client_order_id, CallKind.AMEND)
            return AmendStage.WAITING if waiting else AmendStage.COALESCING
        return AmendStage.PENDING if amend.in_flight else AmendStage.NONE

    # -- a strategy's AMEND

    def amend(self, order: LiveOrder, command: OrderCommand) -> None:
        """An AMEND of a live order that is not being cancelled."""
        amend = order.amend
        if command.qty > order.qty:
            self.reports.refuse(command, Reason.QTY_INCREASE,
                                f"Shioaji can only reduce quantity ({order.qty} → {command.qty}): "
                                "cancel and send a new order")
            return
        # A cut on its way already takes the order down to cut_to_leaves: asking for those again is no change.
        leaves_qty = order.leaves_qty if amend.cut_to_leaves is None else min(order.leaves_qty, amend.cut_to_leaves)
        unsent_leaves = command.qty if command.qty < leaves_qty else None
        if unsent_leaves is None and command.price_e4 == amend.asked_price_e4 and amend.sent_price_e4 is not None:
            self._unchanged(order, command.intent_id)
            return
        if amend.unsent:
            self.metrics.amends_coalesced.inc()
        amend.unsent_price_e4 = command.price_e4
        amend.deadline_ns = command.deadline_ns
        amend.asked_price_e4 = command.price_e4
        if unsent_leaves is not None:
            amend.unsent_leaves = unsent_leaves
        order.last_intent_id = command.intent_id
        if order.status is OrderStatus.PENDING_NEW:
            self.host.save(order)
            return
        due_ns = amend.last_sent_ns + self.coalesce_window_ns
        if amend.in_flight and self.clock.mono_ns() < due_ns:
            if order.client_order_id not in self._windows:
                self._windows[order.client_order_id] = self.timers.call_later(
                    due_ns - self.clock.mono_ns(), lambda: self._window_passed(order))
            self.host.save(order)
            return
        # Sent in the same turn as its command: tick-to-trade applies (a coalesced amend sent later does not).
        self.send_unsent(order, ingest_ns=command.ingest_ts_ns)

    def _window_passed(self, order: LiveOrder) -> None:
        del self._windows[order.client_order_id]
        self.send_unsent(order)
        self.host.flush()

    def send_unsent(self, order: LiveOrder, ingest_ns: int = 0) -> None:
        """Send what the order still wants, if it can go now: a lower quantity first, then the newest price.
        `ingest_ns`: the market event time of the AMEND being handled, when this is its own turn."""
        amend = order.amend
        if not amend.unsent:
            return
        if order.client_order_id not in self.orders.live or not order.working or order.cancel is not CancelStage.NONE:
            amend.drop_unsent()
            return
        if order.status is OrderStatus.PENDING_NEW or self.stage(order) is AmendStage.WAITING:
            return
        if self.clock.mono_ns() > amend.deadline_ns:
            amend.drop_unsent()
            self.settle_target(order)
            self.metrics.refused.labels(Reason.STALE_INTENT).inc()
            self.reports.order(order, ExecType.AMEND_REJECT, reason=Reason.STALE_INTENT,
                               detail="the amend waited past its deadline")
            self.host.save(order)
            return
        if amend.unsent_leaves is not None and amend.unsent_leaves >= order.leaves_qty:
            amend.unsent_leaves = None
        if amend.unsent_price_e4 == amend.sent_price_e4:
            amend.unsent_price_e4 = None  # where the broker already is, or will be once it answers
        if not amend.unsent:
            self._unchanged(order)
            self.host.save(order)
            return
        # One cut at a time: a second sent before the first is answered could take the lots off twice.
        if amend.unsent_leaves is not None and amend.cut_to_leaves is None:
            grant = self._slot(order)
            if grant is None:
                return
            amend.cut_to_leaves, amend.unsent_leaves = amend.unsent_leaves, None
            self._send(order, grant, BrokerAction.UPDATE_QTY, order.leaves_qty - amend.cut_to_leaves, ingest_ns)
        if amend.unsent_price_e4 is not None:
            grant = self._slot(order)
            if grant is None:
                return
            amend.sent_price_e4, amend.unsent_price_e4 = amend.unsent_price_e4, None
            self._send(order, grant, BrokerAction.UPDATE_PRICE, amend.sent_price_e4, ingest_ns)
        self.host.save(order)

    def run_waiting(self, work: WaitingWork) -> None:
        """An amend's turn for the budget came: send what the order wants now."""
        self.send_unsent(work.order)

    def _unchanged(self, order: LiveOrder, intent_id: str = "") -> None:
        """An amend to what the order has, or will have once the broker answers: nothing is sent, and
        the strategy is answered at once unless an answer still to come will do it."""
        self.metrics.amends_unchanged.inc()
        if self.stage(order) is not AmendStage.NONE:
            return
        if intent_id:
            order.last_intent_id = intent_id
        self.reports.order(order, ExecType.AMENDED, detail="unchanged: no broker call")

    def settle_target(self, order: LiveOrder) -> None:
        """Nothing wanted and nothing in flight: the order is headed nowhere but the price it has."""
        if order.amend.unsent_price_e4 is None and not order.amend.in_flight:
            order.amend.asked_price_e4 = order.broker_price_e4

    def _slot(self, order: LiveOrder) -> Grant | None:
        grant = self.calls.acquire(Priority.NORMAL)
        if grant is None:
            self.host.save(order)
            self.calls.wait(Priority.NORMAL, WaitingWork(CallKind.AMEND, order))
        return grant

    def _send(self, order: LiveOrder, grant: Grant, action: BrokerAction, argument: int, ingest_ns: int) -> None:
        """update_qty (`argument` lots off) or update_price (to `argument`), the budget slot just granted."""
        amend = order.amend
        amend.in_flight += 1
        amend.last_sent_ns = self.clock.mono_ns()
        # A price amend that timed out goes again as attempt 2.
        attempt = amend.price_attempt if action is BrokerAction.UPDATE_PRICE else 1
        self.host.send(PendingCall(action, order, grant, argument, attempt, ingest_ns))

    # -- what the broker did

    def answered(self, order: LiveOrder, event: BrokerEvent) -> None:
        """An update_price or update_qty answered. An answer that names its call (`event.op`: Shioaji's
        op_type, the simulator's) settles only a call of that kind: the late answer to a price amend that
        timed out and was resent must not settle a cut still on its way, or a second cut could go; nor
        may a cut's late answer settle a price amend in flight. One that does not say is taken by the
        oldest amend in flight, and shows a cut when the quantity went down."""
        amend = order.amend
        action = BrokerAction(event.op) if event.op else None
        call = self.calls.settle(order.client_order_id, CallKind.AMEND, action)
        cut_landed = event.kind is ExecType.AMENDED and (
            action is BrokerAction.UPDATE_QTY if action else 0 < event.qty < order.qty)
        if cut_landed:
            amend.cut_to_leaves = None
        if call is None:
            return  # answers a call that timed out and was dealt with then
        amend.in_flight = max(0, amend.in_flight - 1)
        amend.price_attempt = 1
        if call.action is BrokerAction.UPDATE_QTY:
            amend.cut_to_leaves = None

    def settle_sent(self, order: LiveOrder) -> None:
        """The broker's price is the order's (just answered): with no amend in flight, it is where it ends."""
        if not order.amend.in_flight:
            order.amend.sent_price_e4 = order.broker_price_e4

    def failed(self, order: LiveOrder, action: BrokerAction, unknown: bool) -> None:
        """An amend call raised: whatever it did is settled (`unknown`: the broker may have done it)."""
        amend = order.amend
        amend.in_flight -= 1
        if action is BrokerAction.UPDATE_QTY and not unknown:
            amend.cut_to_leaves = None  # an unknown cut stays held until a query says what it did
        elif action is BrokerAction.UPDATE_PRICE:
            amend.sent_price_e4 = order.broker_price_e4 if not (unknown or amend.in_flight) else None
        self.settle_target(order)

    def timed_out(self, order: LiveOrder, call: SentCall) -> None:
        amend = order.amend
        amend.in_flight = max(0, amend.in_flight - 1)
        if call.action is BrokerAction.UPDATE_QTY:
            # Never sent again: if the cut landed, a second would cut twice. The query says what it did;
            # leaves wanted meanwhile wait for its answer (cut_to_leaves stays).
            self.reports.order(order, ExecType.AMEND_REJECT, reason=Reason.BROKER_TIMEOUT,
                               detail="no answer to the quantity change: the order is queried")
            self.host.query(order)
            return
        amend.sent_price_e4 = None  # the broker may be at either price: the next amend goes out whatever it asks
        if amend.price_attempt == 1:
            # Sent again as the newest price asked for, not the one that timed out: a newer amend may be wanted.
            amend.price_attempt = 2
            self.metrics.retries.labels(call.kind).inc()
            if amend.unsent_price_e4 is None:
                amend.unsent_price_e4 = amend.asked_price_e4
                amend.deadline_ns = max(amend.deadline_ns, self.clock.mono_ns())
            self.send_unsent(order)
            return
        amend.price_attempt = 1
        self.settle_target(order)
        self.reports.order(order, ExecType.AMEND_REJECT, reason=Reason.BROKER_TIMEOUT,
                           detail="no answer to the amend, retried once")
        self.host.query(order)

    def cut_found(self, order: LiveOrder) -> bool:
        """A status answer came: a cut whose answer never came is settled by the broker's quantity in it
        (none is on its way now). Whether there was one."""
        if order.amend.cut_to_leaves is None or self.calls.in_flight(order.client_order_id, CallKind.AMEND):
            return False
        order.amend.cut_to_leaves = None
        return True

    # -- the order's life around it

    def supersede(self, order: LiveOrder) -> None:
        """A cancel or the order's end: what was asked and not sent never will be."""
        if order.amend.unsent:
            self.metrics.amends_superseded.inc()
            order.amend.drop_unsent()
        self._drop_window(order)

    def refuse_unsent_at_stop(self, order: LiveOrder) -> bool:
        """The adapter is stopping: an amend asked and not sent is dropped; whether there was one."""
        if not order.amend.unsent:
            return False
        order.amend.drop_unsent()
        self._drop_window(order)
        self.settle_target(order)
        return True

    def _drop_window(self, order: LiveOrder) -> None:
        window = self._windows.pop(order.client_order_id, None)
        if window is not None:
            window.cancel()

    @staticmethod
    def restarted(order: LiveOrder) -> None:
        """A journaled order after a restart: calls in flight died with the last run, and an amend may
        have landed unseen, so the next one goes out whatever it asks."""
        amend = order.amend
        amend.in_flight = 0
        amend.price_attempt = 1
        amend.cut_to_leaves = None
        amend.sent_price_e4 = None

