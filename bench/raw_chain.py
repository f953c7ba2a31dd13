"""The floor: the same three hops as the order path (md PUB/SUB, intents PUSH/PULL, orders PUSH/PULL)
with raw pyzmq forwarders that do nothing but pass frames on, in four processes.

The sink also subscribes to md and drains it, as the adapter does for its simulator, so both runs
wake the same number of processes per market event.
"""

from __future__ import annotations

import multiprocessing as mp
import struct
import time
from dataclasses import dataclass

import numpy as np
import zmq

from bench.proc_cpu import cpu_seconds

STAMP = struct.Struct("<q")


@dataclass(frozen=True)
class ChainEndpoints:
    md: str
    intents: str
    orders: str


def _source(endpoints: ChainEndpoints, payload: bytes, rate_hz: float, count: int, ready: mp.Event) -> None:
    context = zmq.Context()
    pub = context.socket(zmq.XPUB)
    pub.setsockopt(zmq.XPUB_VERBOSE, 1)
    pub.bind(endpoints.md)
    for _ in range(2):
        pub.recv()
    ready.wait()
    interval = 1.0 / rate_hz if rate_hz > 0 else 0.0
    next_due = time.monotonic()
    for _ in range(count):
        if interval:
            next_due += interval
            delay = next_due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        pub.send_multipart((b"2330", STAMP.pack(time.monotonic_ns()), payload))
    time.sleep(0.5)
    context.destroy(linger=0)


def _forward_md(endpoints: ChainEndpoints) -> None:
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoints.md)
    push = context.socket(zmq.PUSH)
    push.connect(endpoints.intents)
    while True:
        push.send_multipart(sub.recv_multipart()[1:])


def _forward_orders(endpoints: ChainEndpoints) -> None:
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.bind(endpoints.intents)
    push = context.socket(zmq.PUSH)
    push.connect(endpoints.orders)
    while True:
        push.send_multipart(pull.recv_multipart())


def _sink(endpoints: ChainEndpoints, count: int, warmup: int, results: mp.Queue, ready: mp.Event) -> None:
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.bind(endpoints.orders)
    md = context.socket(zmq.SUB)
    md.setsockopt(zmq.SUBSCRIBE, b"")
    md.connect(endpoints.md)
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    poller.register(md, zmq.POLLIN)
    ready.set()
    latencies = np.zeros(count, dtype=np.int64)
    received = 0
    first_ns = last_ns = 0
    while received < count:
        ready_sockets = dict(poller.poll(5000))
        if not ready_sockets:
            break
        if md in ready_sockets:
            while True:
                try:
                    md.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
        if pull in ready_sockets:
            while received < count:
                try:
                    frames = pull.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = time.monotonic_ns()
                latencies[received] = now - STAMP.unpack(frames[0])[0]
                if received == warmup:
                    first_ns = now
                last_ns = now
                received += 1
    results.put((latencies[warmup:received].tolist(), first_ns, last_ns))
    context.destroy(linger=0)


@dataclass(frozen=True)
class ChainResult:
    latencies_ns: np.ndarray
    elapsed_s: float
    cpu_us_per_event: dict[str, float]


def run_raw_chain(
    endpoints: ChainEndpoints, payload: bytes, rate_hz: float, count: int, warmup: int
) -> ChainResult:
    """Send `warmup` + `count` frames through the chain at `rate_hz` (0: as fast as possible);
    the first `warmup` only establish the connections and are not measured."""
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()
    ready = ctx.Event()
    procs = [
        ctx.Process(target=_sink, args=(endpoints, warmup + count, warmup, results, ready), daemon=True),
        ctx.Process(target=_forward_orders, args=(endpoints,), daemon=True),
        ctx.Process(target=_forward_md, args=(endpoints,), daemon=True),
        ctx.Process(target=_source, args=(endpoints, payload, rate_hz, warmup + count, ready), daemon=True),
    ]
    names = ("sink", "orders forwarder", "md forwarder", "source")
    for proc in procs:
        proc.start()
    ready.wait(60)
    cpu_at_start = {name: cpu_seconds(proc.pid) for name, proc in zip(names, procs, strict=True)}
    latencies, first_ns, last_ns = results.get(timeout=count / max(rate_hz, 1000) + 60)
    cpu_at_end = {name: cpu_seconds(proc.pid) for name, proc in zip(names, procs, strict=True)}
    for proc in procs:
        proc.kill()
        proc.join()
    cpu_us_per_event = {
        name: (cpu_at_end[name] - cpu_at_start[name]) * 1e6 / count
        for name in names if cpu_at_start[name] is not None and cpu_at_end[name] is not None
    }
    return ChainResult(np.array(latencies, dtype=np.int64), (last_ns - first_ns) / 1e9, cpu_us_per_event)
