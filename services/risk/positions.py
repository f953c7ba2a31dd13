"""PositionBook: each strategy's position and outstanding quantity per symbol, from ExecutionReports."""

from __future__ import annotations

from contracts.enums import TERMINAL_STATUSES, ExecType, Side
from contracts.messages import ExecutionReport, PositionRow


class PositionBook:
    def __init__(self) -> None:
        self.positions: dict[tuple[str, str], int] = {}
        self._working: dict[str, tuple[str, str, Side, int]] = {}

    def on_execution(self, report: ExecutionReport) -> None:
        key = (report.strategy_id, report.symbol)
        if report.exec_type is ExecType.FILL:
            signed = report.last_qty if report.side is Side.BUY else -report.last_qty
            self.positions[key] = self.positions.get(key, 0) + signed
        if report.status in TERMINAL_STATUSES:
            self._working.pop(report.client_order_id, None)
        elif report.exec_type is not ExecType.REJECT:
            self._working[report.client_order_id] = (*key, report.side, report.leaves_qty)

    def position(self, strategy_id: str, symbol: str) -> int:
        return self.positions.get((strategy_id, symbol), 0)

    def outstanding(self, strategy_id: str, symbol: str, side: Side) -> int:
        return sum(
            leaves for sid, sym, order_side, leaves in self._working.values()
            if sid == strategy_id and sym == symbol and order_side is side
        )

    def rows(self) -> list[PositionRow]:
        keys = sorted(set(self.positions) | {(sid, sym) for sid, sym, _, _ in self._working.values()})
        return [
            PositionRow(
                strategy_id=sid, symbol=sym, position=self.position(sid, sym),
                outstanding_buy=self.outstanding(sid, sym, Side.BUY),
                outstanding_sell=self.outstanding(sid, sym, Side.SELL),
            )
            for sid, sym in keys
        ]
