"""Start-up recovery: rebuild the live order map from the journal and reconcile it with the broker.

The broker's own status refresh at start spends the order budget and is counted. Orders the
journal has and the broker reports working are adopted with the broker's fills; ones
the broker does not list are queried, and the answer settles them (filled, cancelled, or never
there: reported to strategy and risk either way). A NEW still queued when the last run died never
reached the broker and is reported rejected without a call. Working orders the broker has and the
journal does not (placed by another tool, or journaled by a lost file) are cancelled, or adopted
under strategy "unknown" when config says so, so the kill switch can still reach them.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.enums import BrokerAction, ExecType, OrderStatus, Reason
from services.adapter.amends import AmendCoalescer
from services.adapter.lifecycle import CancelStage, Submission, move_cancel, move_status
from services.adapter.order_manager import OrderManager
from services.adapter.order_map import AmendState, LiveOrder, decode_order

UNKNOWN_STRATEGY = "unknown"


@dataclass(frozen=True, slots=True)
class RecoverySummary:
    from_journal: int
    at_broker: int
    queried: int
    never_sent: int
    unknown_at_broker: int


def recover(manager: OrderManager) -> RecoverySummary:
    spent = _restore_budget(manager)
    journaled = [decode_order(payload) for payload in manager.journal.open_orders()]
    _count_status_refresh(manager)
    at_broker = {state.client_order_id: state for state in manager.broker.open_orders()}
    matched = queried = never_sent = 0
    for order in journaled:
        # Calls in flight or queued died with the last run; their answers, if any, still arrive as events.
        AmendCoalescer.restarted(order)
        if order.cancel in (CancelStage.WAITING, CancelStage.PENDING):
            move_cancel(order, CancelStage.WANTED)
        manager.orders.add(order)
    for order in journaled:
        state = at_broker.pop(order.client_order_id, None)
        if state is not None:
            matched += 1
            manager.answers.apply_status(order, state)
        elif order.submission is Submission.QUEUED:
            never_sent += 1
            _never_sent(manager, order)
        else:
            queried += 1
            manager.query(order)
    for state in at_broker.values():
        order = LiveOrder(
            client_order_id=state.client_order_id, intent_id=state.client_order_id, strategy_id=UNKNOWN_STRATEGY,
            symbol=state.symbol, side=state.side, qty=state.qty, broker_price_e4=state.price_e4,
            submission=Submission.SENT, status=OrderStatus.PENDING_NEW, last_intent_id=state.client_order_id,
            amend=AmendState(asked_price_e4=state.price_e4, sent_price_e4=state.price_e4),
        )
        manager.orders.add(order)
        adopt = manager.config.unknown_broker_orders == "adopt"
        manager.log.warning("unknown_broker_order", client_order_id=state.client_order_id,
                            broker_order_id=state.broker_order_id, action="adopt" if adopt else "cancel",
                            strategy_id=UNKNOWN_STRATEGY, reason=Reason.UNKNOWN_ORDER,
                            stormguard_state=manager.stormguard_level)
        if not adopt:
            move_cancel(order, CancelStage.WANTED)
        manager.answers.apply_status(order, state)
    manager.flush()
    summary = RecoverySummary(len(journaled), matched, queried, never_sent, len(at_broker))
    manager.log.info("recovered", budget_spent=spent, from_journal=summary.from_journal, at_broker=summary.at_broker,
                     queried=summary.queried, never_sent=summary.never_sent,
                     unknown_at_broker=summary.unknown_at_broker)
    return summary


def _restore_budget(manager: OrderManager) -> int:
    """The broker still counts the last run's calls: the limiter must too, or a restart right after
    a burst would spend the budget twice. Journaled commands are counted whether or not they were
    sent (the process may have died between the commit and the call): the safe side."""
    limiter = manager.limiter
    now_wall, now_mono = manager.clock.wall_ns(), manager.clock.mono_ns()
    since_wall = now_wall - limiter.window_ns
    times = [now_mono - (now_wall - wall_ns) for wall_ns in manager.journal.command_times_since(since_wall)]
    limiter.restore(times)
    return len(times)


def _count_status_refresh(manager: OrderManager) -> None:
    """open_orders() refreshes the broker's view with update_status calls, which spend the order
    budget: counted (and journaled, so a restart right after counts them too) before they are made.
    They cannot wait: nothing can be reconciled without them."""
    calls = manager.broker.open_orders_calls
    for _ in range(calls):
        manager.journal.record_command("", BrokerAction.QUERY, b"")
        if not manager.limiter.spend():
            manager.log.warning("budget_over_cap_at_start", calls=calls, in_window=manager.limiter.in_window(),
                                cap=manager.limiter.cap, reason="rate_limited",
                                stormguard_state=manager.stormguard_level)
    manager.journal.commit()


def _never_sent(manager: OrderManager, order: LiveOrder) -> None:
    move_status(order, OrderStatus.REJECTED)
    manager.reports.order(order, ExecType.REJECT, reason=Reason.STALE_INTENT,
                         detail="still queued for the broker when the adapter stopped: never sent")
    manager.close(order)
