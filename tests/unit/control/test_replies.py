"""What keeps a control request from going unanswered in silence: a request that does not decode but names
its id is refused with the field, and a reply to a client that is gone raises (to be logged) instead of
vanishing."""

from __future__ import annotations

import msgpack
import pytest
import zmq

from contracts.codec import encode
from contracts.messages import ControlRequest
from services.control.replies import undecodable_request_reply
from services.runtime.config.stack import SocketTuning
from services.runtime.sockets import SocketFactory

REQUEST = ControlRequest(request_id="r-1", verb="stormguard_force", args={"scope": "mm1", "level": "STORM"})


def _with(**changes: object) -> bytes:
    return msgpack.packb({**msgpack.unpackb(encode(REQUEST)), **changes})


def test_a_request_with_a_bad_field_is_refused_naming_it() -> None:
    reply = undecodable_request_reply(_with(args={"qty": 5}))  # args are strings on the wire
    assert reply is not None and reply.request_id == "r-1" and not reply.ok
    assert "request not decoded" in reply.error and "$.args" in reply.error


@pytest.mark.parametrize("payload", [
    encode(REQUEST),                                  # valid: the desk answers it
    b"\xc1 not msgpack",
    _with(request_id=7),
    _with(t="hb", args=5),                            # not a request
    msgpack.packb({"t": "request", "verb": "status"}),  # names no id
])
def test_nothing_to_answer(payload: bytes) -> None:
    assert undecodable_request_reply(payload) is None


def test_the_ops_router_raises_on_a_reply_to_an_identity_it_does_not_know() -> None:
    context = zmq.Context()
    sockets = SocketFactory(context, SocketTuning())
    try:
        router = sockets.ops_router("tcp://127.0.0.1:*")
        with pytest.raises(zmq.ZMQError) as raised:
            router.send_multipart((b"gone-client", b"reply", b"x"), zmq.NOBLOCK)
        assert raised.value.errno == zmq.EHOSTUNREACH
    finally:
        sockets.close_all()
        context.term()
