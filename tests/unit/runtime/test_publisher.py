"""Publisher: numbers each topic's messages from 1, leaves an explicit number alone; the receiving
Inbox counts the numbers it never saw."""

from __future__ import annotations

import structlog
import zmq

from contracts.codec import Decoder, encode
from contracts.enums import StormGuardLevel
from contracts.messages import MarketEvent, StormGuardState
from services.runtime.clock import FakeClock
from services.runtime.inbox import Inbox
from services.runtime.metrics import ServiceMetrics
from services.runtime.sockets import Publisher


def event(symbol: str) -> MarketEvent:
    return MarketEvent(symbol=symbol, seq=0, exch_ts_ns=0, ingest_ts_ns=0, bid_prices_e4=[1], bid_qtys=[1],
                       ask_prices_e4=[2], ask_qtys=[1])


def received(pull: zmq.Socket, count: int) -> list[list[bytes]]:
    frames = []
    for _ in range(count):
        assert pull.poll(5000)
        frames.append(pull.recv_multipart())
    return frames


def test_each_topic_is_numbered_from_one(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    publisher = Publisher(push)
    for symbol in ["2330", "2317", "2330", "2330", "2317"]:
        publisher.send(event(symbol))
    decoder = Decoder(MarketEvent)
    got = [(frames[0], decoder.decode(frames[1]).seq) for frames in received(pull, 5)]
    assert got == [(b"2330", 1), (b"2317", 1), (b"2330", 2), (b"2330", 3), (b"2317", 2)]


def test_an_explicit_sequence_number_is_kept(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    Publisher(push).send(StormGuardState(seq=41, global_level=StormGuardLevel.NORMAL, ts_ns=0))
    (frames,) = received(pull, 1)
    assert Decoder(StormGuardState).decode(frames[1]).seq == 41


def test_the_heads_are_the_last_seq_sent_on_each_topic(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    publisher = Publisher(push)
    assert publisher.heads() == {}
    for symbol in ["2330", "2317", "2330"]:
        publisher.send(event(symbol))
    publisher.send(StormGuardState(seq=41, global_level=StormGuardLevel.NORMAL, ts_ns=0))
    received(pull, 4)
    heads = publisher.heads()
    assert heads == {b"2330": 2, b"2317": 1, b"sg": 41}
    publisher.send(event("2330"))
    assert heads[b"2330"] == 2, "a copy: what a heartbeat took does not move under it"
    assert publisher.heads()[b"2330"] == 3


def test_a_sequenced_inbox_counts_what_it_missed_per_topic_and_restarts_on_a_lower_number() -> None:
    metrics = ServiceMetrics("strategy")
    inbox = Inbox("md", Decoder(MarketEvent), metrics, structlog.get_logger(), FakeClock(), sequenced=True)

    def deliver(symbol: str, seq: int) -> None:
        message = event(symbol)
        message.seq = seq
        assert inbox.decode([symbol.encode(), encode(message)]) is not None

    for symbol, seq in [("2330", 1), ("2317", 1), ("2330", 2), ("2330", 5), ("2317", 2), ("2330", 1), ("2330", 3)]:
        deliver(symbol, seq)
    missed = metrics.registry.get_sample_value("missed_messages_total", {"service": "strategy", "socket": "md"})
    assert missed == 2 + 1, "2330: 3 and 4 missed; after the restart at 1, 2 missed"


def test_an_unsequenced_inbox_counts_nothing() -> None:
    metrics = ServiceMetrics("risk")
    inbox = Inbox("intents", Decoder(MarketEvent), metrics, structlog.get_logger(), FakeClock())
    for seq in (1, 9):
        message = event("2330")
        message.seq = seq
        inbox.decode([b"2330", encode(message)])
    assert metrics.registry.get_sample_value("missed_messages_total", {"service": "risk", "socket": "intents"}) == 0
