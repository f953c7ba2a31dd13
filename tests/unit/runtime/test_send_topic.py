"""send_topic: one [topic, payload] message, refused (zmq.Again) rather than queued when it cannot go."""

from __future__ import annotations

import pytest
import zmq

from services.runtime.sockets import send_topic


def test_topic_and_payload_arrive_as_one_two_frame_message(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    send_topic(push, b"intent", b"payload-1")
    send_topic(push, b"intent", b"payload-2", block=True)
    assert pull.poll(5000)
    assert pull.recv_multipart() == [b"intent", b"payload-1"]
    assert pull.recv_multipart() == [b"intent", b"payload-2"]


def test_a_sender_without_a_peer_raises_again_instead_of_queueing() -> None:
    context = zmq.Context()
    try:
        push = context.socket(zmq.PUSH)
        push.setsockopt(zmq.IMMEDIATE, 1)
        push.connect("tcp://127.0.0.1:1")
        with pytest.raises(zmq.Again):
            send_topic(push, b"order", b"payload")
    finally:
        context.destroy(linger=0)
