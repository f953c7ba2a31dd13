"""ShioajiBroker: the Broker protocol (brokers/base.py) over SinoPac's Shioaji SDK, or over its fake.

Threads. Every SDK call is made on the adapter's loop thread and none of them waits (`timeout=0`
with a `cb`), so one slow answer never stalls the path. The SDK answers on threads of its own — a
call's cb, the order callback, the session-down callback — and those only post what they got to
a Handover that gives it to this broker on the loop thread (the factory registers
`handover.socket` with the loop). Everything else here runs on the loop thread.

Identity. Shioaji knows an order by its trade id, which a non-blocking place_order does not return:
the place's cb brings it (the cb is bound to the client_order_id). Events whose trade id is not
known yet — they overtook the cb, or the place raised yet went live — wait until it is. Pairs are
kept in OrderIds, so a restarted adapter recognises its orders.

Reconciliation. `query` asks update_status(trade=...) once the trade id is known. Before that (a place
that timed out or whose outcome is unknown) it asks update_status for the whole account and adopts
the one unclaimed trade that matches the order (contract, side, price, quantity, strategy tag);
until that finds it the answer is PENDING_NEW (still unknown: the order manager asks again), and
after MISSING_CHECKS fruitless searches it is "no such order". `open_orders` (start-up) blocks on
update_status, then reads list_trades.

Events. Deals before acks, duplicates (same exec_id) and events for finished orders are passed on:
the order manager tolerates them. A refused NEW is reported once, whether Shioaji says so in the
place's cb (status Failed), in an order event (op_code != "00"), or both.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from contracts.enums import BrokerAction, ExecType, OrderStatus, PriceType, Side, TimeInForce
from contracts.messages import OrderCommand
from services.adapter.brokers.base import (
    BrokerError,
    BrokerEvent,
    BrokerEventCallback,
    BrokerOrderState,
    BrokerOutcomeUnknown,
    BrokerStatusCallback,
)
from services.adapter.brokers.shioaji_errors import broker_error
from services.adapter.brokers.shioaji_events import (
    DealNotice,
    Notice,
    OrderView,
    deal_event,
    order_event,
    parse_callback,
    trade_state,
)
from services.adapter.brokers.shioaji_ids import OrderIds
from services.adapter.brokers.shioaji_orders import build_order, is_future, strategy_tag, update_qty_arg
from services.runtime.config.shioaji import ShioajiConfig
from services.runtime.handover import Handover
from services.shioaji.sdk import price_from_sdk, price_to_sdk, sj
from services.shioaji.session import Accounts

MISSING_CHECKS = 5
"""Account-wide searches that must miss an order whose trade id is unknown before it is declared absent."""
MAX_WAITING_TRADE_IDS = 1_000
"""Trade ids whose events wait for their order to be known; beyond, the oldest are dropped (logged)."""
MAX_FINISHED = 10_000
"""Finished orders remembered (for late events and queries); beyond, the oldest are forgotten."""

_WORKING = (OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class _Answered:
    """A call's cb: the Trade as the server answered it."""

    call: BrokerAction
    client_order_id: str
    trade: Any


@dataclass(frozen=True, slots=True)
class _OrderCallback:
    state: Any
    msg: Any


@dataclass(frozen=True, slots=True)
class _Statuses:
    """update_status's cb: the trades asked about (one, or the account's when `search`)."""

    client_order_id: str
    trades: list[Any]
    search: bool


@dataclass(frozen=True, slots=True)
class _NoSuchOrder:
    client_order_id: str


@dataclass(frozen=True, slots=True)
class _SessionDown:
    pass


_Item = _Answered | _OrderCallback | _Statuses | _NoSuchOrder | _SessionDown


@dataclass(slots=True)
class _Order:
    view: OrderView
    symbol: str
    side: Side
    price_e4: int
    tag: str
    contract: Any
    trade: Any = None
    trade_id: str = ""
    rejected: bool = False
    finished: bool = False
    missing_checks: int = 0
    exec_ids: set[str] = field(default_factory=set)

    def matches(self, trade: Any) -> bool:
        """Whether an unclaimed trade at the broker is this order (placed, but its trade id never learned)."""
        order = trade.order
        return (trade.contract.code == self.symbol and order.quantity == self.view.qty
                and (order.action == sj.Action.Buy) == (self.side is Side.BUY)
                and (order.custom_field or "") == self.tag
                and (self.view.price_type is PriceType.MKT or price_from_sdk(order.price) == self.price_e4))


def _adopted(client_order_id: str, trade: Any, state: BrokerOrderState) -> _Order:
    """An order found at the broker at start-up, as if this broker had placed it."""
    order, status = trade.order, trade.status
    taken_off = int(status.cancel_quantity or 0)
    view = OrderView(client_order_id, int(status.order_quantity or order.quantity), PriceType(order.price_type.value),
                     TimeInForce(order.time_in_force.value), cancelled_qty=taken_off, dealt_qty=state.cum_qty)
    return _Order(view, state.symbol, state.side, state.price_e4, order.custom_field or "", trade.contract, trade)


class ShioajiBroker:
    def __init__(self, api: Any, accounts: Accounts, config: ShioajiConfig, ids: OrderIds,
                 log: structlog.stdlib.BoundLogger) -> None:
        self._api = api
        self._accounts = accounts
        self._config = config
        self._ids = ids
        self._log = log
        self._event_callback: BrokerEventCallback = lambda event: None
        self._status_callback: BrokerStatusCallback = lambda state: None
        self._orders: dict[str, _Order] = {}
        self._by_trade_id: dict[str, _Order] = {}
        self._waiting: OrderedDict[str, list[Notice]] = OrderedDict()
        self._finished: deque[str] = deque()
        self._contracts: dict[str, Any] = {}
        self.handover: Handover[_Item] = Handover(self._on_item)
        api.set_order_callback(lambda state, msg: self.handover.post(_OrderCallback(state, msg)))
        api.set_session_down_callback(lambda: self.handover.post(_SessionDown()))

    # -- the Broker protocol

    def set_event_callback(self, callback: BrokerEventCallback) -> None:
        self._event_callback = callback

    def set_status_callback(self, callback: BrokerStatusCallback) -> None:
        self._status_callback = callback

    def place(self, command: OrderCommand) -> None:
        contract = self._contract(command.symbol)
        account = self._accounts.futures if is_future(contract) else self._accounts.stock
        if account is None:
            raise BrokerError(f"no {'futures' if is_future(contract) else 'stock'} account in this Shioaji login",
                              sent=False)
        cid = command.client_order_id
        order = _Order(OrderView(cid, command.qty, command.price_type, command.tif), command.symbol, command.side,
                       command.price_e4, strategy_tag(command.strategy_id), contract)
        self._orders[cid] = order
        try:
            trade = self._api.place_order(contract, build_order(command, contract, account, self._config),
                                          timeout=0, cb=self._answered(BrokerAction.PLACE, cid))
        except sj.ShioajiError as exc:
            error = broker_error(exc)
            if not isinstance(error, BrokerOutcomeUnknown):
                del self._orders[cid]  # never reached the broker; an unknown outcome is searched for later
            raise error from exc
        self._learn(order, trade)

    def amend_price(self, client_order_id: str, price_e4: int) -> None:
        order = self._acknowledged(client_order_id)
        self._sdk(self._api.update_order, order.trade, price=price_to_sdk(price_e4), timeout=0,
                  cb=self._answered(BrokerAction.UPDATE_PRICE, client_order_id))

    def reduce_qty(self, client_order_id: str, reduce_by: int) -> None:
        order = self._acknowledged(client_order_id)
        try:
            qty = update_qty_arg(self._config.qty_mode, reduce_by=reduce_by,
                                 order_qty=order.view.qty - order.view.cancelled_qty)
        except ValueError as exc:
            raise BrokerError(f"{client_order_id}: {exc}", sent=False) from exc
        self._sdk(self._api.update_order, order.trade, qty=qty, timeout=0,
                  cb=self._answered(BrokerAction.UPDATE_QTY, client_order_id))

    def cancel(self, client_order_id: str) -> None:
        order = self._acknowledged(client_order_id)
        self._sdk(self._api.cancel_order, order.trade, timeout=0,
                  cb=self._answered(BrokerAction.CANCEL, client_order_id))
        order.view.cancel_requested = True

    def query(self, client_order_id: str) -> None:
        order = self._orders.get(client_order_id)
        if order is None:
            self.handover.post(_NoSuchOrder(client_order_id))  # answered on a later turn, like any status
        elif order.trade_id:
            self._sdk(self._api.update_status, trade=order.trade, timeout=0,
                      cb=lambda trades: self.handover.post(_Statuses(client_order_id, trades, search=False)))
        else:
            account = self._accounts.futures if is_future(order.contract) else self._accounts.stock
            self._sdk(self._api.update_status, account, timeout=0,
                      cb=lambda trades: self.handover.post(_Statuses(client_order_id, trades, search=True)))

    @property
    def open_orders_calls(self) -> int:
        return sum(account is not None for account in (self._accounts.stock, self._accounts.futures))

    def open_orders(self) -> list[BrokerOrderState]:
        """Start-up: refresh the broker's view of today's orders (blocking), then every one still working.
        Orders of this adapter come back under their client_order_id; others as `sj-<trade id>`."""
        for account in (self._accounts.stock, self._accounts.futures):
            if account is not None:
                self._sdk(self._api.update_status, account, timeout=self._config.status_timeout_ms)
        working = []
        for trade in self._sdk(self._api.list_trades):
            trade_id = trade.order.id
            cid = self._ids.client_order_id(trade_id) or f"sj-{trade_id}"
            state = trade_state(cid, trade)
            self._orders[cid] = order = _adopted(cid, trade, state)
            self._bind(order, trade_id)
            if state.status in _WORKING:
                working.append(state)
            else:
                self._finish(order)
        return working

    def close(self) -> None:
        self.handover.close()
        self._ids.close()

    # -- what the SDK's threads handed over

    def _on_item(self, item: _Item) -> None:
        if isinstance(item, _OrderCallback):
            self._on_callback(item)
        elif isinstance(item, _Answered):
            self._on_answered(item)
        elif isinstance(item, _Statuses):
            self._on_statuses(item)
        elif isinstance(item, _NoSuchOrder):
            self._status_callback(BrokerOrderState(item.client_order_id, None))
        else:
            self._log.error("shioaji_session_down", reason="session_down",
                            detail="calls fail until Shioaji reconnects; answers meanwhile are lost")

    def _on_callback(self, item: _OrderCallback) -> None:
        try:
            notice = parse_callback(item.state, item.msg)
        except ValueError as exc:
            self._log.warning("shioaji_bad_event", reason="bad_message", detail=str(exc))
            return
        order = self._by_trade_id.get(notice.trade_id)
        if order is not None:
            self._apply(order, notice)
            return
        self._waiting.setdefault(notice.trade_id, []).append(notice)
        if len(self._waiting) > MAX_WAITING_TRADE_IDS:
            dropped, notices = self._waiting.popitem(last=False)
            self._log.warning("shioaji_events_dropped", trade_id=dropped, events=len(notices),
                              reason="unknown_order", detail="events for a trade id never matched to an order")

    def _on_answered(self, item: _Answered) -> None:
        order = self._orders.get(item.client_order_id)
        if order is None:
            return
        if item.call is BrokerAction.PLACE and item.trade.status.status == sj.OrderStatus.Failed:
            self._reject(order, item.trade.order.id, item.trade.status.msg or "order failed")
        self._learn(order, item.trade)

    def _on_statuses(self, item: _Statuses) -> None:
        cid = item.client_order_id
        order = self._orders.get(cid)
        if order is None:
            return
        if item.search and not order.trade_id:
            claimed = self._by_trade_id.keys()
            found = sorted((t for t in item.trades if t.order.id not in claimed and order.matches(t)),
                           key=lambda t: t.order.seqno)
            if found:
                self._log.warning("shioaji_order_adopted", client_order_id=cid, trade_id=found[0].order.id,
                                  reason="broker_timeout", detail="found by update_status after its place went "
                                                                  "unanswered")
                self._learn(order, found[0])
        trade = next((t for t in item.trades if order.trade_id and t.order.id == order.trade_id), None)
        if trade is not None:
            order.trade = trade
            self._status_callback(trade_state(cid, trade))
            return
        order.missing_checks += 1
        absent = not item.search or order.missing_checks >= MISSING_CHECKS
        self._status_callback(BrokerOrderState(cid, None if absent else OrderStatus.PENDING_NEW))

    # -- bookkeeping

    def _learn(self, order: _Order, trade: Any) -> None:
        order.trade = trade
        if trade.order.id and not order.trade_id:
            self._bind(order, trade.order.id)

    def _bind(self, order: _Order, trade_id: str) -> None:
        order.trade_id = trade_id
        self._by_trade_id[trade_id] = order
        self._ids.record(order.view.client_order_id, trade_id)
        for notice in self._waiting.pop(trade_id, []):
            self._apply(order, notice)

    def _apply(self, order: _Order, notice: Notice) -> None:
        view = order.view
        if isinstance(notice, DealNotice):
            if notice.exec_id not in order.exec_ids:
                order.exec_ids.add(notice.exec_id)
                view.dealt_qty += notice.qty
            event = deal_event(view, notice)
        else:
            event = order_event(view, notice)
            if event.kind is ExecType.REJECT:
                self._reject(order, notice.trade_id, event.detail)
                return
            if notice.ok and notice.op_type in ("UpdateQty", "Cancel"):
                view.cancelled_qty = max(view.cancelled_qty, notice.cancel_qty)
        self._event_callback(event)
        if view.dealt_qty + view.cancelled_qty >= view.qty:
            self._finish(order)

    def _reject(self, order: _Order, trade_id: str, detail: str) -> None:
        if order.rejected:
            return
        order.rejected = True
        self._event_callback(BrokerEvent(ExecType.REJECT, order.view.client_order_id, trade_id, detail=detail))
        self._finish(order)

    def _finish(self, order: _Order) -> None:
        """Remember a finished order for a while (late events, queries), then forget it."""
        if order.finished:
            return
        order.finished = True
        self._finished.append(order.view.client_order_id)
        while len(self._finished) > MAX_FINISHED:
            forgotten = self._orders.pop(self._finished.popleft(), None)
            if forgotten is not None:
                self._by_trade_id.pop(forgotten.trade_id, None)

    # -- calls

    def _contract(self, symbol: str) -> Any:
        contract = self._contracts.get(symbol)
        if contract is None:
            contracts = self._sdk(lambda: self._api.contracts)
            contract = contracts.stocks.get(symbol) or contracts.futures.get(symbol)
            if contract is None:
                raise BrokerError(f"Shioaji has no contract {symbol}", sent=False)
            self._contracts[symbol] = contract
        return contract

    def _acknowledged(self, client_order_id: str) -> _Order:
        order = self._orders.get(client_order_id)
        if order is None or not order.trade_id:
            raise BrokerError(f"{client_order_id}: Shioaji has not acknowledged this order yet", sent=False)
        return order

    def _answered(self, call: BrokerAction, client_order_id: str) -> Callable[[Any], None]:
        """The cb of a call: runs on the SDK's thread, so it only hands the Trade over."""
        return lambda trade: self.handover.post(_Answered(call, client_order_id, trade))

    @staticmethod
    def _sdk(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except sj.ShioajiError as exc:
            raise broker_error(exc) from exc
