"""A flooded exec PUB drops reports; risk's positions still end equal to the broker's.

Real sockets in one process (inproc): the adapter's side is a PUB with a tiny high-water mark and a
ReplayServer on a ROUTER answering from an in-memory journal of everything published; risk's side
is a ServiceRuntime wired exactly as services/risk/service.py wires it (read_exec_stream), feeding a
PositionBook. The subscriber is not read while the first flood is published, so the PUB drops most
of it; a second flood follows while it reads. Every wait is on an event, with a deadline.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

import structlog
import zmq
from structlog.testing import LogCapture

from contracts.codec import encode
from contracts.enums import ExecType, OrderStatus, ServiceName, Side
from contracts.messages import AdapterUsage, ExecutionReport
from services.adapter.replay_server import ReplayServer
from services.risk.positions import PositionBook
from services.runtime.clock import FakeClock, SystemClock
from services.runtime.config.curve import CurveConfig
from services.runtime.config.stack import Endpoints, SocketTuning, StackConfig
from services.runtime.exec_stream import read_exec_stream
from services.runtime.metrics import ServiceMetrics
from services.runtime.service import ServiceRuntime

FIRST_FLOOD = 4000
SECOND_FLOOD = 4000
TOTAL = FIRST_FLOOD + SECOND_FLOOD
HWM = 8
DEADLINE_S = 8.0
WARM_MARKER = -1


class MemoryJournal:
    """The adapter's journal: every report published, by seq (a ReportStore)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._payloads: list[bytes] = []

    def append(self, payload: bytes) -> None:
        with self._lock:
            self._payloads.append(payload)

    def reports_between(self, first_seq: int, last_seq: int, limit: int) -> list[tuple[int, bytes]]:
        with self._lock:
            last = min(last_seq, len(self._payloads), first_seq + limit - 1)
            return [(seq, self._payloads[seq - 1]) for seq in range(first_seq, last + 1)]

    def last_report_seq(self) -> int:
        with self._lock:
            return len(self._payloads)


def fills(count: int, seed: int = 7) -> list[ExecutionReport]:
    rng = random.Random(seed)
    out = []
    for seq in range(1, count + 1):
        qty = rng.randint(1, 5)
        out.append(ExecutionReport(
            seq=seq, client_order_id=f"c{seq}", intent_id=f"i{seq}", strategy_id=rng.choice(["mm1", "mo1"]),
            symbol=rng.choice(["2330", "2317", "2454"]), side=rng.choice([Side.BUY, Side.SELL]),
            exec_type=ExecType.FILL, status=OrderStatus.FILLED, price_e4=10_000_000, qty=qty, cum_qty=qty,
            leaves_qty=0, last_price_e4=10_000_000, last_qty=qty, ts_ns=seq,
        ))
    return out


def usage(exec_seq: int, actions_in_window: int = 0) -> AdapterUsage:
    return AdapterUsage(seq=0, actions_in_window=actions_in_window, window_ns=10_000_000_000, soft_cap=200,
                        exec_seq=exec_seq, ts_ns=0)


def _logger(capture: LogCapture) -> structlog.stdlib.BoundLogger:
    return structlog.wrap_logger(structlog.ReturnLogger(), processors=[capture],
                                 wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))


class LoopDriver:
    """Runs a service loop until a condition holds (checked every millisecond) or a deadline passes."""

    def __init__(self, rt: ServiceRuntime) -> None:
        self.rt = rt
        self.clock = SystemClock()
        self._done: Callable[[], bool] = lambda: True
        self._give_up_ns = 0
        self._finished = False
        rt.loop.every(1_000_000, self._check)

    def _check(self) -> None:
        if self._done():
            self._finished = True
            self.rt.loop.stop()
        elif self.clock.mono_ns() > self._give_up_ns:
            self.rt.loop.stop()

    def run_until(self, done: Callable[[], bool], deadline_s: float) -> bool:
        """True if `done()` held before the deadline."""
        self._done, self._finished = done, False
        self._give_up_ns = self.clock.mono_ns() + int(deadline_s * 1e9)
        self.rt.loop.run()
        return self._finished


def test_risk_positions_equal_the_brokers_after_a_flood_the_pub_dropped() -> None:
    endpoints = {name: f"inproc://{name}" for name in Endpoints.model_fields}
    stack = StackConfig(endpoints=Endpoints(**endpoints), sockets=SocketTuning(stream_hwm=HWM),
                        curve=CurveConfig(ops=False))  # one service in process: no control, no keys
    capture = LogCapture()
    rt = ServiceRuntime(ServiceName.RISK, stack, log=_logger(capture))
    book = PositionBook()
    delivered: list[int] = []
    warm = threading.Event()
    first_flood_sent = threading.Event()
    stop = threading.Event()

    def on_execution(report: ExecutionReport) -> None:
        delivered.append(report.seq)
        book.on_execution(report)

    def on_usage(message: AdapterUsage) -> None:
        if message.actions_in_window == WARM_MARKER:
            warm.set()

    stream = read_exec_stream(rt, on_execution, on_usage)
    journal = MemoryJournal()
    adapter_metrics = ServiceMetrics("adapter")
    server = ReplayServer(journal, _logger(LogCapture()), metrics=adapter_metrics, clock=FakeClock())
    pub = rt.sockets.publisher(stack.endpoints.exec)
    router = rt.sockets.router(stack.endpoints.exec_replay)
    reports = fills(TOTAL)

    def publish(report: ExecutionReport) -> None:
        payload = encode(report)
        journal.append(payload)  # journaled before it is published, as the adapter does
        pub.send_multipart((b"exec", payload))

    def adapter() -> None:
        # Until the subscription has reached the PUB, a marker every 10 ms (the subscriber stops
        # reading at the first one, so only a few wait in the pipe).
        while not warm.wait(0.01):
            pub.send_multipart((b"usage", encode(usage(0, WARM_MARKER))))
            if stop.is_set():
                return
        for report in reports[:FIRST_FLOOD]:
            publish(report)
        first_flood_sent.set()
        for report in reports[FIRST_FLOOD:]:
            publish(report)
        # The heartbeat's AdapterUsage, so a lost last report is noticed too.
        while not stop.wait(0.005):
            pub.send_multipart((b"usage", encode(usage(TOTAL))))

    def replay_server() -> None:
        on_frames = server.reader(router)
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        while not stop.is_set():
            if poller.poll(20):
                on_frames(router.recv_multipart())

    driver = LoopDriver(rt)
    threads = [threading.Thread(target=adapter, daemon=True), threading.Thread(target=replay_server, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        assert driver.run_until(warm.is_set, DEADLINE_S), "the subscription never reached the PUB"
        # Not reading while the first flood is published: the PUB drops what its HWM cannot hold.
        assert first_flood_sent.wait(DEADLINE_S), "the first flood was never published"
        caught_up = driver.run_until(lambda: len(delivered) == TOTAL and not stream.gap_open, DEADLINE_S)
    finally:
        stop.set()
        for thread in threads:
            thread.join(DEADLINE_S)
        rt.sockets.close_all()
        rt.loop.close()
        rt.context.term()

    metrics = rt.metrics.registry
    missed = metrics.get_sample_value("missed_messages_total", {"service": "risk", "socket": "exec"})
    assert missed and missed >= FIRST_FLOOD - 100, f"the PUB dropped only {missed} reports: no flood"
    assert metrics.get_sample_value("exec_gaps_total") > 0
    assert metrics.get_sample_value("exec_replayed_total") >= missed
    assert caught_up, f"{len(delivered)} of {TOTAL} reports delivered, gap open: {stream.gap_open}"
    assert delivered == list(range(1, TOTAL + 1))
    assert metrics.get_sample_value("exec_unrecovered_total") == 0

    broker: dict[tuple[str, str], int] = {}
    for report in reports:
        key = (report.strategy_id, report.symbol)
        broker[key] = broker.get(key, 0) + (report.last_qty if report.side is Side.BUY else -report.last_qty)
    assert book.positions == broker
    assert adapter_metrics.registry.get_sample_value("exec_replay_requests_total") > 0
