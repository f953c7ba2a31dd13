"""The whole path across real processes: a known tick sequence in, the exact orders, fills and rejects out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.enums import ExecType, OrderStatus, Reason
from contracts.messages import ExecutionReport, RiskDecision
from contracts.prices import to_e4
from services.launcher import LocalStack
from tests.e2e.harness import MarketHarness, book
from tests.e2e.stack_config import REPO, write_stack_config

pytestmark = pytest.mark.e2e

SCRIPTED = {
    "id": "s1",
    "class": "tests.e2e.scripted_strategy:Scripted",
    "symbols": ["2330"],
    "limits": {"max_order_qty": 5, "max_order_notional_twd": 10_000_000},
}


def levels(*pairs: tuple[str, int]) -> list[tuple[int, int]]:
    return [(to_e4(price), qty) for price, qty in pairs]


BIDS_995 = levels(("995", 10), ("994", 10), ("993", 10), ("992", 10), ("991", 10))
BIDS_996 = levels(("996", 10), ("995", 10), ("994", 10), ("993", 10), ("992", 10))
ASKS_1000 = levels(("1000", 5), ("1005", 5), ("1010", 5), ("1015", 5), ("1020", 5))
THIN_ASKS_1000 = levels(("1000", 1), ("1005", 3), ("1010", 5), ("1015", 5), ("1020", 5))
ASKS_1005 = levels(("1005", 5), ("1010", 5), ("1015", 5), ("1020", 5), ("1025", 5))


@pytest.fixture(params=["tcp", "ipc"])
def scripted_stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[LocalStack, MarketHarness]]:
    """The stack on tcp loopback as shipped, and on Unix domain sockets (ipc://, a same-host option)."""
    stack = LocalStack(write_stack_config(tmp_path, strategies=[SCRIPTED], transport=request.param),
                       env={"PYTHONPATH": str(REPO)})
    harness = MarketHarness(stack.config)
    try:
        stack.start(with_feed=False)
        # the strategy takes its symbol; risk (books for its checks) and the adapter (its simulator) take all
        harness.wait_for_subscriptions({b"2330": 1, b"": 2})
        harness.wait_until_listening()
        yield stack, harness
    finally:
        stack.stop()
        harness.close()


def summary(report: ExecutionReport) -> tuple[ExecType, OrderStatus, int, int, int, int]:
    return (report.exec_type, report.status, report.price_e4, report.last_qty, report.last_price_e4,
            report.leaves_qty)


def test_known_ticks_give_exact_orders_fills_and_rejects(scripted_stack: tuple[LocalStack, MarketHarness]) -> None:
    stack, market = scripted_stack

    market.publish(book("2330", 1, BIDS_995, ASKS_1000))
    rejects = market.risk.wait_for(RiskDecision, 3)
    assert [(d.reason, d.approved, d.strategy_id) for d in rejects] == [
        (Reason.OFF_TICK, False, "s1"),
        (Reason.PRICE_BAND, False, "s1"),
        (Reason.SIZE_LIMIT, False, "s1"),
    ]
    (ack,) = market.exec.wait_for(ExecutionReport, 1)
    resting = ack.client_order_id
    assert summary(ack) == (ExecType.ACK, OrderStatus.WORKING, to_e4("995"), 0, 0, 1)

    market.publish(book("2330", 2, BIDS_996, ASKS_1000))
    amended = market.exec.wait_for(ExecutionReport, 2)[-1]
    assert amended.client_order_id == resting
    assert summary(amended) == (ExecType.AMENDED, OrderStatus.WORKING, to_e4("996"), 0, 0, 1)

    market.publish(book("2330", 3, BIDS_996, THIN_ASKS_1000))
    cross_ack, partial = market.exec.wait_for(ExecutionReport, 4)[2:]
    crossing = cross_ack.client_order_id
    assert crossing != resting and partial.client_order_id == crossing
    assert summary(cross_ack) == (ExecType.ACK, OrderStatus.WORKING, to_e4("1000"), 0, 0, 2)
    assert summary(partial) == (ExecType.FILL, OrderStatus.PARTIALLY_FILLED, to_e4("1000"), 1, to_e4("1000"), 1)

    market.publish(book("2330", 4, BIDS_996, ASKS_1005, last=(to_e4("996"), 1)))
    filled, cancelled = market.exec.wait_for(ExecutionReport, 6)[4:]
    assert filled.client_order_id == resting
    assert summary(filled) == (ExecType.FILL, OrderStatus.FILLED, to_e4("996"), 1, to_e4("996"), 0)
    assert cancelled.client_order_id == crossing
    assert summary(cancelled)[:2] == (ExecType.CANCELLED, OrderStatus.CANCELLED)
    assert cancelled.cum_qty == 1 and cancelled.leaves_qty == 0

    reports = [m for m in market.exec.received if isinstance(m, ExecutionReport)]
    assert [r.seq for r in reports] == sorted(r.seq for r in reports)
    assert len({r.seq for r in reports}) == len(reports)

    stack.stop()
    final = stack.final_status
    assert final is not None
    risk_metrics = {(n, tuple(sorted(lbl.items()))): v for n, lbl, v in final["services"]["risk"]["metrics"]}
    assert risk_metrics[("risk_approved_total", (("strategy", "s1"),))] == 4
    assert sum(v for (n, _), v in risk_metrics.items() if n == "risk_reject_total") == 3
