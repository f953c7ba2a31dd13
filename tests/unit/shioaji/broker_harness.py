"""The real OrderManager driving a ShioajiBroker over the fake SDK and its fake server.

The manager runs on a fake clock (tests/unit/adapter/manager_harness.py); the fake server answers
from its own thread, as Shioaji does, and the test hands those answers to the manager by pumping
the broker's Handover until what it waits for has happened, with a deadline (no sleeps). The fake
server's order budget reads the same fake clock, so a 60 s suspension passes when the test says.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import structlog

from contracts.enums import ExecType
from contracts.messages import ExecutionReport, MarketEvent
from contracts.prices import to_e4
from services.adapter.brokers.shioaji_broker import ShioajiBroker
from services.adapter.brokers.shioaji_ids import OrderIds
from services.runtime.clock import FakeClock
from services.runtime.config.instruments import load_instruments
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.shioaji import FakeShioajiConfig, ShioajiConfig
from services.shioaji.fake_api import FakeShioaji
from services.shioaji.fake_exchange import Listing, listing_of
from services.shioaji.fake_server import FakeSinopac
from services.shioaji.session import login
from tests.unit.adapter.manager_harness import START_NS, Harness

REPO = Path(__file__).resolve().parents[3]
DEADLINE_S = 5.0
FAKE_ENV = {"SJ_API_KEY": "test-key", "SJ_SECRET_KEY": "test-secret"}


LISTED_ON = "2026-11-26"


def listings() -> dict[str, Listing]:
    """The shipped instruments as the fake server lists them (2330 at 1000, limits 900..1100), for LISTED_ON."""
    return {symbol: listing_of(ref, LISTED_ON)
            for symbol, ref in load_instruments(REPO / "config" / "instruments.yaml").items()}


def book(symbol: str, bids: list[tuple[str, int]], asks: list[tuple[str, int]],
         last: tuple[str, int] | None = None) -> MarketEvent:
    return MarketEvent(
        symbol=symbol, seq=0, exch_ts_ns=time.time_ns(), ingest_ts_ns=0,
        bid_prices_e4=[to_e4(p) for p, _ in bids], bid_qtys=[q for _, q in bids],
        ask_prices_e4=[to_e4(p) for p, _ in asks], ask_qtys=[q for _, q in asks],
        last_price_e4=to_e4(last[0]) if last else 0, last_qty=last[1] if last else 0,
    )


class ShioajiHarness:
    def __init__(self, tmp_path: Path, *, fake: FakeShioajiConfig | None = None,
                 shioaji: ShioajiConfig | None = None, adapter: OrderAdapterConfig | None = None) -> None:
        self.clock = FakeClock(mono_ns=START_NS)
        self.config = shioaji or ShioajiConfig(simulation=True, fake=fake or FakeShioajiConfig(ack_latency_ms=0))
        self.server = FakeSinopac(self.config.fake, listings(), clock=self.clock)
        self.tmp_path = tmp_path
        self.barriers = 0
        self.broker = self.connect()
        self.h = Harness(tmp_path, adapter, broker=self.broker, clock=self.clock)

    def connect(self) -> ShioajiBroker:
        """A broker logged in to the fake server (again, after a restart)."""
        def make_api(*, simulation: bool) -> FakeShioaji:
            return FakeShioaji.connected_to(self.server, simulation=simulation)

        self.api, accounts = login(make_api, self.config, FAKE_ENV)
        return ShioajiBroker(self.api, accounts, self.config, OrderIds(self.tmp_path / "order-ids.sqlite", self.clock),
                             structlog.get_logger())

    @property
    def reports(self) -> list[ExecutionReport]:
        return self.h.reports

    def kinds(self, client_order_id: str = "c1") -> list[ExecType]:
        return [r.exec_type for r in self.reports if r.client_order_id == client_order_id]

    def pump_until(self, done: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
        """Hand the fake server's answers to the manager until `done()`, or fail after the deadline."""
        end = time.monotonic() + deadline_s
        while not done():
            remaining_ms = int((end - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                raise AssertionError(f"{what}: not within {deadline_s}s; reports so far: "
                                     f"{[(r.client_order_id, r.exec_type, r.detail) for r in self.reports]}")
            self.broker.handover.pump(remaining_ms)

    def until_report(self, exec_type: ExecType, client_order_id: str = "c1", count: int = 1) -> ExecutionReport:
        self.pump_until(lambda: self.kinds(client_order_id).count(exec_type) >= count,
                        f"{count} {exec_type} for {client_order_id}")
        return [r for r in self.reports if r.client_order_id == client_order_id and r.exec_type is exec_type][-1]

    def close(self) -> None:
        self.server.stop()
        self.broker.close()
