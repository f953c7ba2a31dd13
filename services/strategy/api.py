"""What a strategy sees and how it acts: the Strategy base class and the StrategyContext verbs.

A strategy is a plain class with `on_book(ctx, event)` and optional `on_fill`, `on_reject`,
`on_start`. The context also tells it its recent fills, its StormGuard level, whether its intents
are being dropped (`throttled`) and how much of the broker's order budget the desk is using.
It never touches a socket: it calls ctx.buy / ctx.sell / ctx.amend / ctx.cancel, which stamp
intent_id, sequence, creation time, the ingest time of the market event that caused the intent
and its deadline. The runner sends what the context collected.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from contracts.enums import IntentAction, OrderStatus, PriceType, Side, StormGuardLevel, TimeInForce
from contracts.messages import ExecutionReport, MarketEvent, OrderIntent, RiskDecision
from services.runtime.clock import Clock


@dataclass(slots=True)
class OpenOrder:
    """The strategy's view of one of its live orders, as the exec and risk streams report it."""

    client_order_id: str
    symbol: str
    side: Side
    qty: int
    price_e4: int
    status: OrderStatus = OrderStatus.PENDING_NEW
    leaves_qty: int = 0
    amend_pending: bool = False
    cancel_pending: bool = False

    @property
    def is_working(self) -> bool:
        return self.status in (OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED)


RECENT_FILLS = 100


class StrategyState:
    """Positions and open orders of one strategy, kept by the runner from reports."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}
        self.open_orders: dict[str, OpenOrder] = {}
        self.intent_seq = 0
        self.recent_fills: deque[ExecutionReport] = deque(maxlen=RECENT_FILLS)
        self.throttled = False

    def withdraw(self, action: IntentAction, client_order_id: str) -> None:
        """An intent that will never reach the broker: forget its NEW, or clear its pending amend or cancel."""
        order = self.open_orders.get(client_order_id)
        if order is None:
            return
        if action is IntentAction.NEW:
            del self.open_orders[client_order_id]
        elif action is IntentAction.AMEND:
            order.amend_pending = False
        else:
            order.cancel_pending = False


class StrategyContext:
    """Handed to a strategy for one market event; collects the intents it asks for."""

    __slots__ = ("_epoch", "_state", "_ttl_ns", "broker_usage_pct", "clock", "event", "intents", "stormguard",
                 "stormguard_global", "strategy_id")

    def __init__(
        self,
        strategy_id: str,
        epoch: str,
        state: StrategyState,
        clock: Clock,
        ttl_ns: int,
        stormguard: StormGuardLevel,
        event: MarketEvent | None,
        broker_usage_pct: float = 0.0,
        stormguard_global: StormGuardLevel = StormGuardLevel.NORMAL,
    ) -> None:
        self.strategy_id = strategy_id
        self._epoch = epoch
        self._state = state
        self.clock = clock
        self._ttl_ns = ttl_ns
        self.stormguard = stormguard
        self.event = event
        self.broker_usage_pct = broker_usage_pct
        # `stormguard` is what applies to this strategy (the stricter of its own and the desk's);
        # `stormguard_global` is the desk's alone.
        self.stormguard_global = stormguard_global
        self.intents: list[OrderIntent] = []

    def position(self, symbol: str) -> int:
        return self._state.positions.get(symbol, 0)

    def order(self, client_order_id: str) -> OpenOrder | None:
        return self._state.open_orders.get(client_order_id)

    @property
    def open_orders(self) -> dict[str, OpenOrder]:
        return self._state.open_orders

    @property
    def recent_fills(self) -> deque[ExecutionReport]:
        """The strategy's last fills, newest last (at most RECENT_FILLS)."""
        return self._state.recent_fills

    @property
    def throttled(self) -> bool:
        """True when an intent of this strategy was dropped because the intents queue was full, until
        one gets through again: time to send less."""
        return self._state.throttled

    def buy(self, symbol: str, qty: int, price_e4: int, tif: TimeInForce = TimeInForce.ROD) -> str:
        """Ask for a new limit buy; returns its client_order_id."""
        return self._new(symbol, Side.BUY, qty, price_e4, tif)

    def sell(self, symbol: str, qty: int, price_e4: int, tif: TimeInForce = TimeInForce.ROD) -> str:
        """Ask for a new limit sell; returns its client_order_id."""
        return self._new(symbol, Side.SELL, qty, price_e4, tif)

    def amend(self, client_order_id: str, *, price_e4: int) -> None:
        """Ask to move a live order's price."""
        order = self._require(client_order_id)
        order.amend_pending = True
        self._emit(IntentAction.AMEND, client_order_id, order.symbol, order.side, order.leaves_qty, price_e4)

    def cancel(self, client_order_id: str) -> None:
        """Ask to cancel a live order (asking twice is harmless: the adapter drops the duplicate)."""
        order = self._require(client_order_id)
        order.cancel_pending = True
        self._emit(IntentAction.CANCEL, client_order_id, order.symbol, order.side, order.leaves_qty,
                   order.price_e4)

    def _require(self, client_order_id: str) -> OpenOrder:
        order = self._state.open_orders.get(client_order_id)
        if order is None:
            raise KeyError(f"{self.strategy_id} has no open order {client_order_id!r}")
        return order

    def _new(self, symbol: str, side: Side, qty: int, price_e4: int, tif: TimeInForce) -> str:
        intent = self._emit(IntentAction.NEW, None, symbol, side, qty, price_e4, tif)
        self._state.open_orders[intent.client_order_id] = OpenOrder(
            client_order_id=intent.client_order_id, symbol=symbol, side=side, qty=qty,
            price_e4=price_e4, leaves_qty=qty,
        )
        return intent.client_order_id

    def _emit(
        self,
        action: IntentAction,
        client_order_id: str | None,
        symbol: str,
        side: Side,
        qty: int,
        price_e4: int,
        tif: TimeInForce = TimeInForce.ROD,
    ) -> OrderIntent:
        state = self._state
        state.intent_seq += 1
        intent_id = f"{self.strategy_id}.{self._epoch}.{state.intent_seq}"
        event = self.event
        now_mono = self.clock.mono_ns()
        intent = OrderIntent(
            intent_id=intent_id,
            strategy_id=self.strategy_id,
            seq=state.intent_seq,
            action=action,
            client_order_id=client_order_id or intent_id,
            symbol=symbol,
            side=side,
            qty=qty,
            price_e4=price_e4,
            price_type=PriceType.LMT,
            tif=tif,
            md_seq=event.seq if event is not None else 0,
            created_ts_ns=self.clock.wall_ns(),
            ingest_ts_ns=event.ingest_ts_ns if event is not None else now_mono,
            deadline_ns=now_mono + self._ttl_ns,
        )
        self.intents.append(intent)
        return intent


class Strategy:
    """Base class of strategies. `params` come from config/strategy_limits.yaml."""

    def __init__(self, strategy_id: str, symbols: list[str], params: dict[str, Any]) -> None:
        self.strategy_id = strategy_id
        self.symbols = symbols
        self.params = params

    def on_start(self, ctx: StrategyContext) -> None:
        """Called once before the first market event."""

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        """Called for every market event of one of the strategy's symbols."""
        raise NotImplementedError

    def on_fill(self, ctx: StrategyContext, report: ExecutionReport) -> None:
        """Called for every fill of one of the strategy's orders."""

    def on_reject(self, ctx: StrategyContext, decision: RiskDecision) -> None:
        """Called when risk (or the local queue) refuses one of the strategy's intents."""
