"""What CURVE costs on a PUB/SUB stream: throughput and round-trip latency, with and without it.

Two processes on loopback TCP, the sockets made as the stack makes them (services/runtime/sockets.py
options: HWM, MAXMSGSIZE, LINGER), messages the size of an encoded ExecutionReport:

- throughput: one PUB sends `--messages` as fast as it can, one SUB counts them; messages per second
  at the subscriber, from the first to the last;
- latency: a ping goes PUB → SUB in an echo process, which sends it back PUB → SUB; `--pings` round
  trips paced at `--rate`, p50/p99 of the round trip (two hops, so one hop is about half).

Runs alternate plain and CURVE `--rounds` times and report the median of each. It asserts nothing.

    .venv/bin/python -m bench.curve_cost [--messages 200000] [--pings 5000] [--rate 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import zmq

from contracts.codec import encode
from contracts.enums import ExecType, OrderStatus, Side
from contracts.messages import ExecutionReport
from services.local_config import free_ports

HWM = 100_000
MAX_MSG = 1 << 20


def sample_report() -> ExecutionReport:
    return ExecutionReport(
        seq=123_456, client_order_id="mm1.19a3f2c4e10.1234", intent_id="mm1.19a3f2c4e10.1234", strategy_id="mm1",
        symbol="2330", side=Side.BUY, exec_type=ExecType.FILL, status=OrderStatus.PARTIALLY_FILLED,
        price_e4=10_050_000, qty=5, cum_qty=2, leaves_qty=3, last_price_e4=10_050_000, last_qty=2,
        broker_order_id="SIM-00012345", ts_ns=time.time_ns(),
    )


@dataclass(frozen=True)
class Keys:
    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes

    @classmethod
    def fresh(cls) -> Keys:
        server_public, server_secret = zmq.curve_keypair()
        client_public, client_secret = zmq.curve_keypair()
        return cls(server_public, server_secret, client_public, client_secret)


def _pub(context: zmq.Context, endpoint: str, keys: Keys | None) -> zmq.Socket:
    sock = context.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, HWM)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MSG)
    sock.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        sock.curve_server = True
        sock.curve_publickey = keys.server_public
        sock.curve_secretkey = keys.server_secret
    sock.bind(endpoint)
    return sock


def _sub(context: zmq.Context, endpoint: str, keys: Keys | None) -> zmq.Socket:
    sock = context.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, HWM)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MSG)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    if keys is not None:
        sock.curve_serverkey = keys.server_public
        sock.curve_publickey = keys.client_public
        sock.curve_secretkey = keys.client_secret
    sock.connect(endpoint)
    return sock


def _subscriber(endpoint: str, keys: Keys | None, count: int, conn: Connection) -> None:
    context = zmq.Context()
    sub = _sub(context, endpoint, keys)
    # The subscription reaches the PUB some time after connect: warm-up frames come until it says "joined".
    sub.recv_multipart()
    conn.send("joined")
    received, start = 0, 0.0
    while received < count:
        if sub.recv_multipart()[0] == b"warmup":
            continue
        if received == 0:
            start = time.perf_counter()
        received += 1
    conn.send((received - 1, time.perf_counter() - start))
    context.destroy(linger=0)


def throughput(keys: Keys | None, count: int, payload: bytes) -> float:
    """Messages per second a SUB receives from a PUB sending flat out."""
    endpoint = f"tcp://127.0.0.1:{free_ports(1)[0]}"
    context = zmq.Context()
    pub = _pub(context, endpoint, keys)
    parent, child = mp.Pipe()
    proc = mp.Process(target=_subscriber, args=(endpoint, keys, count, child))
    proc.start()
    while not parent.poll(0.001):
        pub.send_multipart((b"warmup", b""))
    assert parent.recv() == "joined"
    for _ in range(count):
        pub.send_multipart((b"exec", payload))
    received, elapsed = parent.recv()
    proc.join()
    context.destroy(linger=0)
    return received / elapsed


def _echo(ping_endpoint: str, pong_endpoint: str, keys: Keys | None, conn: Connection) -> None:
    context = zmq.Context()
    sub = _sub(context, ping_endpoint, keys)
    pub = _pub(context, pong_endpoint, keys)
    conn.send("ready")
    while True:
        frames = sub.recv_multipart()
        if frames[0] == b"stop":
            break
        pub.send_multipart(frames)
    context.destroy(linger=0)


def latency(keys: Keys | None, pings: int, rate: float, payload: bytes) -> tuple[float, float]:
    """p50 and p99 round trip, µs, over two PUB→SUB hops."""
    ping_port, pong_port = free_ports(2)
    ping_endpoint, pong_endpoint = f"tcp://127.0.0.1:{ping_port}", f"tcp://127.0.0.1:{pong_port}"
    context = zmq.Context()
    pub = _pub(context, ping_endpoint, keys)
    parent, child = mp.Pipe()
    proc = mp.Process(target=_echo, args=(ping_endpoint, pong_endpoint, keys, child))
    proc.start()
    parent.recv()
    sub = _sub(context, pong_endpoint, keys)
    # Both hops are joined once a ping comes back.
    while True:
        pub.send_multipart((b"warmup", b""))
        if sub.poll(10):
            sub.recv_multipart()
            break
    while sub.poll(50):
        sub.recv_multipart()
    gap = 1.0 / rate
    samples = []
    next_at = time.perf_counter()
    for _ in range(pings):
        # Slept, not spun: on a small machine a spinning client takes the CPU the IO threads need.
        time.sleep(max(0.0, next_at - time.perf_counter()))
        next_at += gap
        sent = time.perf_counter_ns()
        pub.send_multipart((b"ping", payload))
        sub.recv_multipart()
        samples.append((time.perf_counter_ns() - sent) / 1000)
    pub.send_multipart((b"stop", b""))
    proc.join()
    context.destroy(linger=0)
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)]


def run(messages: int, pings: int, rate: float, rounds: int) -> dict[str, dict[str, float]]:
    payload = encode(sample_report())
    keys = Keys.fresh()
    figures: dict[str, dict[str, list[float]]] = {"plain": {}, "curve": {}}
    for round_no in range(rounds):
        for name, round_keys in (("plain", None), ("curve", keys)):
            thr = throughput(round_keys, messages, payload)
            p50, p99 = latency(round_keys, pings, rate, payload)
            for key, value in (("msgs_per_s", thr), ("rtt_p50_us", p50), ("rtt_p99_us", p99)):
                figures[name].setdefault(key, []).append(value)
            print(f"round {round_no + 1} {name:<5}  {thr:>9,.0f} msg/s  round trip p50 {p50:7.1f} µs  "
                  f"p99 {p99:7.1f} µs", flush=True)
    return {name: {key: statistics.median(values) for key, values in per.items()} for name, per in figures.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.curve_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--pings", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    payload_size = len(encode(sample_report()))
    print(f"PUB → SUB over loopback TCP, {payload_size}-byte messages (an encoded ExecutionReport)")
    medians = run(args.messages, args.pings, args.rate, args.rounds)
    plain, curve = medians["plain"], medians["curve"]
    print(f"median plain: {plain['msgs_per_s']:,.0f} msg/s, round trip p50 {plain['rtt_p50_us']:.1f} µs "
          f"p99 {plain['rtt_p99_us']:.1f} µs")
    print(f"median CURVE: {curve['msgs_per_s']:,.0f} msg/s, round trip p50 {curve['rtt_p50_us']:.1f} µs "
          f"p99 {curve['rtt_p99_us']:.1f} µs")
    print(f"CURVE costs {100 * (1 - curve['msgs_per_s'] / plain['msgs_per_s']):.0f} % of throughput and "
          f"{(curve['rtt_p50_us'] - plain['rtt_p50_us']) / 2:+.1f} µs per hop at p50")
    if args.json:
        print(json.dumps(medians))


if __name__ == "__main__":
    main()
