"""The adapter holds fire when control goes silent, and lets orders through again when control is back.

Real control, adapter, risk and runner (the Rester: a bid and an ask per book, sent again whenever one is
gone); the test publishes the books itself. Control is stopped: within adapter_hold_after_silence_ms the
adapter closes its gate, and the Rester's new orders come back REJECTed with reason hold_fire. Control
started again, the next book's orders are acknowledged. Waits are on log lines and reports, never timed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from contracts.enums import ExecType, Reason, ServiceName
from contracts.messages import ExecutionReport
from contracts.prices import to_e4
from services.launcher import LocalStack
from tests.e2e.control_helpers import log_lines, wait_logged, wait_until
from tests.e2e.harness import MarketHarness, book
from tests.e2e.stack_config import REPO, RESTER, write_stack_config

pytestmark = pytest.mark.e2e

SYMBOL = "2330"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    config = write_stack_config(tmp_path, strategies=[RESTER])
    stack = yaml.safe_load(config.read_text())
    stack["control"] = {"adapter_hold_after_silence_ms": 1000}
    config.write_text(yaml.safe_dump(stack))
    local = LocalStack(config, env={"PYTHONPATH": str(REPO)})
    local.start(with_feed=False)
    try:
        yield local
    finally:
        local.stop()


def reports_after(market: MarketHarness, start: int, exec_type: ExecType) -> list[ExecutionReport]:
    """Reports of `exec_type` received since index `start`, after taking what the exec socket has now."""
    listener = market.exec
    while listener.socket.poll(50):
        listener.received.append(listener.decoder.decode(listener.socket.recv_multipart()[1]))
    return [r for r in listener.received[start:] if isinstance(r, ExecutionReport) and r.exec_type is exec_type]


def test_the_adapter_holds_fire_while_control_is_silent(stack: LocalStack) -> None:
    adapter_log = stack.log_dir / "adapter.log"
    market = MarketHarness(stack.config)
    try:
        market.wait_for_subscriptions({SYMBOL.encode(): 1, b"": 2})  # the runner's symbol; risk and the adapter
        market.wait_until_listening()

        stack.stop_service(ServiceName.CONTROL)
        silent = wait_logged(adapter_log, "control_silent")
        assert silent["silent_ms"] >= 1000
        wait_logged(adapter_log, "gate_closed", reason="hold_fire")

        start = len(market.exec.received)
        market.publish(book(SYMBOL, 1, bids=[(to_e4("995"), 10)], asks=[(to_e4("996"), 10)]))
        refused = wait_until("the bid and the ask refused", lambda: (
            r if len(r := reports_after(market, start, ExecType.REJECT)) >= 2 else None))
        assert {r.reason for r in refused} == {Reason.HOLD_FIRE}
        assert not reports_after(market, start, ExecType.ACK), "nothing reached the broker"

        stack.restart_service(ServiceName.CONTROL)
        wait_logged(adapter_log, "control_back")
        assert log_lines(adapter_log, "gate_opened", reason="hold_fire"), "control's own state reopened the gate"

        start = len(market.exec.received)
        market.publish(book(SYMBOL, 2, bids=[(to_e4("995"), 10)], asks=[(to_e4("996"), 10)]))
        acked = wait_until("the next book's orders acknowledged", lambda: (
            a if len(a := reports_after(market, start, ExecType.ACK)) >= 2 else None))
        assert {r.side for r in acked} == {"buy", "sell"}
        assert not reports_after(market, start, ExecType.REJECT)
    finally:
        market.close()
