"""FakeSinopac: SinoPac's servers behind the fake SDK client — the exchange, the shared order budget,
injected faults, the quote stream, and the one thread every answer comes from.

A call is admitted (or refused) on the caller's thread, as the SDK raises there: session down,
an injected failure, the order budget. What the server then does happens on its worker thread,
`ack_latency_ms` later, in call order; the answers (the call's `cb`, order and deal events, quotes)
are delivered from that thread too, never inside the call. Answers due while the session is down
are lost, as Shioaji does not replay callbacks.

The budget is Shioaji's rule for order calls: place_order, update_order, cancel_order and
update_status share `rate_cap` calls per `rate_window_ms` (every call that arrives counts, refused
ones too); breaking it suspends the account for `suspension_ms`, and each call meanwhile raises
TokenError ("Token is expired"), which is what over-use looks like from the SDK.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from contracts.messages import MarketEvent
from services.runtime.clock import Clock, SystemClock
from services.runtime.config.shioaji import FakeShioajiConfig
from services.shioaji.fake_exchange import PRICE_OUTSIDE_LIMITS, FakeExchange, Listing, Outcome, stock_info_of
from services.shioaji.fake_objects import Contracts, Trade, quotes_of
from services.shioaji.sdk import sj

MAX_SUBSCRIPTIONS = 200
NS_PER_MS = 1_000_000

Answer = Callable[[], None]


class QuoteFeed(Protocol):
    """Where the fake's quotes come from (the synthetic market): one book per call, symbols in turn."""

    def next_event(self, seq: int, exch_ts_ns: int, ingest_ts_ns: int) -> MarketEvent: ...


class OrderBudget:
    def __init__(self, config: FakeShioajiConfig, clock: Clock) -> None:
        self.cap = config.rate_cap
        self.window_ns = config.rate_window_ms * NS_PER_MS
        self.suspension_ns = config.suspension_ms * NS_PER_MS
        self.clock = clock
        self.suspended_until_ns = 0
        self._calls: deque[int] = deque()

    def refusal(self) -> str:
        """Count a call arriving now; the broker's refusal, or "" when the call may proceed."""
        now_ns = self.clock.mono_ns()
        self._calls.append(now_ns)
        while self._calls[0] <= now_ns - self.window_ns:
            self._calls.popleft()
        if now_ns < self.suspended_until_ns:
            return f"Token is expired: account suspended for {(self.suspended_until_ns - now_ns) // NS_PER_MS} ms more"
        if len(self._calls) > self.cap:
            self.suspended_until_ns = now_ns + self.suspension_ns
            return (f"Token is expired: {len(self._calls)} order calls within {self.window_ns // NS_PER_MS} ms "
                    f"(limit {self.cap}), suspended for {self.suspension_ns // NS_PER_MS} ms")
        return ""


@dataclass(slots=True)
class Ticket:
    """One admitted call: `done` is set once its answers have been delivered."""

    done: threading.Event = field(default_factory=threading.Event)
    trade_id: str = ""


@dataclass(frozen=True, slots=True)
class InjectedFailure:
    error: Exception
    went_live: bool


@dataclass(slots=True)
class Callbacks:
    order: Callable[[Any, Any], None] | None = None
    session_down: Callable[[], None] | None = None
    tick: Callable[[Any], None] | None = None
    bidask: Callable[[Any], None] | None = None
    tick_fop: Callable[[Any], None] | None = None
    bidask_fop: Callable[[Any], None] | None = None


class FakeSinopac:
    def __init__(self, config: FakeShioajiConfig, listings: dict[str, Listing], *, clock: Clock | None = None,
                 quotes: QuoteFeed | None = None, quote_rate_hz: float = 0.0) -> None:
        self.clock: Clock = clock or SystemClock()
        self.exchange = FakeExchange(listings, qty_mode=config.qty_mode, max_deal_qty=config.max_deal_qty,
                                     wall_ns=self.clock.wall_ns)
        self.contracts = Contracts({s: item.contract for s, item in listings.items() if not item.is_future},
                                   {s: item.contract for s, item in listings.items() if item.is_future},
                                   sj.FetchStatus.Fetched,
                                   {s: stock_info_of(item) for s, item in listings.items() if not item.is_future})
        self.stock_account = sj.Account(account_type=sj.AccountType.Stock, person_id="A123456789", broker_id="9A95",
                                        account_id="0000001", signed=True, username="FAKE")
        self.futures_account = sj.Account(account_type=sj.AccountType.Future, person_id="A123456789",
                                          broker_id="F002000", account_id="0000002", signed=True, username="FAKE")
        self.callbacks = Callbacks()
        self.subscriptions: set[tuple[str, str]] = set()
        self._budget = OrderBudget(config, self.clock)
        self._latency_s = config.ack_latency_ms / 1000
        self._quotes = quotes
        self._quote_interval_s = 1 / quote_rate_hz if quote_rate_hz > 0 else 0.0
        self._quoting = False
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._tasks: list[tuple[float, int, Callable[[], list[Answer]]]] = []
        self._order = itertools.count()
        self._failures: deque[InjectedFailure] = deque()
        self._hold_next = False
        self._held: list[Answer] = []
        self._reject_next = ""
        self._deals_first_next = False
        self._session_down = False
        self._running = True
        self._worker = threading.Thread(target=self._run, name="fake-sinopac", daemon=True)
        self._worker.start()

    # -- what the fake client asks of the server (client's thread)

    def admit_order_call(self) -> InjectedFailure | None:
        """Admit one budget-spending call, or raise what the SDK would; an injected failure that still goes
        live is returned: the caller raises it after the server has taken the call."""
        with self._lock:
            if self._session_down:
                raise sj.ShioajiConnectionError("session down: not connected to the server")
            failure = self._failures.popleft() if self._failures else None
            if failure is not None and not failure.went_live:
                raise failure.error
            refusal = self._budget.refusal()
            if refusal:
                raise sj.TokenError(refusal)
            return failure

    def place(self, contract: Any, order: Any, account: Any, cb: Callable[[Any], None] | None) -> Ticket:
        ticket = Ticket()
        with self._lock:
            reject, self._reject_next = self._reject_next, ""
            deals_first, self._deals_first_next = self._deals_first_next, False

            def process() -> list[Answer]:
                answered, outcomes = self.exchange.place(contract, order, account, reject)
                ticket.trade_id = answered.order.id
                if deals_first:
                    outcomes.sort(key=lambda outcome: outcome[0] not in (sj.OrderState.StockDeal,
                                                                         sj.OrderState.FuturesDeal))
                return self._answers(cb, answered, outcomes)

            self._submit(ticket, process)
        return ticket

    def update(self, trade_id: str, price: float | None, qty: int | None, cb: Callable[[Any], None] | None) -> Ticket:
        ticket = Ticket(trade_id=trade_id)
        with self._lock:
            def process() -> list[Answer]:
                outcomes = (self.exchange.update_price(trade_id, price) if price is not None
                            else self.exchange.update_qty(trade_id, qty or 0))
                return self._answers(cb, self.exchange.orders[trade_id].snapshot(), outcomes)

            self._submit(ticket, process)
        return ticket

    def cancel(self, trade_id: str, cb: Callable[[Any], None] | None) -> Ticket:
        ticket = Ticket(trade_id=trade_id)
        with self._lock:
            def process() -> list[Answer]:
                outcomes = self.exchange.cancel(trade_id)
                return self._answers(cb, self.exchange.orders[trade_id].snapshot(), outcomes)

            self._submit(ticket, process)
        return ticket

    def status(self, trade_id: str | None, cb: Callable[[list[Trade]], None] | None) -> Ticket:
        """update_status: every trade of the session, or the one asked for, as the server has it now."""
        ticket = Ticket(trade_id=trade_id or "")
        with self._lock:
            def process() -> list[Answer]:
                orders = [self.exchange.orders[trade_id]] if trade_id else list(self.exchange.orders.values())
                trades = [order.snapshot() for order in orders]
                return [self._deliverable(cb, trades)] if cb is not None else []

            self._submit(ticket, process)
        return ticket

    def knows(self, trade_id: str) -> bool:
        with self._lock:
            return trade_id in self.exchange.orders

    def trade(self, trade_id: str) -> Trade:
        with self._lock:
            return self.exchange.orders[trade_id].snapshot()

    def trades(self) -> list[Trade]:
        with self._lock:
            return [order.snapshot() for order in self.exchange.orders.values()]

    def subscribe(self, code: str, quote_type: str) -> None:
        with self._lock:
            if (code, quote_type) not in self.subscriptions and len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
                raise sj.SubscribeError(f"subscription limit reached ({MAX_SUBSCRIPTIONS}): {code} {quote_type}")
            self.subscriptions.add((code, quote_type))
            if self._quotes is not None and self._quote_interval_s and not self._quoting:
                self._quoting = True
                self._push(self._quote_interval_s, self._quote)

    # -- the exchange side

    def exchange_market(self, event: MarketEvent) -> None:
        """Any thread: a new book at the exchange (the adapter forwards the md stream); resting orders
        it crosses fill, and their deals go out from the worker."""
        with self._lock:
            self._push(0.0, lambda: self._answers(None, None, self.exchange.on_book(event)))

    # -- hooks for tests and demos

    def fail_next(self, error: Exception, *, went_live: bool = False) -> None:
        """The next order call raises `error` (an sj exception); with `went_live` the server took it anyway
        (OrderOutcomeUnknownError whose order exists): it is processed, its events come, its cb never."""
        with self._lock:
            self._failures.append(InjectedFailure(error, went_live))

    def hold_next_answers(self) -> None:
        """The next call is processed on time (an order goes live and trades) but its cb and events are held
        until `release_held_answers`: the caller's timeout passes first."""
        with self._lock:
            self._hold_next = True

    def release_held_answers(self) -> None:
        with self._lock:
            held, self._held = self._held, []
            self._push(0.0, lambda: held)

    def reject_next(self, op_msg: str = PRICE_OUTSIDE_LIMITS) -> None:
        """The next new order is refused by the exchange with this op_msg."""
        with self._lock:
            self._reject_next = op_msg

    def deals_before_ack_next(self) -> None:
        """The next new order's deals (if it trades at once) are delivered before its order event."""
        with self._lock:
            self._deals_first_next = True

    def drop_session(self) -> None:
        """The session goes down: the session-down callback fires, calls raise, answers are lost."""
        with self._lock:
            self._session_down = True
            callback = self.callbacks.session_down
            if callback is not None:
                self._push(0.0, lambda: [callback])

    def restore_session(self) -> None:
        with self._lock:
            self._session_down = False

    def stop(self) -> None:
        with self._lock:
            self._running = False
            self._wakeup.notify()
        self._worker.join()

    # -- the worker

    def _submit(self, ticket: Ticket, process: Callable[[], list[Answer]]) -> None:
        """Under the lock: process the call after the server's latency; held answers wait for release."""
        hold, self._hold_next = self._hold_next, False

        def task() -> list[Answer]:
            answers = [*process(), ticket.done.set]
            if hold:
                self._held.extend(answers)
                return []
            return answers

        self._push(self._latency_s, task)

    def _push(self, delay_s: float, task: Callable[[], list[Answer]]) -> None:
        heapq.heappush(self._tasks, (time.monotonic() + delay_s, next(self._order), task))
        self._wakeup.notify()

    def _answers(self, cb: Callable[[Any], None] | None, trade: Trade | None, outcomes: list[Outcome]) -> list[Answer]:
        answers = [self._deliverable(cb, trade)] if cb is not None else []
        callback = self.callbacks.order
        if callback is not None:
            answers.extend(self._deliverable(callback, state, message) for state, message in outcomes)
        return answers

    def _deliverable(self, callback: Callable[..., None], *args: Any) -> Answer:
        def deliver() -> None:
            if not self._session_down:
                callback(*args)
        return deliver

    def _quote(self) -> list[Answer]:
        assert self._quotes is not None
        event = self._quotes.next_event(0, self.clock.wall_ns(), 0)
        self._push(self._quote_interval_s, self._quote)
        listing = self.exchange.listings.get(event.symbol)
        future = listing is not None and listing.is_future
        bidask, tick = quotes_of(event, sj.Exchange.TAIFEX if future else sj.Exchange.TSE, future=future)
        on_bidask = self.callbacks.bidask_fop if future else self.callbacks.bidask
        on_tick = self.callbacks.tick_fop if future else self.callbacks.tick
        answers = []
        if on_bidask is not None and (event.symbol, sj.QuoteType.BidAsk.value) in self.subscriptions:
            answers.append(self._deliverable(on_bidask, bidask))
        if tick is not None and on_tick is not None and (event.symbol, sj.QuoteType.Tick.value) in self.subscriptions:
            answers.append(self._deliverable(on_tick, tick))
        return answers

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._running and (not self._tasks or self._tasks[0][0] > time.monotonic()):
                    self._wakeup.wait(self._tasks[0][0] - time.monotonic() if self._tasks else None)
                if not self._running:
                    return
                answers = heapq.heappop(self._tasks)[2]()
            for answer in answers:
                answer()
