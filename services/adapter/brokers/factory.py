"""Which broker the adapter drives: order_adapter.yaml's `broker`, or ORDERPATH_ADAPTER_BROKER.

- sim: the embedded exchange simulator, matching against the md stream.
- shioaji: SinoPac through the real SDK, paper or live as the `shioaji:` section says (required),
  with the credentials from the environment.
- fake-shioaji: the same ShioajiBroker over the fake SDK and its fake server, which matches against
  the md stream; no network, no keys (`orderpath up --broker fake-shioaji`).

The environment variable lets a run switch brokers without editing the file (`orderpath up --broker`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import get_args

from contracts.market_rules import taipei_date
from contracts.messages import MarketEvent
from services.adapter.brokers.base import Broker
from services.adapter.brokers.shioaji_broker import ShioajiBroker
from services.adapter.brokers.shioaji_ids import OrderIds
from services.adapter.brokers.sim import SimBroker
from services.adapter.session import under_var
from services.runtime.config.instruments import load_instruments
from services.runtime.config.loader import ConfigError
from services.runtime.config.order_adapter import BrokerName, OrderAdapterConfig
from services.runtime.config.shioaji import ShioajiConfig
from services.runtime.config.stack import StackConfig
from services.runtime.service import ServiceRuntime
from services.shioaji.fake_api import FakeShioaji
from services.shioaji.fake_exchange import listing_of
from services.shioaji.fake_server import FakeSinopac
from services.shioaji.sdk import sj
from services.shioaji.session import ApiFactory, fake_environ, login

BROKER_ENV = "ORDERPATH_ADAPTER_BROKER"


@dataclass(frozen=True, slots=True)
class BrokerSetup:
    broker: Broker
    on_market: Callable[[MarketEvent], None] | None
    """The simulators match against the md stream; a real broker does not need it."""
    close: Callable[[], None]


def chosen_broker(config: OrderAdapterConfig, environ: Mapping[str, str]) -> str:
    """The broker to drive: the environment's override, else the file's."""
    name = environ.get(BROKER_ENV) or config.broker
    if name not in get_args(BrokerName):
        raise ConfigError(f"{BROKER_ENV}={name!r}: expected one of {', '.join(get_args(BrokerName))}")
    return name


def make_broker(config: OrderAdapterConfig, stack: StackConfig, rt: ServiceRuntime) -> BrokerSetup:
    name = chosen_broker(config, os.environ)
    if name == "sim":
        sim_config = config.sim
        if sim_config.state_file is not None:
            sim_config = sim_config.model_copy(update={"state_file": under_var(stack, sim_config.state_file)})
        sim = SimBroker(sim_config, rt.loop.call_later, clock=rt.clock)
        return BrokerSetup(sim, sim.on_market, sim.close)
    if name == "shioaji":
        if config.shioaji is None:
            raise ConfigError(f"{stack.order_adapter_file}: broker shioaji needs a shioaji: section with "
                              "simulation: true (SinoPac's paper server) or false (live)")
        return _shioaji(config.shioaji, stack, rt, sj.Shioaji, dict(os.environ), None)
    # A fake cannot send live orders, so it may run without the section.
    shioaji = config.shioaji or ShioajiConfig(simulation=True)
    today = taipei_date(rt.clock.wall_ns())  # the fake lists its contracts as a broker does each morning
    listings = {symbol: listing_of(ref, today) for symbol, ref in load_instruments(stack.instruments_file).items()}
    server = FakeSinopac(shioaji.fake, listings)
    return _shioaji(shioaji, stack, rt, partial(FakeShioaji.connected_to, server), fake_environ(shioaji), server)


def _shioaji(config: ShioajiConfig, stack: StackConfig, rt: ServiceRuntime, make_api: ApiFactory,
             environ: dict[str, str], server: FakeSinopac | None) -> BrokerSetup:
    api, accounts = login(make_api, config, environ)
    broker = ShioajiBroker(api, accounts, config, OrderIds(under_var(stack, config.order_ids_file), rt.clock), rt.log)
    rt.loop.add_reader(broker.handover.socket, broker.handover.on_wake)
    rt.log.info("shioaji_session", fake=server is not None, simulation=config.simulation,
                stock_account=getattr(accounts.stock, "account_id", None),
                futures_account=getattr(accounts.futures, "account_id", None), qty_mode=config.qty_mode)

    def close() -> None:
        try:
            api.logout()
        except sj.ShioajiError as exc:
            rt.log.warning("shioaji_logout_failed", error=str(exc))
        if server is not None:
            server.stop()
        broker.close()

    return BrokerSetup(broker, server.exchange_market if server is not None else None, close)
