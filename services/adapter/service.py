"""The adapter service: approved orders in from risk, broker calls out, execution reports published."""

from __future__ import annotations

from prometheus_client import Gauge

from contracts.enums import ServiceName
from contracts.messages import AdapterUsage, MarketEvent, OrderCommand, StormGuardState
from services.adapter.brokers.sim import SimBroker
from services.adapter.latency import LatencyRing
from services.adapter.order_manager import AdapterMetrics, OrderManager
from services.adapter.usage_window import BrokerUsageWindow
from services.runtime.config.loader import load_yaml_model
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.stack import StackConfig
from services.runtime.service import ServiceRuntime
from services.runtime.sockets import Publisher


def main(stack: StackConfig) -> int:
    rt = ServiceRuntime(ServiceName.ADAPTER, stack)
    config = load_yaml_model(stack.order_adapter_file, OrderAdapterConfig)
    broker = SimBroker(config.sim, rt.loop.call_later)
    latency = LatencyRing(config.latency_samples)
    reports = Publisher(rt.sockets.publisher(stack.endpoints.exec))
    usage = BrokerUsageWindow(rt.clock)
    manager = OrderManager(rt.clock, broker, reports, latency, usage, AdapterMetrics(rt.metrics.registry), rt.log)

    registry = rt.metrics.registry
    t2t_p50 = Gauge("tick_to_trade_p50_us", "Tick-to-trade median over recent orders, µs", registry=registry)
    t2t_p99 = Gauge("tick_to_trade_p99_us", "Tick-to-trade 99th percentile over recent orders, µs",
                    registry=registry)
    t2t_p999 = Gauge("tick_to_trade_p999_us", "Tick-to-trade 99.9th percentile over recent orders, µs",
                     registry=registry)
    t2t_samples = Gauge("tick_to_trade_samples", "Orders measured since start", registry=registry)
    live_orders = Gauge("live_orders", "Orders in the live map", registry=registry)

    def refresh_gauges() -> None:
        summary = latency.summary()
        t2t_p50.set(summary.p50_ns / 1000)
        t2t_p99.set(summary.p99_ns / 1000)
        t2t_p999.set(summary.p999_ns / 1000)
        t2t_samples.set(summary.count)
        live_orders.set(len(manager.orders.live))

    rt.before_heartbeat(refresh_gauges)

    def publish_usage() -> None:
        reports.send(AdapterUsage(
            seq=0, actions_in_window=usage.in_window(), window_ns=usage.window_ns,
            soft_cap=config.soft_cap, ts_ns=rt.clock.wall_ns(),
        ))

    rt.loop.every(stack.heartbeat_interval_ms * 1_000_000, publish_usage)

    sockets, endpoints = rt.sockets, stack.endpoints
    # md first: the simulator must see a book before an order that was priced off it.
    rt.read(sockets.subscriber(endpoints.md), "md", (MarketEvent,), broker.on_market)
    rt.read(sockets.order_receiver(endpoints.orders), "orders", (OrderCommand,), manager.on_command)
    rt.read(sockets.subscriber(endpoints.control, [b"sg"]), "control", (StormGuardState,), manager.on_stormguard)
    rt.log.info("adapter_ready", broker=config.broker)
    return rt.run()
