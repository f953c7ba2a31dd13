"""services.risk.positions: each strategy's position and outstanding quantity, from ExecutionReports."""

from __future__ import annotations

from contracts.enums import ExecType, IntentAction, OrderStatus, Side
from contracts.messages import ExecutionReport, OrderCommand, PositionRow
from services.risk.positions import PositionBook


def report(
    exec_type: ExecType,
    status: OrderStatus,
    *,
    client_order_id: str = "mm1.e1.1",
    side: Side = Side.BUY,
    qty: int = 3,
    cum_qty: int = 0,
    leaves_qty: int = 3,
    last_qty: int = 0,
    symbol: str = "2330",
    strategy_id: str = "mm1",
) -> ExecutionReport:
    return ExecutionReport(
        seq=1, client_order_id=client_order_id, intent_id=client_order_id, strategy_id=strategy_id,
        symbol=symbol, side=side, exec_type=exec_type, status=status, price_e4=10_000_000, qty=qty,
        cum_qty=cum_qty, leaves_qty=leaves_qty, last_price_e4=10_000_000 if last_qty else 0, last_qty=last_qty,
        ts_ns=0,
    )


def test_empty_book() -> None:
    book = PositionBook()
    assert book.position("mm1", "2330") == 0
    assert book.outstanding("mm1", "2330", Side.BUY) == 0
    assert book.rows() == []


def test_ack_makes_the_order_outstanding_on_its_side() -> None:
    book = PositionBook()
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING))
    assert book.outstanding("mm1", "2330", Side.BUY) == 3
    assert book.outstanding("mm1", "2330", Side.SELL) == 0
    assert book.position("mm1", "2330") == 0


def test_buy_fills_add_and_sell_fills_subtract() -> None:
    book = PositionBook()
    book.on_execution(report(ExecType.FILL, OrderStatus.FILLED, cum_qty=3, leaves_qty=0, last_qty=3))
    assert book.position("mm1", "2330") == 3
    book.on_execution(report(ExecType.FILL, OrderStatus.PARTIALLY_FILLED, client_order_id="mm1.e1.2",
                             side=Side.SELL, qty=5, cum_qty=2, leaves_qty=3, last_qty=2))
    assert book.position("mm1", "2330") == 1
    assert book.outstanding("mm1", "2330", Side.SELL) == 3


def test_partial_fills_shrink_outstanding_and_the_last_fill_removes_it() -> None:
    book = PositionBook()
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING))
    book.on_execution(report(ExecType.FILL, OrderStatus.PARTIALLY_FILLED, cum_qty=1, leaves_qty=2, last_qty=1))
    assert book.outstanding("mm1", "2330", Side.BUY) == 2
    assert book.position("mm1", "2330") == 1
    book.on_execution(report(ExecType.FILL, OrderStatus.FILLED, cum_qty=3, leaves_qty=0, last_qty=2))
    assert book.outstanding("mm1", "2330", Side.BUY) == 0
    assert book.position("mm1", "2330") == 3


def test_outstanding_sums_working_orders_per_side() -> None:
    book = PositionBook()
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING, client_order_id="a", qty=2, leaves_qty=2))
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING, client_order_id="b", qty=4, leaves_qty=4))
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING, client_order_id="c", side=Side.SELL,
                             qty=1, leaves_qty=1))
    assert book.outstanding("mm1", "2330", Side.BUY) == 6
    assert book.outstanding("mm1", "2330", Side.SELL) == 1


def test_cancelled_and_rejected_orders_drop_out() -> None:
    book = PositionBook()
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING, client_order_id="a"))
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING, client_order_id="b"))
    book.on_execution(report(ExecType.CANCELLED, OrderStatus.CANCELLED, client_order_id="a", leaves_qty=0))
    assert book.outstanding("mm1", "2330", Side.BUY) == 3
    book.on_execution(report(ExecType.REJECT, OrderStatus.REJECTED, client_order_id="b", leaves_qty=0))
    assert book.outstanding("mm1", "2330", Side.BUY) == 0


def test_expired_ioc_remainder_drops_out_but_its_fill_stays() -> None:
    book = PositionBook()
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING))
    book.on_execution(report(ExecType.FILL, OrderStatus.PARTIALLY_FILLED, cum_qty=1, leaves_qty=2, last_qty=1))
    book.on_execution(report(ExecType.EXPIRED, OrderStatus.CANCELLED, cum_qty=1, leaves_qty=0))
    assert book.outstanding("mm1", "2330", Side.BUY) == 0
    assert book.position("mm1", "2330") == 1


def test_a_reject_of_an_unknown_order_is_never_outstanding() -> None:
    book = PositionBook()
    book.on_execution(report(ExecType.REJECT, OrderStatus.PENDING_NEW, leaves_qty=3))
    assert book.outstanding("mm1", "2330", Side.BUY) == 0


def test_strategies_and_symbols_are_kept_apart() -> None:
    book = PositionBook()
    book.on_execution(report(ExecType.FILL, OrderStatus.FILLED, cum_qty=3, leaves_qty=0, last_qty=3))
    book.on_execution(report(ExecType.FILL, OrderStatus.FILLED, client_order_id="x", strategy_id="mm2",
                             side=Side.SELL, cum_qty=3, leaves_qty=0, last_qty=3))
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING, client_order_id="y", symbol="2317"))
    assert book.position("mm1", "2330") == 3
    assert book.position("mm2", "2330") == -3
    assert book.position("mm1", "2317") == 0
    assert book.outstanding("mm1", "2317", Side.BUY) == 3
    assert book.outstanding("mm1", "2330", Side.BUY) == 0


def test_rows_cover_positions_and_outstanding_sorted() -> None:
    book = PositionBook()
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING, client_order_id="w", strategy_id="mm2",
                             side=Side.SELL, qty=2, leaves_qty=2))
    book.on_execution(report(ExecType.FILL, OrderStatus.FILLED, cum_qty=3, leaves_qty=0, last_qty=3))
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING, client_order_id="z", symbol="2317", qty=1,
                             leaves_qty=1))
    assert book.rows() == [
        PositionRow(strategy_id="mm1", symbol="2317", position=0, outstanding_buy=1, outstanding_sell=0),
        PositionRow(strategy_id="mm1", symbol="2330", position=3, outstanding_buy=0, outstanding_sell=0),
        PositionRow(strategy_id="mm2", symbol="2330", position=0, outstanding_buy=0, outstanding_sell=2),
    ]


def test_exposures_kept_incrementally_match_a_recount() -> None:
    """Exposure per strategy and symbol (|position| + outstanding on both sides) and the desk's per symbol are
    kept by adding what each report or approval moves; after any sequence they equal a count from scratch."""
    book = PositionBook()
    book.on_approved(OrderCommand(intent_id="a", strategy_id="mm1", action=IntentAction.NEW, client_order_id="a",
                                  symbol="2330", side=Side.BUY, qty=4, price_e4=10_000_000, ingest_ts_ns=0,
                                  approved_mono_ns=0, deadline_ns=0))
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING, client_order_id="a", qty=4, leaves_qty=4))
    book.on_execution(report(ExecType.FILL, OrderStatus.PARTIALLY_FILLED, client_order_id="a", qty=4, cum_qty=1,
                             leaves_qty=3, last_qty=1))
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING, client_order_id="b", side=Side.SELL, qty=5,
                             leaves_qty=5))
    book.on_execution(report(ExecType.FILL, OrderStatus.FILLED, client_order_id="c", strategy_id="mm2",
                             side=Side.SELL, qty=2, cum_qty=2, leaves_qty=0, last_qty=2))
    book.on_execution(report(ExecType.ACK, OrderStatus.WORKING, client_order_id="d", strategy_id="mm2",
                             symbol="2317", qty=6, leaves_qty=6))
    book.on_not_sent("a")
    book.on_execution(report(ExecType.CANCELLED, OrderStatus.CANCELLED, client_order_id="b", leaves_qty=0))

    def recount() -> tuple[dict[str, dict[str, int]], dict[str, int]]:
        keys = set(book.positions) | {(o.strategy_id, o.symbol) for o in book.working.values()}
        exposure: dict[str, dict[str, int]] = {}
        desk: dict[str, int] = {}
        for sid, sym in keys:
            qty = (abs(book.position(sid, sym)) + book.outstanding(sid, sym, Side.BUY)
                   + book.outstanding(sid, sym, Side.SELL))
            exposure.setdefault(sid, {})[sym] = qty
            desk[sym] = desk.get(sym, 0) + qty
        return exposure, desk

    def nonzero(exposure: dict[str, int]) -> dict[str, int]:
        return {symbol: qty for symbol, qty in exposure.items() if qty}

    exposure, desk = recount()
    assert {sid: nonzero(symbols) for sid, symbols in book.exposure.items()} == exposure
    assert nonzero(book.desk_exposure) == desk == {"2330": 3, "2317": 6}
    saved_positions, saved_working = book.saved()
    restored = PositionBook()
    restored.restore(saved_positions, saved_working)
    assert nonzero(restored.desk_exposure) == desk
    book.clear()
    assert book.exposure == {} and book.desk_exposure == {}
