"""SocketFactory.subscriber: no topics given means the whole stream, an empty list means none of it; a SUB made
again (`resubscribe`) has the same endpoint and topics.

An XPUB sees each subscription its SUB sends, in order per connection: a marker subscribed after
the socket is made arrives first only if the socket itself subscribed to nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import zmq

from services.runtime.config.stack import SocketTuning
from services.runtime.sockets import SocketFactory

WAIT_MS = 10_000
MARKER = b"marker"


@pytest.fixture
def xpub() -> Iterator[tuple[SocketFactory, zmq.Socket]]:
    context = zmq.Context()
    xpub = context.socket(zmq.XPUB)
    xpub.bind("inproc://stream")
    sockets = SocketFactory(context, SocketTuning())
    try:
        yield sockets, xpub
    finally:
        sockets.close_all()
        xpub.close(linger=0)
        context.term()


def first_subscription(sockets: SocketFactory, xpub: zmq.Socket, topics: list[bytes] | None) -> bytes:
    sub = sockets.subscriber("inproc://stream", topics)
    sub.setsockopt(zmq.SUBSCRIBE, MARKER)
    assert xpub.poll(WAIT_MS)
    return xpub.recv()


def test_no_topics_subscribes_to_everything(xpub: tuple[SocketFactory, zmq.Socket]) -> None:
    assert first_subscription(*xpub, None) == b"\x01"


def test_an_empty_topic_list_subscribes_to_nothing(xpub: tuple[SocketFactory, zmq.Socket]) -> None:
    assert first_subscription(*xpub, []) == b"\x01" + MARKER


def test_topics_are_prefixes(xpub: tuple[SocketFactory, zmq.Socket]) -> None:
    assert first_subscription(*xpub, [b"2330"]) == b"\x012330"


def test_a_subscriber_made_again_subscribes_to_the_same_topics_and_the_old_one_is_closed(
        xpub: tuple[SocketFactory, zmq.Socket]) -> None:
    sockets, pub = xpub
    old = sockets.subscriber("inproc://stream", [b"2330", b"2317"])
    assert sockets.topics_of(old) == [b"2330", b"2317"]
    seen = set()
    for _ in range(2):
        assert pub.poll(WAIT_MS)
        seen.add(pub.recv())
    assert seen == {b"\x012330", b"\x012317"}

    new = sockets.resubscribe(old)
    assert old.closed and new is not old
    assert sockets.topics_of(new) == [b"2330", b"2317"]
    assert new.getsockopt(zmq.MAXMSGSIZE) == SocketTuning().max_msg_size_bytes
    deadline = time.monotonic() + WAIT_MS / 1000
    while not new.poll(50):  # until its subscriptions have reached the publisher
        assert time.monotonic() < deadline, "the new subscriber never heard the publisher"
        pub.send_multipart((b"2454", b"not taken"))
        pub.send_multipart((b"2330", b"book"))
    assert new.recv_multipart() == [b"2330", b"book"]


def test_everything_is_what_a_subscriber_to_the_whole_stream_takes(xpub: tuple[SocketFactory, zmq.Socket]) -> None:
    sockets, _ = xpub
    assert sockets.topics_of(sockets.subscriber("inproc://stream")) == [b""]


def test_data_sockets_retry_a_missing_peer_at_the_configured_interval() -> None:
    """A subscriber connected before its publisher binds hears nothing until its next retry: the feed starts
    last, so every md subscriber is in that case at each start."""
    context = zmq.Context()
    sockets = SocketFactory(context, SocketTuning(data_reconnect_ivl_ms=7))
    try:
        sub = sockets.subscriber("tcp://127.0.0.1:1", None)
        sender = sockets.order_sender("tcp://127.0.0.1:1")
        assert sub.getsockopt(zmq.RECONNECT_IVL) == sender.getsockopt(zmq.RECONNECT_IVL) == 7
        assert SocketTuning().data_reconnect_ivl_ms < 100, "faster than ZeroMQ's default"
    finally:
        sockets.close_all()
        context.term()
