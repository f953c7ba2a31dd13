"""Which broker the adapter drives, from config/order_adapter.yaml's `broker`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from contracts.messages import MarketEvent
from services.adapter.brokers.base import Broker
from services.adapter.brokers.sim import SimBroker
from services.adapter.session import under_var
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.stack import StackConfig
from services.runtime.service import ServiceRuntime


@dataclass(frozen=True, slots=True)
class BrokerSetup:
    broker: Broker
    on_market: Callable[[MarketEvent], None] | None
    """The simulator matches against the md stream; a real broker does not need it."""
    close: Callable[[], None]


def make_broker(config: OrderAdapterConfig, stack: StackConfig, rt: ServiceRuntime) -> BrokerSetup:
    sim_config = config.sim
    if sim_config.state_file is not None:
        sim_config = sim_config.model_copy(update={"state_file": under_var(stack, sim_config.state_file)})
    sim = SimBroker(sim_config, rt.loop.call_later, clock=rt.clock)
    return BrokerSetup(sim, sim.on_market, sim.close)
