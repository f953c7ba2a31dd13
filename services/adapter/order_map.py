"""The adapter's live order map, keyed by client order id, with a bounded memory of closed orders."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from contracts.enums import OrderStatus, Side


@dataclass(slots=True)
class LiveOrder:
    client_order_id: str
    intent_id: str
    strategy_id: str
    symbol: str
    side: Side
    qty: int
    price_e4: int
    status: OrderStatus = OrderStatus.PENDING_NEW
    cum_qty: int = 0
    broker_order_id: str = ""
    last_intent_id: str = ""
    pending_price_e4: int | None = None
    cancel_pending: bool = False

    @property
    def leaves_qty(self) -> int:
        if self.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            return 0
        return self.qty - self.cum_qty


class OrderMap:
    def __init__(self, closed_capacity: int = 10_000) -> None:
        self.live: dict[str, LiveOrder] = {}
        self._closed: OrderedDict[str, LiveOrder] = OrderedDict()
        self._closed_capacity = closed_capacity

    def get(self, client_order_id: str) -> LiveOrder | None:
        return self.live.get(client_order_id)

    def known(self, client_order_id: str) -> bool:
        return client_order_id in self.live or client_order_id in self._closed

    def add(self, order: LiveOrder) -> None:
        self.live[order.client_order_id] = order

    def close(self, order: LiveOrder) -> None:
        """Move a finished order out of the live map; remembered (bounded) so late events are recognised."""
        self.live.pop(order.client_order_id, None)
        self._closed[order.client_order_id] = order
        if len(self._closed) > self._closed_capacity:
            self._closed.popitem(last=False)
