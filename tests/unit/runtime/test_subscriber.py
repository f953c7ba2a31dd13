"""SocketFactory.subscriber: no topics given means the whole stream, an empty list means none of it.

An XPUB sees each subscription its SUB sends, in order per connection: a marker subscribed after
the socket is made arrives first only if the socket itself subscribed to nothing."""

from __future__ import annotations

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
