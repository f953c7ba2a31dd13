"""The feed's md stream carries each symbol's InstrumentRef under its own topic, numbered per send."""

from __future__ import annotations

import zmq
from prometheus_client import CollectorRegistry

from contracts.codec import Decoder
from contracts.messages import InstrumentRef
from services.feed.md_publisher import MdPublisher
from services.feed.metrics import FeedMetrics
from services.runtime.config.instruments import load_instruments
from services.runtime.sockets import Publisher
from tests.unit.shioaji.broker_harness import REPO

WAIT_MS = 10_000


def test_a_reference_sent_again_is_numbered_again_under_its_symbols_topic(
        pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    md = MdPublisher(Publisher(push), FeedMetrics(CollectorRegistry(), "synthetic"))
    ref = load_instruments(REPO / "config" / "instruments.yaml")["2330"]
    for _ in range(3):
        md.send_reference(ref)
    decoder = Decoder(InstrumentRef)
    received = []
    for _ in range(3):
        assert pull.poll(WAIT_MS)
        topic, payload = pull.recv_multipart()
        received.append((topic, decoder.decode(payload).seq))
    assert received == [(b"instrument.2330", 1), (b"instrument.2330", 2), (b"instrument.2330", 3)]
    assert ref.seq == 0, "the feed's own copy is never numbered"
