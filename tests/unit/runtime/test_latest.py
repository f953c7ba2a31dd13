"""LatestByTopic: what queued is drained on demand, only the newest per topic is decoded."""

from __future__ import annotations

import msgpack
import structlog
import zmq
from prometheus_client import Counter

from contracts.codec import Decoder, encode, topic_for
from contracts.messages import MarketEvent
from services.runtime.clock import FakeClock
from services.runtime.inbox import Inbox
from services.runtime.latest import LatestByTopic
from services.runtime.metrics import ServiceMetrics


def event(symbol: str, seq: int) -> MarketEvent:
    return MarketEvent(symbol=symbol, seq=seq, exch_ts_ns=0, ingest_ts_ns=0, bid_prices_e4=[1], bid_qtys=[1],
                       ask_prices_e4=[2], ask_qtys=[1])


def reader(pull: zmq.Socket, seen: list[MarketEvent]) -> tuple[LatestByTopic[MarketEvent], ServiceMetrics]:
    metrics = ServiceMetrics("risk")
    inbox = Inbox("md", Decoder(MarketEvent), metrics, structlog.get_logger(), FakeClock())
    superseded = Counter("md_superseded", "test", registry=metrics.registry)
    return LatestByTopic(pull, inbox, seen.append, superseded), metrics


def wait_readable(sock: zmq.Socket) -> None:
    """inproc queues a message in the pipe as it is sent; the poll (with a deadline) only makes sure."""
    assert sock.poll(5000)


def test_refresh_hands_over_the_newest_message_of_each_topic(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    seen: list[MarketEvent] = []
    latest, metrics = reader(pull, seen)
    for seq, symbol in enumerate(["2330", "2317", "2330", "2330", "2317"], start=1):
        push.send_multipart((topic_for(event(symbol, seq)), encode(event(symbol, seq))))
    wait_readable(pull)
    latest.refresh()
    assert [(e.symbol, e.seq) for e in seen] == [("2330", 4), ("2317", 5)]
    assert metrics.registry.get_sample_value("md_superseded_total") == 3


def test_refresh_with_nothing_queued_does_nothing(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    _, pull = pair
    seen: list[MarketEvent] = []
    latest, _ = reader(pull, seen)
    latest.refresh()
    assert seen == []


def test_bad_frames_are_counted_and_a_bad_newest_message_is_dropped(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    seen: list[MarketEvent] = []
    latest, metrics = reader(pull, seen)
    push.send_multipart((b"2330", encode(event("2330", 1))))
    push.send_multipart((b"only-one-frame",))
    push.send_multipart((b"2317", msgpack.packb({"t": "md", "v": 1})))
    wait_readable(pull)
    latest.refresh()
    assert [(e.symbol, e.seq) for e in seen] == [("2330", 1)]
    assert metrics.registry.get_sample_value("bad_messages_total", {"service": "risk", "socket": "md"}) == 2
