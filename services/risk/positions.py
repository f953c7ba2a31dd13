"""PositionBook: each strategy's position and outstanding quantity per symbol.

Positions move on fills. Outstanding quantity counts an order from the moment risk approves it
(so two quick NEWs cannot both pass a position limit before either is acknowledged) until an
execution report says it is finished; in between, every report sets its leaves. Aggregates
(outstanding per side, exposure per strategy and symbol, the desk's exposure per symbol) are kept
incrementally, so a check costs a few dict lookups however many orders are working.
"""

from __future__ import annotations

from typing import NamedTuple

from contracts.enums import TERMINAL_STATUSES, ExecType, Side
from contracts.messages import ExecutionReport, OrderCommand, PositionRow
from services.risk.state_file import SavedOrder, SavedPosition


class WorkingOrder(NamedTuple):
    strategy_id: str
    symbol: str
    side: Side
    leaves_qty: int


class PositionBook:
    def __init__(self) -> None:
        self.positions: dict[tuple[str, str], int] = {}
        self.working: dict[str, WorkingOrder] = {}
        self._outstanding: dict[tuple[str, str, Side], int] = {}
        self.exposure: dict[str, dict[str, int]] = {}
        """strategy -> symbol -> |position| + outstanding on both sides: what its gross notional counts."""
        self.desk_exposure: dict[str, int] = {}
        """symbol -> the sum of every strategy's exposure in it: what the desk's gross notional counts."""

    def _set_working(self, client_order_id: str, order: WorkingOrder | None) -> None:
        previous = self.working.pop(client_order_id, None)
        if previous is not None:
            self._add_outstanding(previous, -previous.leaves_qty)
        if order is not None and order.leaves_qty > 0:
            self.working[client_order_id] = order
            self._add_outstanding(order, order.leaves_qty)

    def _add_outstanding(self, order: WorkingOrder, qty: int) -> None:
        # Exposure moves by exactly what outstanding moves: adding it beats recomputing |position| plus
        # both sides, and four calls fewer on every approval.
        key = (order.strategy_id, order.symbol, order.side)
        self._outstanding[key] = self._outstanding.get(key, 0) + qty
        self._add_exposure(order.strategy_id, order.symbol, qty)

    def _add_exposure(self, strategy_id: str, symbol: str, qty: int) -> None:
        symbols = self.exposure.get(strategy_id)
        if symbols is None:
            symbols = self.exposure[strategy_id] = {}
        symbols[symbol] = symbols.get(symbol, 0) + qty
        self.desk_exposure[symbol] = self.desk_exposure.get(symbol, 0) + qty

    def _refresh_exposure(self, strategy_id: str, symbol: str) -> None:
        """Exposure after a position moved: |position| + outstanding on both sides."""
        exposure = (abs(self.position(strategy_id, symbol)) + self.outstanding(strategy_id, symbol, Side.BUY)
                    + self.outstanding(strategy_id, symbol, Side.SELL))
        self._add_exposure(strategy_id, symbol, exposure - self.exposure.get(strategy_id, {}).get(symbol, 0))

    def on_approved(self, command: OrderCommand) -> None:
        """A NEW just sent to the adapter counts as outstanding at once."""
        self._set_working(command.client_order_id,
                          WorkingOrder(command.strategy_id, command.symbol, command.side, command.qty))

    def on_not_sent(self, client_order_id: str) -> None:
        """An approved NEW that never reached the adapter stops counting as outstanding."""
        self._set_working(client_order_id, None)

    def on_execution(self, report: ExecutionReport) -> None:
        key = (report.strategy_id, report.symbol)
        if report.exec_type is ExecType.FILL:
            signed = report.last_qty if report.side is Side.BUY else -report.last_qty
            self.positions[key] = self.positions.get(key, 0) + signed
            self._refresh_exposure(*key)
        if report.status in TERMINAL_STATUSES:
            self._set_working(report.client_order_id, None)
        elif report.exec_type is not ExecType.REJECT or report.client_order_id in self.working:
            self._set_working(report.client_order_id,
                              WorkingOrder(report.strategy_id, report.symbol, report.side, report.leaves_qty))

    def position(self, strategy_id: str, symbol: str) -> int:
        return self.positions.get((strategy_id, symbol), 0)

    def outstanding(self, strategy_id: str, symbol: str, side: Side) -> int:
        return self._outstanding.get((strategy_id, symbol, side), 0)

    def working_orders(self, strategy_id: str | None = None) -> dict[str, WorkingOrder]:
        """Working orders of one strategy, or of every strategy."""
        return {
            client_order_id: order for client_order_id, order in self.working.items()
            if strategy_id is None or order.strategy_id == strategy_id
        }

    def saved(self) -> tuple[list[SavedPosition], list[SavedOrder]]:
        """Positions and working orders, for risk's state file."""
        positions = [SavedPosition(strategy_id=sid, symbol=sym, qty=qty)
                     for (sid, sym), qty in sorted(self.positions.items()) if qty]
        working = [SavedOrder(client_order_id=client_order_id, strategy_id=order.strategy_id, symbol=order.symbol,
                              side=order.side, leaves_qty=order.leaves_qty)
                   for client_order_id, order in self.working.items()]
        return positions, working

    def clear(self) -> None:
        """Forget every position and working order (a saved state found not to match the journal)."""
        self.positions.clear()
        self.working.clear()
        self._outstanding.clear()
        self.exposure.clear()
        self.desk_exposure.clear()

    def restore(self, positions: list[SavedPosition], working: list[SavedOrder]) -> None:
        """Take positions and working orders back from risk's state file (on an empty book)."""
        for row in positions:
            self.positions[(row.strategy_id, row.symbol)] = row.qty
            self._refresh_exposure(row.strategy_id, row.symbol)
        for order in working:
            self._set_working(order.client_order_id,
                              WorkingOrder(order.strategy_id, order.symbol, order.side, order.leaves_qty))

    def rows(self) -> list[PositionRow]:
        keys = sorted(set(self.positions) | {(o.strategy_id, o.symbol) for o in self.working.values()})
        return [
            PositionRow(
                strategy_id=sid, symbol=sym, position=self.position(sid, sym),
                outstanding_buy=self.outstanding(sid, sym, Side.BUY),
                outstanding_sell=self.outstanding(sid, sym, Side.SELL),
            )
            for sid, sym in keys
        ]
