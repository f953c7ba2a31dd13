"""The adapter service: approved orders in from risk, broker calls out, execution reports published."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial

import zmq

from contracts.enums import Reason, ServiceName
from contracts.messages import AdapterUsage, InstrumentRef, MarketEvent, OrderCommand
from services.adapter.brokers.factory import BrokerSetup, chosen_broker, make_broker
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


class AdapterService:
    """The adapter's wiring: the journal, the order manager and the broker, fed by the orders socket and the
    market stream, answering on the exec stream. Built, it has recovered from the journal; `run` trades."""

    def __init__(self, rt: ServiceRuntime, stack: StackConfig) -> None:
        self.rt = rt
        self.stack = stack
        self.config: OrderAdapterConfig = load_yaml_model(stack.order_adapter_file, OrderAdapterConfig)
        self.setup: BrokerSetup = make_broker(self.config, stack, rt)
        self.journal = Journal(journal_path(stack, self.config), rt.clock, single_writer=True,
                               durability=self.config.journal.durability, when_idle=rt.loop.when_idle)
        pruned = self.journal.prune_reports(self.config.journal.keep_reports)
        self.journal.commit()
        self.exec_socket: zmq.Socket = rt.sockets.publisher(stack.endpoints.exec)
        self.reports = ReportWriter(self.journal, self.exec_socket.send_multipart)
        self.usage_out = Publisher(self.exec_socket)
        self.metrics = AdapterMetrics(rt.metrics.registry)
        self.manager = OrderManager(rt.clock, rt.loop, self.setup.broker, self.journal, self.reports, self.config,
                                    self.metrics, rt.log, on_usage_change=self.publish_usage)
        self.broker_usage_peak = 0
        """Most broker calls seen in the limiter's window, at the heartbeats so far."""
        summary = recover(self.manager)
        rt.log.info("journal_open", path=str(journal_path(stack, self.config)), run_id=self.journal.run_id,
                    last_report_seq=self.reports.last_seq, pruned_reports=pruned, from_journal=summary.from_journal)
        sockets, endpoints = rt.sockets, stack.endpoints
        self.md: zmq.Socket | None = None if self.setup.on_market is None else sockets.subscriber(endpoints.md)
        # Bound once recovered from the journal: until then risk's orders sender (IMMEDIATE=1) has no peer.
        self.orders: zmq.Socket = sockets.order_receiver(endpoints.orders)
        self.exec_replay: zmq.Socket = sockets.router(endpoints.exec_replay)
        self._register()

    def _register(self) -> None:
        rt, manager = self.rt, self.manager
        rt.advertise("exec", self._exec_heads)
        rt.before_heartbeat(self._refresh_gauges)
        rt.loop.every(self.stack.heartbeat_interval_ms * 1_000_000, self.publish_usage)
        rt.loop.every(SWEEP_INTERVAL_NS, manager.sweep)
        if self.md is not None:
            # md first: the simulator must see a book before an order that was priced off it.
            rt.read(self.md, "md", (MarketEvent, InstrumentRef), self._on_md)
        rt.read_batch(self.orders, "orders", (OrderCommand,), manager.on_commands)
        rt.on_stop(partial(answer_at_stop, rt, manager, self.orders, self.exec_socket))
        follow_control_state(rt, manager)
        serve_replays(rt, self.exec_replay, ReplayServer(self.journal, rt.log, metrics=rt.metrics, clock=rt.clock))
        broker_name = chosen_broker(self.config, os.environ)  # the file's, or the run's override (`up --broker`)
        # The fake runs on paper without the section.
        on_paper = self.config.shioaji is None or self.config.shioaji.simulation
        rt.log.info("adapter_ready", broker=broker_name,
                    shioaji_server=None if broker_name == "sim" else ("simulation" if on_paper else "production"),
                    soft_cap=self.config.soft_cap, reserve=self.config.reserve)

    def _exec_heads(self) -> dict[bytes, int]:
        return {**self.usage_out.heads(), EXEC_TOPIC: self.reports.published_seq}

    def publish_usage(self) -> None:
        manager = self.manager
        self.usage_out.send(AdapterUsage(
            seq=0, actions_in_window=manager.limiter.in_window(), window_ns=manager.limiter.window_ns,
            soft_cap=self.config.soft_cap, breaker_open=manager.breaker.state is not BreakerState.CLOSED,
            exec_seq=self.reports.last_seq, ts_ns=self.rt.clock.wall_ns(),
        ))

    def _on_md(self, message: MarketEvent | InstrumentRef) -> None:
        """md also carries the quote bridge's InstrumentRefs, for risk; the simulator matches on books only."""
        if isinstance(message, MarketEvent) and self.setup.on_market is not None:
            self.setup.on_market(message)

    def _refresh_gauges(self) -> None:
        manager, metrics = self.manager, self.metrics
        metrics.live_orders.set(len(manager.orders.live))
        in_window = manager.limiter.in_window()
        metrics.broker_usage.set(in_window)
        self.broker_usage_peak = max(self.broker_usage_peak, in_window)
        metrics.broker_usage_peak.set(self.broker_usage_peak)
        metrics.broker_calls_waiting.set(manager.calls.waiting)
        metrics.breaker_state.set(BREAKER_STATES[manager.breaker.state])

    def run(self) -> int:
        """The loop until a stop; the journal and the broker closed whatever ends it."""
        try:
            return self.rt.run()
        finally:
            self.journal.close()
            self.setup.close()


def main(stack: StackConfig) -> int:
    return AdapterService(ServiceRuntime(ServiceName.ADAPTER, stack), stack).run()
