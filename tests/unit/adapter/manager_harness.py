"""An OrderManager on a fake clock, a real SQLite journal, and a broker that answers only when told."""

from __future__ import annotations

from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

from contracts.codec import Decoder
from contracts.enums import ExecType, IntentAction, Side, TimeInForce
from contracts.messages import ExecutionReport, OrderCommand
from contracts.prices import to_e4
from services.adapter.brokers.base import (
    BrokerEvent,
    BrokerEventCallback,
    BrokerOrderState,
    BrokerStatusCallback,
)
from services.adapter.journal import Journal
from services.adapter.metrics import AdapterMetrics
from services.adapter.order_manager import OrderManager
from services.adapter.reports import ReportWriter
from services.runtime.clock import FakeClock, ManualScheduler
from services.runtime.config.order_adapter import OrderAdapterConfig

START_NS = 5_000_000_000
TTL_NS = 500_000_000
MS = 1_000_000
FAR = START_NS + 3_600_000_000_000
SMALL = OrderAdapterConfig.model_validate({
    "soft_cap": 10, "reserve": 2, "window_guard_ms": 0,
    "timeouts": {"new_ms": 100, "amend_ms": 100, "cancel_ms": 100, "query_ms": 100},
    "breaker": {"failures": 3, "window_ms": 1000, "cooldown_ms": 5000},
})
"""A budget of 10 calls a window (2 kept for urgent ones), 100 ms timeouts, a breaker that opens on 3 failures."""
PATIENT = SMALL.model_copy(update={"timeouts": SMALL.timeouts.model_copy(update={"new_ms": 3_600_000})})
"""SMALL, with NEWs that never time out."""


class RecordingBroker:
    """Records each call with the clock reading at the moment of the call; answers only when told.
    `raise_next` makes the next call raise, as Shioaji raises on over-use or a lost session (or, for
    an exception that is no BrokerError, as a bug in the broker layer would)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, object, int]] = []
        self.callback: BrokerEventCallback = lambda event: None
        self.status_callback: BrokerStatusCallback = lambda state: None
        self.open: list[BrokerOrderState] = []
        self.raise_next: Exception | None = None
        self.open_orders_calls = 1  # Shioaji's update_status for its one account

    def set_event_callback(self, callback: BrokerEventCallback) -> None:
        self.callback = callback

    def set_status_callback(self, callback: BrokerStatusCallback) -> None:
        self.status_callback = callback

    def _record(self, name: str, arg: object) -> None:
        self.calls.append((name, arg, self.clock.mono_ns()))
        if self.raise_next is not None:
            error, self.raise_next = self.raise_next, None
            raise error

    def place(self, command: OrderCommand) -> None:
        self._record("place", command)

    def amend_price(self, client_order_id: str, price_e4: int) -> None:
        self._record("amend_price", (client_order_id, price_e4))

    def reduce_qty(self, client_order_id: str, reduce_by: int) -> None:
        self._record("reduce_qty", (client_order_id, reduce_by))

    def cancel(self, client_order_id: str) -> None:
        self._record("cancel", client_order_id)

    def query(self, client_order_id: str) -> None:
        self._record("query", client_order_id)

    def open_orders(self) -> list[BrokerOrderState]:
        return list(self.open)

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    def answer(self, kind: ExecType, client_order_id: str = "c1", **fields: object) -> None:
        self.callback(BrokerEvent(kind, client_order_id, **fields))  # type: ignore[arg-type]

    def status(self, client_order_id: str = "c1", **fields: object) -> None:
        self.status_callback(BrokerOrderState(client_order_id, **fields))  # type: ignore[arg-type]


class Harness:
    def __init__(self, tmp_path: Path, config: OrderAdapterConfig | None = None,
                 broker: object | None = None, clock: FakeClock | None = None) -> None:
        self.tmp_path = tmp_path
        self.clock = clock or FakeClock(mono_ns=START_NS)
        self.scheduler = ManualScheduler(self.clock)
        self.broker = broker or RecordingBroker(self.clock)
        self.config = config or OrderAdapterConfig()
        self.published: list[tuple[bytes, bytes]] = []
        self.usage_changes = 0
        self._decoder = Decoder(ExecutionReport)
        self.start()

    def start(self) -> None:
        """(Re)start the manager on the same journal file, as a restarted adapter would."""
        self.journal = Journal(self.tmp_path / "journal.sqlite", self.clock)
        self.registry = CollectorRegistry()
        self.manager = OrderManager(
            self.clock, self.scheduler, self.broker, self.journal,  # type: ignore[arg-type]
            ReportWriter(self.journal, self.published.append), self.config, AdapterMetrics(self.registry),
            structlog.get_logger(), on_usage_change=self._usage_changed,
        )

    def _usage_changed(self) -> None:
        self.usage_changes += 1

    @property
    def reports(self) -> list[ExecutionReport]:
        return [self._decoder.decode(payload) for _, payload in self.published]

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def send(self, *commands: OrderCommand) -> None:
        self.manager.on_commands(list(commands))

    def working(self, client_order_id: str = "c1", qty: int = 3, price: str = "1000") -> None:
        """A NEW that the broker acked."""
        self.manager.on_command(command(IntentAction.NEW, client_order_id=client_order_id, qty=qty, price=price))
        self.broker.answer(ExecType.ACK, client_order_id, broker_order_id="B1")  # type: ignore[attr-defined]


def command(
    action: IntentAction = IntentAction.NEW,
    *,
    client_order_id: str = "c1",
    intent_id: str | None = None,
    qty: int = 3,
    price: str = "1000",
    ingest_ts_ns: int = START_NS - 300_000,
    deadline_ns: int = START_NS + TTL_NS,
    tif: TimeInForce = TimeInForce.ROD,
    strategy_id: str = "mm1",
) -> OrderCommand:
    return OrderCommand(
        intent_id=intent_id or f"{client_order_id}:{action}", strategy_id=strategy_id, action=action,
        client_order_id=client_order_id, symbol="2330", side=Side.BUY, qty=qty, price_e4=to_e4(price), tif=tif,
        ingest_ts_ns=ingest_ts_ns, approved_mono_ns=START_NS - 100_000, deadline_ns=deadline_ns,
    )


def broker(h: Harness) -> RecordingBroker:
    """The harness's broker, when it is the RecordingBroker."""
    assert isinstance(h.broker, RecordingBroker)
    return h.broker
