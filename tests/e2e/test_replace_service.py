"""Replacing one service while the others keep running, as `docker compose up -d --no-deps NAME` does.

One stack of real processes on loopback (the Quoter, which amends and fills, and the Rester, whose
orders rest), the simulated broker keeping its state in a file as a real broker outlives its client.
Each service in turn is stopped (SIGTERM) and started again: no other service dies, the restarted
one is heard alive, and trading goes on: orders are placed, amended or cancelled at the broker
after every restart. At the end, from the broker's own file: no client_order_id was ever placed
twice; and risk's positions, rebuilt by a restarted risk from the adapter's journal, equal the
broker's fills per symbol.

Every wait is on a condition with a deadline; nothing is timed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from contracts.codec import Decoder
from contracts.enums import ServiceName, Side
from contracts.messages import RiskSnapshot
from services.launcher import LocalStack
from tests.e2e.stack_config import QUOTER, REPO, RESTER, never_drawn_down, write_stack_config
from tests.e2e.waiting import wait_until

pytestmark = pytest.mark.e2e

DEADLINE_S = 30.0
POLL_S = 0.05
STATE_FILE = "sim-broker.sqlite"
ORDER_ADAPTER = {"broker": "sim", "sim": {"ack_latency_us": 1000, "state_file": STATE_FILE}}
CALLS_AFTER_EACH_RESTART = 3
REPLACED = (ServiceName.STRATEGY, ServiceName.RISK, ServiceName.ADAPTER, ServiceName.CONTROL, ServiceName.FEED)

def broker_rows(state_file: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{state_file}?mode=ro", uri=True) as connection:
        return connection.execute(sql).fetchall()


def order_calls(state_file: Path) -> int:
    """Orders placed, amended or cancelled at the broker so far (status queries left out)."""
    if not state_file.exists():
        return 0
    return broker_rows(state_file, "SELECT count(*) FROM calls WHERE action != 'query'")[0][0]


def broker_positions(state_file: Path) -> dict[str, int]:
    """Net filled lots per symbol, from the broker's own orders."""
    net: dict[str, int] = {}
    for symbol, side, cum_qty in broker_rows(state_file, "SELECT symbol, side, cum_qty FROM orders"):
        net[symbol] = net.get(symbol, 0) + (cum_qty if side == Side.BUY else -cum_qty)
    return {symbol: qty for symbol, qty in net.items() if qty}


class RiskSnapshots:
    """Risk's published positions (a RiskSnapshot every heartbeat)."""

    def __init__(self, endpoint: str) -> None:
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"risk_snapshot")
        self.socket.connect(endpoint)
        self.decoder = Decoder(RiskSnapshot)

    def newest(self) -> RiskSnapshot | None:
        snapshot = None
        while self.socket.poll(0):
            _, payload = self.socket.recv_multipart()
            snapshot = self.decoder.decode(payload)
        return snapshot

    def close(self) -> None:
        self.socket.close()


def net_positions(snapshot: RiskSnapshot) -> dict[str, int]:
    net: dict[str, int] = {}
    for row in snapshot.positions:
        net[row.symbol] = net.get(row.symbol, 0) + row.position
    return {symbol: qty for symbol, qty in net.items() if qty}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    # Trading must go on through five restarts: StormGuard closing the strategies is not what this tests.
    strategies = [never_drawn_down(QUOTER), never_drawn_down(RESTER)]
    local = LocalStack(write_stack_config(tmp_path, strategies=strategies, order_adapter=ORDER_ADAPTER),
                       env={"PYTHONPATH": str(REPO)})
    try:
        yield local
    finally:
        local.stop()


def test_each_service_is_replaced_while_the_others_trade_on(stack: LocalStack) -> None:
    state_file = Path(stack.config.var_dir) / STATE_FILE
    stack.start()
    wait_until("the first orders at the broker", lambda: order_calls(state_file) >= CALLS_AFTER_EACH_RESTART,
               check=stack.check_alive)
    for name in REPLACED:
        before = order_calls(state_file)
        old_pid = stack.processes[name].popen.pid
        assert stack.restart_service(name) == 0, f"{name} stopped cleanly on SIGTERM"
        assert stack.processes[name].popen.pid != old_pid
        stack.check_alive()  # no other service died meanwhile
        wait_until(f"orders reach the broker after {name} was replaced",
                   lambda before=before: order_calls(state_file) >= before + CALLS_AFTER_EACH_RESTART,
                   check=stack.check_alive)

    counts = broker_rows(state_file, "SELECT client_order_id, places FROM orders WHERE places != 1")
    assert counts == [], "an order was placed twice"

    # Risk was replaced mid-run: its positions came back from the adapter's journal. Stop the order
    # flow (the feed), let the last answers land, and compare with the broker's own fills.
    stack.stop_service(ServiceName.FEED)
    snapshots = RiskSnapshots(stack.config.endpoints.risk)
    try:
        def settled() -> bool:
            snapshot = snapshots.newest()
            return snapshot is not None and net_positions(snapshot) == broker_positions(state_file)

        def others_alive() -> None:
            for name, process in stack.processes.items():
                assert name is ServiceName.FEED or process.popen.poll() is None, f"{name} died"

        wait_until("risk's positions equal the broker's fills", settled, check=others_alive)
    finally:
        snapshots.close()
