"""The adapter service: approved orders in from risk, broker calls out, execution reports published."""

from __future__ import annotations

import os
from collections.abc import Iterator

import zmq
from prometheus_client import Gauge

from contracts.enums import Reason, ServiceName
from contracts.messages import AdapterUsage, InstrumentRef, MarketEvent, OrderCommand
from services.adapter.brokers.factory import chosen_broker, make_broker
from services.adapter.circuit_breaker import BreakerState
from services.adapter.control_watch import follow_control_state
from services.adapter.journal import Journal
from services.adapter.metrics import AdapterMetrics
from services.adapter.order_manager import OrderManager
from services.adapter.recovery import recover
from services.adapter.replay_server import ReplayServer
from services.adapter.reports import EXEC_TOPIC, ReportWriter
from services.adapter.session import journal_path
from services.runtime.config.loader import load_yaml_model
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.stack import StackConfig
from services.runtime.loop import drain
from services.runtime.service import ServiceRuntime
from services.runtime.sockets import Publisher

SWEEP_INTERVAL_NS = 1_000_000_000
STOP_LINGER_MS = 2_000
"""At a stop, how long closing the exec socket may wait for the last reports to leave (linger is 0 otherwise)."""
BREAKER_STATES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


def serve_replays(rt: ServiceRuntime, socket: zmq.Socket, server: ReplayServer) -> None:
    """Answer exec subscribers' replay requests from the journal, on the loop thread (the journal's)."""

    def on_request(frames: list[bytes]) -> None:
        reply = server.handle(frames)
        if reply is None:
            return
        try:
            socket.send_multipart(reply, flags=zmq.NOBLOCK)
        except zmq.Again:
            rt.log.warning("exec_replay_reply_dropped", reason="client_gone")

    rt.loop.add_reader(socket, on_request)


def unread(sock: zmq.Socket) -> Iterator[list[bytes]]:
    """Every message still queued on `sock`, once nothing else reads it."""
    while batch := list(drain(sock)):
        yield from batch


def answer_at_stop(rt: ServiceRuntime, manager: OrderManager, orders: zmq.Socket, exec_socket: zmq.Socket) -> None:
    """On SIGTERM: every command the adapter will not send is answered before it exits (shutting_down), and
    the exec socket waits a moment on close for those reports to leave."""
    inbox = rt.inbox("orders", OrderCommand)
    commands = [command for command in map(inbox.decode, unread(orders)) if command is not None]
    # Closed at once: a sender (IMMEDIATE=1) then finds no peer and refuses what it would send next, which
    # answers it there, instead of it landing here unread in the moment before the process exits.
    orders.close(linger=0)
    answers = manager.stop(commands)
    exec_socket.setsockopt(zmq.LINGER, STOP_LINGER_MS)
    rt.log.info("stop_answered", news_answered=answers.news_answered, amends_rejected=answers.amends_rejected,
                unread_refused=answers.unread_refused, at_broker=answers.at_broker, reason=Reason.SHUTTING_DOWN)


def main(stack: StackConfig) -> int:
    rt = ServiceRuntime(ServiceName.ADAPTER, stack)
    config = load_yaml_model(stack.order_adapter_file, OrderAdapterConfig)
    setup = make_broker(config, stack, rt)
    broker = setup.broker
    journal = Journal(journal_path(stack, config), rt.clock, single_writer=True, durability=config.journal.durability,
                      when_idle=rt.loop.when_idle)
    pruned = journal.prune_reports(config.journal.keep_reports)
    journal.commit()
    exec_socket = rt.sockets.publisher(stack.endpoints.exec)
    reports = ReportWriter(journal, exec_socket.send_multipart)
    usage_out = Publisher(exec_socket)
    rt.advertise("exec", lambda: {**usage_out.heads(), EXEC_TOPIC: reports.published_seq})
    metrics = AdapterMetrics(rt.metrics.registry)

    def publish_usage() -> None:
        usage_out.send(AdapterUsage(
            seq=0, actions_in_window=manager.limiter.in_window(), window_ns=manager.limiter.window_ns,
            soft_cap=config.soft_cap, breaker_open=manager.breaker.state is not BreakerState.CLOSED,
            exec_seq=reports.last_seq, ts_ns=rt.clock.wall_ns(),
        ))

    manager = OrderManager(rt.clock, rt.loop, broker, journal, reports, config, metrics, rt.log,
                           on_usage_change=publish_usage)
    summary = recover(manager)
    rt.log.info("journal_open", path=str(journal_path(stack, config)), run_id=journal.run_id,
                last_report_seq=reports.last_seq, pruned_reports=pruned, from_journal=summary.from_journal)

    registry = rt.metrics.registry
    live_orders = Gauge("live_orders", "Orders in the live map", registry=registry)
    broker_usage = Gauge("broker_usage", "Broker calls in the limiter's window", registry=registry)
    queued_calls = Gauge("broker_calls_waiting", "Broker calls waiting for the order budget", registry=registry)
    breaker_state = Gauge("breaker_state", "Circuit breaker: 0 closed, 1 half open, 2 open", registry=registry)
    usage_peak = Gauge("broker_usage_peak", "Most broker calls seen in the limiter's window, sampled each heartbeat",
                       registry=registry)

    peak = [0]

    def refresh_gauges() -> None:
        live_orders.set(len(manager.orders.live))
        in_window = manager.limiter.in_window()
        broker_usage.set(in_window)
        peak[0] = max(peak[0], in_window)
        usage_peak.set(peak[0])
        queued_calls.set(manager.calls.waiting)
        breaker_state.set(BREAKER_STATES[manager.breaker.state])

    rt.before_heartbeat(refresh_gauges)
    rt.loop.every(stack.heartbeat_interval_ms * 1_000_000, publish_usage)
    rt.loop.every(SWEEP_INTERVAL_NS, manager.sweep)

    sockets, endpoints = rt.sockets, stack.endpoints
    if setup.on_market is not None:
        # md first: the simulator must see a book before an order that was priced off it.
        # md also carries the quote bridge's InstrumentRefs, for risk; the simulator matches on books only.
        on_market = setup.on_market

        def on_md(message: MarketEvent | InstrumentRef) -> None:
            if isinstance(message, MarketEvent):
                on_market(message)

        rt.read(sockets.subscriber(endpoints.md), "md", (MarketEvent, InstrumentRef), on_md)
    orders = sockets.order_receiver(endpoints.orders)
    rt.read_batch(orders, "orders", (OrderCommand,), manager.on_commands)
    rt.on_stop(lambda: answer_at_stop(rt, manager, orders, exec_socket))
    follow_control_state(rt, manager)
    serve_replays(rt, sockets.router(endpoints.exec_replay), ReplayServer(journal, rt.log, metrics=rt.metrics,
                                                                          clock=rt.clock))
    broker_name = chosen_broker(config, os.environ)  # the file's, or the run's override (`up --broker`)
    on_paper = config.shioaji is None or config.shioaji.simulation  # the fake runs on paper without the section
    rt.log.info("adapter_ready", broker=broker_name,
                shioaji_server=None if broker_name == "sim" else ("simulation" if on_paper else "production"),
                soft_cap=config.soft_cap, reserve=config.reserve)
    try:
        return rt.run()
    finally:
        journal.close()
        setup.close()
