"""The adapter's answer to `orderpath ctl orders dump`: its live order map, gate and broker budget as they are.

Read off the order manager on the loop thread, between two events, so the picture is consistent; the
adapter sends it to control on its ops DEALER and control relays it to the operator who asked.
"""

from __future__ import annotations

from contracts.messages import OrderRow, OrdersDump
from services.adapter.lifecycle import CancelStage, Submission
from services.adapter.order_manager import OrderManager
from services.runtime.clock import Clock


def orders_dump(manager: OrderManager, request_id: str, clock: Clock) -> OrdersDump:
    rows = [
        OrderRow(
            client_order_id=order.client_order_id, strategy_id=order.strategy_id, symbol=order.symbol,
            side=order.side, status=order.status, price_e4=order.broker_price_e4, qty=order.qty, cum_qty=order.cum_qty,
            leaves_qty=order.leaves_qty, price_type=order.price_type, tif=order.tif,
            broker_order_id=order.broker_order_id, cancel_pending=order.cancel is CancelStage.PENDING,
            unresolved=order.submission is Submission.UNRESOLVED,
            created_ts_ns=order.created_ns, updated_ts_ns=order.updated_ns,
        )
        for order in sorted(manager.orders.live.values(), key=lambda o: (o.strategy_id, o.created_ns))
    ]
    return OrdersDump(request_id=request_id, orders=rows, gate=sorted(manager.gate),
                      breaker=str(manager.breaker.state), broker_usage=manager.limiter.in_window(),
                      soft_cap=manager.config.soft_cap, ts_ns=clock.wall_ns())
