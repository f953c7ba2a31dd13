"""ShioajiSource: Shioaji's quote stream (the broker's, or the fake server's) published on md through the quote
bridge (services/feed/shioaji_quotes.py), and the login both it and `orderpath record` use."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from contracts.market_rules import taipei_date
from contracts.messages import InstrumentRef
from services.feed.md_publisher import MdPublisher
from services.feed.metrics import FeedMetrics
from services.feed.shioaji_quotes import QuoteBridge, check_subscriptions, instruments_yaml
from services.feed.synthetic import SyntheticMarket
from services.runtime.config.instruments import load_instruments
from services.runtime.config.loader import ConfigError, load_yaml_model
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.shioaji import ShioajiConfig
from services.runtime.config.stack import StackConfig
from services.runtime.service import ServiceRuntime
from services.shioaji.fake_api import FakeShioaji
from services.shioaji.fake_exchange import listing_of
from services.shioaji.fake_server import FakeSinopac
from services.shioaji.sdk import sj
from services.shioaji.session import fake_environ, login


@dataclass(frozen=True, slots=True)
class ShioajiLogin:
    """A logged-in Shioaji client for the quote bridge, and how to end its session."""

    api: Any
    close: Callable[[], None]


class ShioajiSource:
    """Publishes Shioaji's quote stream through the quote bridge, and the contracts' reference data of
    the day (reference, limits, unit) as InstrumentRefs on md: at start and again every heartbeat
    interval, so a risk that starts or restarts later has them within one interval. On start it also
    writes them, in instruments.yaml's format, to var/shioaji-instruments.yaml for an operator to
    compare with config/instruments.yaml."""

    def __init__(self, rt: ServiceRuntime, md: MdPublisher, metrics: FeedMetrics, session: ShioajiLogin,
                 symbols: list[str], instruments_path: Path) -> None:
        self._rt = rt
        self._session = session
        self._instruments_path = instruments_path
        self._md = md
        self._metrics = metrics
        self._refs: dict[str, InstrumentRef] = {}
        self._bridge = QuoteBridge(session.api, symbols, md.send, rt.log)
        rt.loop.add_reader(self._bridge.handover.socket, self._bridge.handover.on_wake)
        rt.before_heartbeat(self._count_skipped)

    def start(self) -> None:
        refs = self._refs = self._bridge.instruments()
        self._instruments_path.parent.mkdir(parents=True, exist_ok=True)
        self._instruments_path.write_text(instruments_yaml(
            refs, "Written by the feed's Shioaji quote bridge from the broker's contracts, for comparison with "
                  "config/instruments.yaml; risk takes them off the wire (InstrumentRef on md)."), encoding="utf-8")
        self._publish_references()
        self._rt.loop.every(self._rt.stack.heartbeat_interval_ms * 1_000_000, self._publish_references)
        self._bridge.start()
        self._rt.log.info("md_publishing", source="shioaji", symbols=list(refs),
                          instruments_file=str(self._instruments_path))

    def _publish_references(self) -> None:
        for ref in self._refs.values():
            self._md.send_reference(ref)

    def _count_skipped(self) -> None:
        self._metrics.shioaji_quotes_skipped.set(self._bridge.skipped)

    def close(self) -> None:
        self._session.close()
        self._bridge.close()


def shioaji_login(stack: StackConfig, *, fake: bool) -> ShioajiLogin:
    """Log in with order_adapter.yaml's shioaji: section (the desk's one session config); the fake serves
    the synthetic market as its quotes and needs no section."""
    feed = stack.feed
    check_subscriptions(feed.symbols)
    config = load_yaml_model(stack.order_adapter_file, OrderAdapterConfig).shioaji
    if not fake:
        if config is None:
            raise ConfigError(f"feed.source shioaji: {stack.order_adapter_file} needs a shioaji: section "
                              "(simulation: true or false, and where the keys are)")
        api, _ = login(sj.Shioaji, config, os.environ)

        def logout() -> None:
            with contextlib.suppress(sj.ShioajiError):  # the process is ending: a refused logout changes nothing
                api.logout()

        return ShioajiLogin(api, logout)
    config = config or ShioajiConfig(simulation=True)
    instruments = load_instruments(stack.instruments_file)
    try:
        market = SyntheticMarket(instruments, feed.symbols, feed.seed)
    except ValueError as exc:
        raise ConfigError(f"feed: {exc}") from exc
    today = taipei_date(time.time_ns())  # the fake lists its contracts as a broker does each morning
    server = FakeSinopac(config.fake, {symbol: listing_of(ref, today) for symbol, ref in instruments.items()},
                         quotes=market, quote_rate_hz=feed.rate_hz)
    api, _ = login(partial(FakeShioaji.connected_to, server), config, fake_environ(config))

    def close() -> None:
        api.logout()
        server.stop()

    return ShioajiLogin(api, close)
