"""The harness the SimBroker tests share: a SimBroker on a fake clock whose answers arrive only when
a test moves time, so every test is deterministic and none sleeps. No tests of its own."""

from __future__ import annotations

from contracts.enums import ExecType, IntentAction, PriceType, Side, TimeInForce
from contracts.messages import MarketEvent, OrderCommand
from contracts.prices import to_e4
from services.adapter.brokers.base import BrokerEvent, BrokerOrderState
from services.adapter.brokers.sim import SimBroker
from services.runtime.clock import FakeClock, ManualScheduler
from services.runtime.config.order_adapter import SimBrokerConfig

LATENCY_US = 200
LATENCY_NS = LATENCY_US * 1000
Levels = tuple[tuple[str, int], ...] | list[tuple[str, int]]


class SimHarness:
    """A SimBroker with a ManualScheduler; records every event and status answer with its delivery time."""

    def __init__(self, config: SimBrokerConfig | None = None, *, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.scheduler = ManualScheduler(self.clock)
        self.broker = SimBroker(config or SimBrokerConfig(ack_latency_us=LATENCY_US), self.scheduler.call_later,
                                clock=self.clock)
        self.events: list[BrokerEvent] = []
        self.event_times: list[int] = []
        self.states: list[BrokerOrderState] = []
        self.broker.set_event_callback(self._on_event)
        self.broker.set_status_callback(self.states.append)
        self._md_seq = 0

    def _on_event(self, event: BrokerEvent) -> None:
        self.events.append(event)
        self.event_times.append(self.clock.mono_ns())

    def advance(self, delta_ns: int = LATENCY_NS) -> list[BrokerEvent]:
        """Move time on; the events delivered meanwhile."""
        start = len(self.events)
        self.scheduler.advance(delta_ns)
        return self.events[start:]

    def place(
        self, client_order_id: str, side: Side = Side.BUY, qty: int = 1, price: str = "1000", *,
        tif: TimeInForce = TimeInForce.ROD, price_type: PriceType = PriceType.LMT, symbol: str = "2330",
    ) -> None:
        self.broker.place(OrderCommand(
            intent_id=client_order_id, strategy_id="mm1", action=IntentAction.NEW, client_order_id=client_order_id,
            symbol=symbol, side=side, qty=qty, price_e4=to_e4(price), price_type=price_type, tif=tif,
            ingest_ts_ns=0, approved_mono_ns=0, deadline_ns=0,
        ))

    def book(
        self, bids: Levels = (), asks: Levels = (), *, last: tuple[str, int] | None = None, symbol: str = "2330",
    ) -> list[BrokerEvent]:
        """Publish one market event to the simulator; the fills it caused (delivered inside on_market)."""
        self._md_seq += 1
        start = len(self.events)
        self.broker.on_market(MarketEvent(
            symbol=symbol, seq=self._md_seq, exch_ts_ns=0, ingest_ts_ns=0,
            bid_prices_e4=[to_e4(p) for p, _ in bids], bid_qtys=[q for _, q in bids],
            ask_prices_e4=[to_e4(p) for p, _ in asks], ask_qtys=[q for _, q in asks],
            last_price_e4=to_e4(last[0]) if last else 0, last_qty=last[1] if last else 0,
        ))
        return self.events[start:]

    def query(self, client_order_id: str) -> BrokerOrderState:
        """Ask the broker about one order and wait for the answer."""
        start = len(self.states)
        self.broker.query(client_order_id)
        self.advance()
        (state,) = self.states[start:]
        return state


def kinds(events: list[BrokerEvent]) -> list[ExecType]:
    return [event.kind for event in events]


def fills(events: list[BrokerEvent]) -> list[BrokerEvent]:
    return [event for event in events if event.kind is ExecType.FILL]
