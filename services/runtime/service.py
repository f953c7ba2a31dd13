"""What every service process has: config, clock, logger, metrics, sockets, loop and heartbeats.

A service module builds one ServiceRuntime, wires its sockets to its engine through `inbox` and
`loop.add_reader`, then calls `run()`: metrics served, a heartbeat at once and on a timer (under the
process's instance name, services/runtime/instance.py), SIGINT/SIGTERM stop the loop, a final heartbeat
goes to control, sockets close. Every SUB socket read through `read` or `read_latest` is watched
(services/runtime/stream_guard.py) and made again if its stream goes dead; every PUB stream registered
with `advertise` has its per-topic seqs in each heartbeat, which is what the watching compares with.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping
from typing import TypeVar

import structlog
import zmq
from prometheus_client import Counter, Gauge
from zmq.utils.monitor import parse_monitor_message

from contracts.codec import Decoder, encode
from contracts.enums import ServiceName
from contracts.messages import Heartbeat, Message, PublishedStream
from services.runtime.affinity import pin_to_cpus
from services.runtime.clock import Clock, SystemClock
from services.runtime.config.stack import StackConfig
from services.runtime.curve import CurveSettings
from services.runtime.heap import IdleCollector, settle_heap
from services.runtime.inbox import Inbox
from services.runtime.instance import instance_name
from services.runtime.latest import LatestByTopic
from services.runtime.logs import setup_logging
from services.runtime.loop import ServiceLoop
from services.runtime.metrics import ServiceMetrics
from services.runtime.sockets import SocketFactory
from services.runtime.stream_guard import StreamGuard
from services.runtime.zap import ZapHandler

M = TypeVar("M", bound=Message)


class ServiceRuntime:
    def __init__(self, name: ServiceName, stack: StackConfig, clock: Clock | None = None,
                 log: structlog.stdlib.BoundLogger | None = None) -> None:
        """`log`: a logger to use instead of configuring the process's logging (a test in a shared process)."""
        self.name = name
        self.instance = instance_name(name, os.environ)
        self.stack = stack
        self.clock: Clock = clock or SystemClock()
        self.started_ns = self.clock.wall_ns()
        self.log = log or setup_logging(name, os.environ.get("ORDERPATH_LOG_LEVEL", "INFO"))
        self.metrics = ServiceMetrics(name)
        self.context = zmq.Context()
        self.curve = CurveSettings.for_service(stack.curve, binds_ops=name == ServiceName.CONTROL)
        self.sockets = SocketFactory(self.context, stack.sockets, self.curve)
        self.loop = ServiceLoop(self.clock)
        self.zap: ZapHandler | None = None
        if self.curve is not None and self.curve.server is not None:
            # Bound before any CURVE server socket, and read on the loop: services/runtime/zap.py.
            self.zap = ZapHandler(self.context, self.curve.keys_dir, self.metrics.registry, self.log, self.clock)
            self.sockets.own(self.zap.socket)
            self.loop.add_reader(self.zap.socket, self.zap.on_frames)
        self._ops = self.sockets.ops_dealer(stack.endpoints.ops)
        self._heartbeat_seq = 0
        self.exit_code = 0
        self._before_heartbeat: list[Callable[[], None]] = []
        self._on_stop: list[Callable[[], None]] = []
        self._peer_connected = Gauge("peer_connected", "1 while an order socket has a connected peer", ["socket"],
                                     registry=self.metrics.registry)
        self.streams = StreamGuard(self.clock, self.loop, self.log, self.metrics.registry,
                                   silent_checks=stack.stream_silent_heartbeats)
        self._advertised: dict[str, Callable[[], Mapping[bytes, int]]] = {}

    def inbox(self, socket_name: str, *types: type[M], sequenced: bool = False,
              on_undecodable: Callable[[bytes, str], None] | None = None) -> Inbox[M]:
        return Inbox(socket_name, Decoder(*types), self.metrics, self.log, self.clock, sequenced=sequenced,
                     on_undecodable=on_undecodable)

    def read(self, sock: zmq.Socket, socket_name: str, types: tuple[type[M], ...],
             handler: Callable[[M], None]) -> None:
        """Hand every valid message of `types` arriving on `sock` to `handler`; the rest are counted bad.
        What comes from a publisher (a SUB socket) is checked for gaps in its sequence numbers."""
        inbox = self.inbox(socket_name, *types, sequenced=sock.type == zmq.SUB)

        def on_frames(frames: list[bytes]) -> None:
            message = inbox.decode(frames)
            if message is not None:
                handler(message)

        self.loop.add_reader(sock, on_frames)
        if sock.type != zmq.SUB:
            return
        current = [sock]

        def remake() -> None:
            self.loop.remove_reader(current[0])
            current[0] = self.sockets.resubscribe(current[0])
            self.loop.add_reader(current[0], on_frames)

        self.streams.watch(socket_name, self.sockets.topics_of(sock), lambda: inbox.last_seqs, remake)

    def watch_peer(self, sock: zmq.Socket, socket_name: str) -> None:
        """Keep `peer_connected{socket}` at 1 while `sock` has a connected peer. An order socket with
        IMMEDIATE=1 refuses to queue before its peer is connected, so a stack is ready only when
        every one of them is (services/launcher.py waits for it)."""
        connected = self._peer_connected.labels(socket_name)
        connected.set(0)

        def on_event(frames: list[bytes]) -> None:
            event = parse_monitor_message(frames)["event"]
            connected.set(1 if event == zmq.EVENT_HANDSHAKE_SUCCEEDED else 0)
            self.log.info("peer_connection", socket=socket_name, connected=event == zmq.EVENT_HANDSHAKE_SUCCEEDED)

        self.loop.add_reader(self.sockets.monitor_of(sock), on_event)

    def watch_handshakes(self, sock: zmq.Socket, socket_name: str) -> None:
        """Count and log clients that fail the handshake on `sock`, a CURVE server socket (no CURVE at all,
        or a wrong server key): ZAP never hears of them. Nothing to watch on a socket without CURVE."""
        zap = self.zap
        if zap is None or not sock.get(zmq.CURVE_SERVER):
            return

        def on_event(frames: list[bytes]) -> None:
            event = parse_monitor_message(frames)
            zap.on_handshake_failed(socket_name, event["event"] == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                    and event["value"] == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)

        # Which side reads the other's greeting first decides what the server sees of a client without
        # CURVE: the mechanism mismatch, or a connection closed mid-handshake (NO_DETAIL). Both count.
        events = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
        self.loop.add_reader(self.sockets.watch(sock, events), on_event)

    def read_latest(self, sock: zmq.Socket, socket_name: str, types: tuple[type[M], ...],
                    handler: Callable[[M], None]) -> LatestByTopic[M]:
        """A socket read on demand (`.refresh()`), newest message per topic only; see runtime/latest.py."""
        superseded = Counter(f"{socket_name}_superseded", f"Messages on {socket_name} replaced by a newer one "
                             "of the same topic before they were read", registry=self.metrics.registry)
        latest = LatestByTopic(sock, self.inbox(socket_name, *types), handler, superseded)

        def remake() -> None:
            latest.sock = self.sockets.resubscribe(latest.sock)

        self.streams.watch(socket_name, self.sockets.topics_of(sock), lambda: latest.last_seqs, remake,
                           refresh=latest.refresh)
        return latest

    def advertise(self, stream: str, heads: Callable[[], Mapping[bytes, int]]) -> None:
        """Say in every heartbeat which seq each topic of the PUB stream `stream` (its endpoint's name) is at:
        `heads` is a Publisher's, or what numbers the stream's messages (the adapter's report writer)."""
        self._advertised[stream] = heads

    def read_batch(self, sock: zmq.Socket, socket_name: str, types: tuple[type[M], ...],
                   handler: Callable[[list[M]], None], *,
                   on_undecodable: Callable[[bytes, str], None] | None = None) -> None:
        """Like `read`, but `handler` gets every valid message drained in one loop turn at once;
        `on_undecodable` hears of each payload that did not decode (Inbox)."""
        inbox = self.inbox(socket_name, *types, sequenced=sock.type == zmq.SUB, on_undecodable=on_undecodable)

        def on_batch(batch: list[list[bytes]]) -> None:
            messages = [m for m in map(inbox.decode, batch) if m is not None]
            if messages:
                handler(messages)

        self.loop.add_batch_reader(sock, on_batch)

    def before_heartbeat(self, callback: Callable[[], None]) -> None:
        """Refresh derived metrics (gauges) right before each heartbeat reads them."""
        self._before_heartbeat.append(callback)

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the loop stops cleanly (SIGTERM, SIGINT), before the final heartbeat and while
        the sockets are still open: a service's last words on its own streams."""
        self._on_stop.append(callback)

    def send_heartbeat(self, *, final: bool = False) -> None:
        for callback in self._before_heartbeat:
            callback()
        if not final:
            self.streams.on_heartbeat()
        self._heartbeat_seq += 1
        beat = Heartbeat(
            service=self.name,
            pid=os.getpid(),
            seq=self._heartbeat_seq,
            ts_ns=self.clock.wall_ns(),
            metrics=self.metrics.samples(),
            final=final,
            instance=self.instance,
            started_ns=self.started_ns,
            published=[PublishedStream(stream=stream, topics={topic.decode(errors="replace"): seq
                                                              for topic, seq in heads().items()})
                       for stream, heads in self._advertised.items()],
            subscribed=self.streams.freshness(),
        )
        try:
            self._ops.send_multipart((b"hb", encode(beat)), zmq.NOBLOCK)
        except zmq.Again:
            self.log.warning("heartbeat_not_sent", reason="ops_queue_full")

    def run(self) -> int:
        cpus = self.stack.cpu_affinity.get(self.name)
        if cpus:
            pin_to_cpus(self.name, cpus)
            self.log.info("cpu_affinity", cpus=cpus)
        port = self.stack.metrics_ports.get(self.name, 0)
        self.metrics.serve(port, self.stack.metrics_address)
        self.loop.install_signal_handlers()
        self.loop.every(self.stack.heartbeat_interval_ms * 1_000_000, self.send_heartbeat)
        self.log.info("service_started", pid=os.getpid(), metrics_port=port, instance=self.instance)
        self.send_heartbeat()
        settle_heap()
        gc.disable()  # collections run at the loop's idle moments instead (heap.py)
        self.loop.after_each_turn(IdleCollector(self.loop.when_idle).after_turn)
        try:
            self.loop.run()
            for callback in self._on_stop:
                callback()
        finally:
            gc.enable()
            self.send_heartbeat(final=True)
            self.log.info("service_stopped")
            self.sockets.close_all()
            self.loop.close()
            self.context.term()
        return self.exit_code
