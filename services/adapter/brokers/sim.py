"""SimBroker: the embedded exchange simulator, matching orders against the live md stream.

Matching: an order that crosses the book fills against the displayed levels at their prices
(partially when the book holds less than it wants); liquidity taken from one book is not offered
again until the next market event replaces it. A resting order also fills when a trade prints at
or through its price, up to the printed quantity: queue position is not modelled, so fills are
optimistic. IOC and FOK leave nothing resting (FOK fills in full or not at all).

Calls behave like Shioaji's non-blocking ones (see base.py and ../shared/SHIOAJI.md):

- A call returns at once or raises a BrokerError: BrokerSessionDown while the session is down
  (the call never reaches the broker and is not logged); BrokerRateLimited when the broker's own
  budget is broken or the account is suspended (the call reached it: logged and counted).
- The broker processes calls in the order they were made, each `ack_latency_us` (+ jitter) after
  it, and only then answers, through the scheduler, never inside the call: BrokerEvents through the
  event callback, BrokerOrderStates (query) through the status callback.
- Answers of one call come in this order: ACK, its FILLs, then EXPIRED (IOC/FOK remainder);
  with deals-before-ack the FILLs come first. A timed-out call is processed on time (the order
  is live and matches) but its answers come `late_answer_ms` after the call, so later md fills and
  other calls' answers overtake them. A duplicate comes again one `ack_latency_us` later, with the
  same exec_id for a fill. Answers due while the session is down are lost, as Shioaji does not
  replay callbacks: query the orders after the session is back.
- Fills of resting orders caused by a market event are delivered inside `on_market`.

Every FILL has an exec_id, `<broker_order_id>-<deal number>`, unique per deal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from contracts.enums import BrokerAction, ExecType, OrderStatus, PriceType, Side, TimeInForce
from contracts.messages import MarketEvent, OrderCommand
from services.adapter.brokers.base import (
    BrokerError,
    BrokerEvent,
    BrokerEventCallback,
    BrokerOrderState,
    BrokerRateLimited,
    BrokerSessionDown,
    BrokerStatusCallback,
)
from services.adapter.brokers.sim_faults import EXCHANGE_REJECTS, CallPlan, OrderBudget, SimFaults, max_calls_in_window
from services.adapter.brokers.sim_store import CallRecord, SimLedger, SimOrder
from services.runtime.clock import Clock, SystemClock
from services.runtime.config.order_adapter import SimBrokerConfig

__all__ = ["SimBroker", "SimOrder", "max_calls_in_window"]

Scheduler = Callable[[int, Callable[[], None]], None]
"""call_later(delay_ns, callback): the loop runs `callback` later on its own thread."""

Answer = BrokerEvent | BrokerOrderState
Processing = Callable[[CallPlan], list[Answer]]

_SYSTEM_CLOCK = SystemClock()
_LOGGED_AS = {BrokerAction.UPDATE_PRICE: "amend_price", BrokerAction.UPDATE_QTY: "reduce_qty"}
"""The call log names an amend by the Broker method called, as state files already written do."""


@dataclass(slots=True)
class SimBook:
    event: MarketEvent
    taken: dict[int, int] = field(default_factory=dict)
    trade_qty_left: int = 0


class SimBroker:
    """The Broker protocol against an in-process exchange, with the real broker's faults on demand."""

    open_orders_calls = 0  # open_orders reads the working orders at once, spending no order budget

    def __init__(self, config: SimBrokerConfig, schedule: Scheduler, *, clock: Clock = _SYSTEM_CLOCK) -> None:
        self._schedule = schedule
        self._clock = clock
        self._faults = SimFaults(config)
        self._ledger = SimLedger(config.state_file, closed_kept=config.closed_orders_kept,
                                 calls_kept=config.calls_kept)
        # The state file's stamps are CLOCK_MONOTONIC, which begins again at boot: one later than now, or a
        # suspension ending beyond a whole suspension from now, is from before a reboot (another day's), not recent.
        now_ns = clock.mono_ns()
        suspended_until_ns = self._ledger.suspended_until_ns
        if suspended_until_ns > now_ns + config.suspension_ms * 1_000_000:
            suspended_until_ns = 0
        self._budget = OrderBudget(config, (mono_ns for mono_ns, _, _ in self._ledger.calls if mono_ns <= now_ns),
                                   suspended_until_ns)
        self._session_down = config.session_down
        self._callback: BrokerEventCallback = lambda event: None
        self._status_callback: BrokerStatusCallback = lambda state: None
        self._books: dict[str, SimBook] = {}
        self._last_due_ns = 0

    def set_event_callback(self, callback: BrokerEventCallback) -> None:
        self._callback = callback

    def set_status_callback(self, callback: BrokerStatusCallback) -> None:
        self._status_callback = callback

    def place(self, command: OrderCommand) -> None:
        self._call(BrokerAction.PLACE, command.client_order_id, partial(self._accept, command))

    def amend_price(self, client_order_id: str, price_e4: int) -> None:
        self._call(BrokerAction.UPDATE_PRICE, client_order_id, lambda plan: self._amend(client_order_id, price_e4))

    def reduce_qty(self, client_order_id: str, reduce_by: int) -> None:
        """Shioaji's update_order(qty=): lowers the order; taking all that is left cancels it."""
        self._call(BrokerAction.UPDATE_QTY, client_order_id, lambda plan: self._reduce(client_order_id, reduce_by))

    def cancel(self, client_order_id: str) -> None:
        self._call(BrokerAction.CANCEL, client_order_id, lambda plan: self._cancel(client_order_id))

    def query(self, client_order_id: str) -> None:
        self._call(BrokerAction.QUERY, client_order_id, lambda plan: [self._state_of(client_order_id)])

    def open_orders(self) -> list[BrokerOrderState]:
        """The working orders, at once (Shioaji's list_trades: a local cache, no budget spent)."""
        self._require_session()
        return [_state(order) for order in self._ledger.working()]

    def on_market(self, event: MarketEvent) -> None:
        book = SimBook(event, trade_qty_left=event.last_qty)
        self._books[event.symbol] = book
        answers: list[Answer] = []
        for order in self._ledger.working_on(event.symbol):
            self._match(order, book, answers, resting=True)
        if answers:
            self._ledger.flush()
            self._deliver(answers, duplicate_all=False)

    @property
    def resting_count(self) -> int:
        return self._ledger.working_count

    @property
    def call_log(self) -> list[CallRecord]:
        """(mono_ns, action, client_order_id) of every call that reached the broker, refused ones included."""
        return self._ledger.calls

    def place_counts(self) -> dict[str, int]:
        """Place calls that reached the exchange, per client_order_id (refused or lost calls excluded)."""
        return {order.client_order_id: order.places for order in self._ledger.known()}

    def set_session_down(self, down: bool) -> None:
        """Drop or restore the session: while down every call raises BrokerSessionDown and answers are lost."""
        self._session_down = down

    def fail_next(self, error: BrokerError, *, went_live: bool = False) -> None:
        """The next call raises `error`. With `went_live` the broker got it anyway: an order goes live and
        answers come as usual (Shioaji's OrderOutcomeUnknownError whose order exists); without, it never arrived."""
        self._faults.fail_next(error, went_live=went_live)

    def delay_next_answers(self, delay_ns: int) -> None:
        """The next call is processed on time but answered `delay_ns` after the call: the adapter times out."""
        self._faults.delay_next_answers(delay_ns)

    def reject_next(self, detail: str = EXCHANGE_REJECTS[0]) -> None:
        """The next NEW is rejected by the exchange with this op_msg."""
        self._faults.reject_next(detail)

    def deals_before_ack_next(self) -> None:
        """The next NEW, if it matches at once, has its FILLs delivered before its ACK."""
        self._faults.deals_before_ack_next()

    def duplicate_next(self) -> None:
        """Every event of the next call (queries excepted) is delivered twice."""
        self._faults.duplicate_next()

    def close(self) -> None:
        """Close the state file, if any."""
        self._ledger.close()

    def _require_session(self) -> None:
        if self._session_down:
            raise BrokerSessionDown("not logged in: session down")

    def _call(self, action: BrokerAction, client_order_id: str, process: Processing) -> None:
        """One budget-spending call: refuse it, or have the broker process it later, in call order."""
        self._require_session()
        failure = self._faults.take_failure()
        if failure is not None and not failure.went_live:
            raise failure.error
        now_ns = self._clock.mono_ns()
        self._ledger.log_call((now_ns, _LOGGED_AS.get(action, action), client_order_id))
        refusal = self._budget.refusal(now_ns)
        if refusal:
            self._ledger.suspended_until_ns = self._budget.suspended_until_ns
            raise BrokerRateLimited(refusal)
        latency_ns = self._faults.latency_ns()
        plan = self._faults.plan(action, latency_ns)
        delay_ns = max(latency_ns, self._last_due_ns - now_ns)
        self._last_due_ns = now_ns + delay_ns
        self._schedule(delay_ns, partial(self._process, process, plan))
        if failure is not None:
            raise failure.error

    def _process(self, process: Processing, plan: CallPlan) -> None:
        answers = process(plan)
        self._ledger.flush()
        if plan.deals_first:
            answers = _deals_first(answers)
        if plan.late_ns:
            self._schedule(plan.late_ns, partial(self._deliver, answers, plan.duplicate))
        else:
            self._deliver(answers, plan.duplicate)

    def _deliver(self, answers: list[Answer], duplicate_all: bool) -> None:
        for answer in answers:
            self._send(answer)
            if isinstance(answer, BrokerEvent) and (duplicate_all or self._faults.duplicate_event()):
                self._schedule(self._faults.base_latency_ns, partial(self._send, answer))

    def _send(self, answer: Answer) -> None:
        if self._session_down:
            return
        if isinstance(answer, BrokerEvent):
            self._callback(answer)
        else:
            self._status_callback(answer)

    def _accept(self, command: OrderCommand, plan: CallPlan) -> list[Answer]:
        known = self._ledger.get(command.client_order_id)
        if known is not None:
            known.places += 1
            self._ledger.update(known)
            return [BrokerEvent(ExecType.REJECT, command.client_order_id, detail="client_order_id already used")]
        order = SimOrder(
            client_order_id=command.client_order_id, broker_order_id=self._ledger.next_broker_order_id(),
            symbol=command.symbol, side=command.side, price_e4=command.price_e4, qty=command.qty,
            price_type=command.price_type, tif=command.tif,
        )
        self._ledger.add(order)
        book = self._books.get(order.symbol)
        detail = plan.reject_detail or self._exchange_refusal(order, book)
        if detail:
            order.status = OrderStatus.REJECTED
            self._ledger.update(order)
            return [_event(ExecType.REJECT, order, detail=detail)]
        answers: list[Answer] = [_event(ExecType.ACK, order, price_e4=order.price_e4, qty=order.qty)]
        if book is not None:
            self._match(order, book, answers, resting=False)
        if order.leaves_qty and not (order.tif is TimeInForce.ROD and order.price_type is PriceType.LMT):
            answers.append(_event(ExecType.EXPIRED, order, qty=order.leaves_qty, detail=f"{order.tif} remainder"))
            order.status = OrderStatus.CANCELLED
            self._ledger.update(order)
        return answers

    def _exchange_refusal(self, order: SimOrder, book: SimBook | None) -> str:
        if order.price_type is PriceType.MKT and book is None:
            return "no book for a market order"
        if order.tif is TimeInForce.FOK and (book is None or self._available(order, book) < order.qty):
            return "FOK cannot be filled in full"
        return ""

    def _amend(self, client_order_id: str, price_e4: int) -> list[Answer]:
        order = self._ledger.get(client_order_id)
        if order is None or not order.working:
            return [_refusal(ExecType.AMEND_REJECT, client_order_id, order, op=BrokerAction.UPDATE_PRICE)]
        order.price_e4 = price_e4
        self._ledger.update(order)
        answers: list[Answer] = [
            _event(ExecType.AMENDED, order, price_e4=price_e4, qty=order.qty, op=BrokerAction.UPDATE_PRICE)]
        book = self._books.get(order.symbol)
        if book is not None:
            self._match(order, book, answers, resting=False)
        return answers

    def _reduce(self, client_order_id: str, reduce_by: int) -> list[Answer]:
        order = self._ledger.get(client_order_id)
        if order is None or not order.working:
            return [_refusal(ExecType.AMEND_REJECT, client_order_id, order, op=BrokerAction.UPDATE_QTY)]
        if reduce_by <= 0:
            return [_event(ExecType.AMEND_REJECT, order, detail=f"cannot reduce by {reduce_by}",
                           op=BrokerAction.UPDATE_QTY)]
        if reduce_by >= order.leaves_qty:
            return self._cancel_rest(order)
        order.qty -= reduce_by
        self._ledger.update(order)
        return [_event(ExecType.AMENDED, order, price_e4=order.price_e4, qty=order.qty, op=BrokerAction.UPDATE_QTY)]

    def _cancel(self, client_order_id: str) -> list[Answer]:
        order = self._ledger.get(client_order_id)
        if order is None or not order.working:
            return [_refusal(ExecType.CANCEL_REJECT, client_order_id, order)]
        return self._cancel_rest(order)

    def _cancel_rest(self, order: SimOrder) -> list[Answer]:
        leaves_qty = order.leaves_qty
        order.status = OrderStatus.CANCELLED
        self._ledger.update(order)
        return [_event(ExecType.CANCELLED, order, qty=leaves_qty)]

    def _state_of(self, client_order_id: str) -> BrokerOrderState:
        order = self._ledger.get(client_order_id)
        return BrokerOrderState(client_order_id, None) if order is None else _state(order)

    def _levels(self, order: SimOrder, book: SimBook) -> list[tuple[int, int]]:
        """Opposite-side levels this order may take, best first, with what is left at each."""
        event = book.event
        if order.side is Side.BUY:
            prices, qtys = event.ask_prices_e4, event.ask_qtys
            crosses = (lambda p: True) if order.price_type is PriceType.MKT else (lambda p: p <= order.price_e4)
        else:
            prices, qtys = event.bid_prices_e4, event.bid_qtys
            crosses = (lambda p: True) if order.price_type is PriceType.MKT else (lambda p: p >= order.price_e4)
        return [(p, q - book.taken.get(p, 0)) for p, q in zip(prices, qtys, strict=False) if crosses(p)]

    def _available(self, order: SimOrder, book: SimBook) -> int:
        return sum(max(0, left) for _, left in self._levels(order, book))

    def _match(self, order: SimOrder, book: SimBook, answers: list[Answer], *, resting: bool) -> None:
        for price_e4, left in self._levels(order, book):
            if order.leaves_qty == 0:
                break
            qty = min(order.leaves_qty, left)
            if qty > 0:
                book.taken[price_e4] = book.taken.get(price_e4, 0) + qty
                answers.append(self._fill(order, price_e4, qty))
        event = book.event
        if resting and order.leaves_qty and book.trade_qty_left and event.last_price_e4:
            through = (
                event.last_price_e4 <= order.price_e4 if order.side is Side.BUY
                else event.last_price_e4 >= order.price_e4
            )
            if through:
                qty = min(order.leaves_qty, book.trade_qty_left)
                book.trade_qty_left -= qty
                answers.append(self._fill(order, order.price_e4, qty))

    def _fill(self, order: SimOrder, price_e4: int, qty: int) -> BrokerEvent:
        order.cum_qty += qty
        order.deals += 1
        order.status = OrderStatus.FILLED if order.cum_qty == order.qty else OrderStatus.PARTIALLY_FILLED
        self._ledger.update(order)
        return _event(ExecType.FILL, order, price_e4=price_e4, qty=qty,
                      exec_id=f"{order.broker_order_id}-{order.deals}")


def _event(
    kind: ExecType, order: SimOrder, *, price_e4: int = 0, qty: int = 0, detail: str = "", exec_id: str = "",
    op: BrokerAction | Literal[""] = "",
) -> BrokerEvent:
    return BrokerEvent(kind, order.client_order_id, order.broker_order_id, price_e4, qty, detail, exec_id, op)


def _refusal(
    kind: ExecType, client_order_id: str, order: SimOrder | None, op: BrokerAction | Literal[""] = "",
) -> BrokerEvent:
    """AMEND_REJECT or CANCEL_REJECT of an order that is not working, saying why."""
    if order is None:
        return BrokerEvent(kind, client_order_id, detail="order not found", op=op)
    return _event(kind, order, detail=f"order not working: {order.status}", op=op)


def _state(order: SimOrder) -> BrokerOrderState:
    return BrokerOrderState(
        order.client_order_id, order.status, order.broker_order_id, order.symbol, order.side, order.price_e4,
        order.qty, order.cum_qty,
    )


def _deals_first(answers: list[Answer]) -> list[Answer]:
    """The same answers, FILLs first (deals that overtake the ack), the rest in their order."""
    fills = [a for a in answers if isinstance(a, BrokerEvent) and a.kind is ExecType.FILL]
    return fills + [a for a in answers if not (isinstance(a, BrokerEvent) and a.kind is ExecType.FILL)]
