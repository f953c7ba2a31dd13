"""A stop answers everything: SIGTERM an adapter with NEWs queued for the broker's budget, and every one is
answered (a reject, reason shutting_down) on the exec stream and in the journal before the process exits,
so the next start inherits no pending_new that nobody will answer; the orders already at the broker stay
tracked.

Real processes on loopback (control, adapter, risk and a strategy, no feed); the test stands in for risk on
the orders socket and pushes more NEWs than the adapter's budget (a soft cap of 20) lets out in a window.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from contracts.codec import encode
from contracts.enums import ExecType, IntentAction, Reason, ServiceName, Side
from contracts.messages import AdapterUsage, ExecutionReport, OrderCommand
from contracts.prices import to_e4
from services.adapter.lifecycle import Submission
from services.adapter.order_map import decode_order
from services.launcher import LocalStack
from tests.e2e.harness import Listener
from tests.e2e.stack_config import QUOTER, REPO, write_stack_config

pytestmark = pytest.mark.e2e

ORDER_ADAPTER = {"broker": "sim", "sim": {"ack_latency_us": 1000}, "soft_cap": 20, "reserve": 2}
SLOTS = 18  # soft_cap less the reserve kept for cancels
SENT = 40
JOURNAL_FILE = "adapter-journal.sqlite"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(write_stack_config(tmp_path, strategies=[QUOTER], order_adapter=ORDER_ADAPTER),
                       env={"PYTHONPATH": str(REPO)})
    try:
        local.start(with_feed=False)
        yield local
    finally:
        local.stop()


def new(n: int) -> OrderCommand:
    now_ns = time.monotonic_ns()
    return OrderCommand(
        intent_id=f"stop-{n}", strategy_id="mm1", action=IntentAction.NEW, client_order_id=f"stop-{n}",
        symbol="2330", side=Side.BUY, qty=1, price_e4=to_e4("900"), ingest_ts_ns=now_ns, approved_mono_ns=now_ns,
        deadline_ns=now_ns + 120_000_000_000,
    )


def journal_rows(path: Path, sql: str) -> list[tuple[bytes | int, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return db.execute(sql).fetchall()


def test_sigterm_answers_every_queued_new_and_leaves_no_pending_new(stack: LocalStack) -> None:
    context = zmq.Context()
    try:
        exec_stream = Listener(context, stack.config.endpoints.exec, ExecutionReport, AdapterUsage)
        exec_stream.wait_for(AdapterUsage, 1)
        orders = context.socket(zmq.PUSH)
        orders.setsockopt(zmq.LINGER, 1000)
        orders.connect(stack.config.endpoints.orders)
        for n in range(SENT):
            orders.send_multipart((b"order", encode(new(n))))
        acks = exec_stream.wait_for(ExecutionReport, SLOTS)
        assert {report.exec_type for report in acks} == {ExecType.ACK}, "the budget's slots went to the broker"

        assert stack.stop_service(ServiceName.ADAPTER) == 0
        reports = exec_stream.wait_for(ExecutionReport, SENT)
    finally:
        context.destroy(linger=0)

    answered = {r.client_order_id for r in reports if r.exec_type is ExecType.REJECT
                and r.reason is Reason.SHUTTING_DOWN}
    acked = {r.client_order_id for r in reports if r.exec_type is ExecType.ACK}
    assert len(acked) == SLOTS and answered == {f"stop-{n}" for n in range(SENT)} - acked, \
        "every NEW is either at the broker or answered, on the exec stream"

    journal = Path(stack.config.var_dir) / JOURNAL_FILE
    open_orders = [decode_order(payload) for (payload,) in journal_rows(journal, "SELECT payload FROM orders")]
    assert {order.client_order_id for order in open_orders} == acked, "the orders at the broker stay tracked"
    assert all(order.submission is not Submission.QUEUED for order in open_orders), \
        "no pending_new that never reached the broker"
    (journaled,) = journal_rows(journal, "SELECT count(*) FROM reports")[0]
    assert journaled == SENT

    log = (stack.log_dir / "adapter.log").read_text(encoding="utf-8").splitlines()
    (stop,) = [entry for line in log if '"stop_answered"' in line and (entry := json.loads(line))]
    assert (stop["news_answered"], stop["at_broker"]) == (SENT - SLOTS, SLOTS)
