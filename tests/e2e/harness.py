"""Test-side sockets around a LocalStack: publish md ourselves, listen to exec and risk, with deadlines."""

from __future__ import annotations

import time
from collections import Counter
from typing import TypeVar

import zmq

from contracts.codec import Decoder, encode, topic_for
from contracts.messages import (
    AdapterUsage,
    ExecutionReport,
    MarketEvent,
    Message,
    RiskDecision,
    RiskSnapshot,
)
from services.runtime.config.stack import StackConfig

M = TypeVar("M", bound=Message)
DEADLINE_S = 15.0


class Listener:
    """A SUB that collects decoded messages of some types, waited on with a deadline."""

    def __init__(self, context: zmq.Context, endpoint: str, *types: type[Message]) -> None:
        self.socket = context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        self.socket.connect(endpoint)
        self.decoder = Decoder(*types)
        self.received: list[Message] = []

    def wait_for(self, kind: type[M], count: int, deadline_s: float = DEADLINE_S) -> list[M]:
        """Block until `count` messages of `kind` have arrived in all; returns them."""
        deadline = time.monotonic() + deadline_s
        while True:
            matching = [m for m in self.received if isinstance(m, kind)]
            if len(matching) >= count:
                return matching
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                raise AssertionError(f"only {len(matching)} of {count} {kind.__name__} within {deadline_s}s: "
                                     f"{matching}")
            if self.socket.poll(remaining_ms):
                self.received.append(self.decoder.decode(self.socket.recv_multipart()[1]))


class MarketHarness:
    """Stands in for the feed: an XPUB on the md endpoint, so the test knows who has subscribed."""

    def __init__(self, stack: StackConfig) -> None:
        self.context = zmq.Context()
        self.md = self.context.socket(zmq.XPUB)
        self.md.setsockopt(zmq.LINGER, 0)
        self.md.setsockopt(zmq.XPUB_VERBOSE, 1)
        self.md.bind(stack.endpoints.md)
        self.exec = Listener(self.context, stack.endpoints.exec, ExecutionReport, AdapterUsage)
        self.risk = Listener(self.context, stack.endpoints.risk, RiskDecision, RiskSnapshot)
        self.seq = 0

    def wait_for_subscriptions(self, wanted: dict[bytes, int], deadline_s: float = DEADLINE_S) -> None:
        """Block until each topic has been subscribed at least the given number of times."""
        seen: Counter[bytes] = Counter()
        deadline = time.monotonic() + deadline_s
        while any(seen[topic] < count for topic, count in wanted.items()):
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0 or not self.md.poll(remaining_ms):
                raise AssertionError(f"md subscriptions {dict(seen)} never covered {wanted}")
            frame = self.md.recv()
            if frame[:1] == b"\x01":
                seen[frame[1:]] += 1

    def wait_until_listening(self) -> None:
        """Our SUBs are live once each has received one periodic message from its publisher."""
        self.exec.wait_for(AdapterUsage, 1)
        self.risk.wait_for(RiskSnapshot, 1)

    def publish(self, event: MarketEvent) -> None:
        self.md.send_multipart((topic_for(event), encode(event)))

    def close(self) -> None:
        self.context.destroy(linger=0)


def book(symbol: str, seq: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]],
         last: tuple[int, int] = (0, 0)) -> MarketEvent:
    return MarketEvent(
        symbol=symbol, seq=seq, exch_ts_ns=time.time_ns(), ingest_ts_ns=time.monotonic_ns(),
        bid_prices_e4=[p for p, _ in bids], bid_qtys=[q for _, q in bids],
        ask_prices_e4=[p for p, _ in asks], ask_qtys=[q for _, q in asks],
        last_price_e4=last[0], last_qty=last[1],
    )
