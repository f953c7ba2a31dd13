"""A control request whose answer is lost (the client's socket closed before reading it) is answered
again, from control's memory, when the client asks again with the same request id from a new connection,
which control knows under a new identity; the command runs once. (That an answer to a gone identity is
logged rather than dropped is tests/unit/control/test_replies.py's: here the race decides whether the first
answer was sent before the close.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.auth

from services.control.audit import read_audit
from services.launcher import LocalStack
from tests.e2e.control_helpers import log_lines, wait_until
from tests.e2e.stack_config import QUOTER, write_stack_config

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(write_stack_config(tmp_path, strategies=[QUOTER]))
    try:
        yield local
    finally:
        local.stop()


def _dealer(context: zmq.Context, stack: LocalStack) -> zmq.Socket:
    keys = stack.config.curve.keys_dir
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.curve_serverkey = zmq.auth.load_certificate(str(keys / "server.key"))[0]
    sock.curve_publickey, sock.curve_secretkey = zmq.auth.load_certificate(str(keys / "operator.key_secret"))
    sock.connect(stack.config.endpoints.ops)
    return sock


def test_a_lost_answer_is_given_again_to_the_retry_without_a_second_run(stack: LocalStack) -> None:
    stack.start(with_feed=False)
    request_id = uuid.uuid4().hex
    payload = msgpack.packb({"t": "request", "v": 1, "request_id": request_id, "verb": "hold", "args": {},
                             "who": "retry@test"})
    context = zmq.Context()
    try:
        first = _dealer(context, stack)
        first.send_multipart([b"request", payload])
        audit_path = stack.config.var_dir / stack.config.control.audit_file
        wait_until("the hold audited", lambda: audit_path.exists() and [
            r for r in read_audit(audit_path) if r["verb"] == "hold"])
        first.close()  # gone before reading: its answer is undeliverable (or already lost with the socket)

        second = _dealer(context, stack)
        second.send_multipart([b"request", payload])
        assert second.poll(10_000), "the repeat was not answered"
        reply = msgpack.unpackb(second.recv_multipart()[-1])
        assert (reply["request_id"], reply["ok"], reply["body"]["hold_fire"]) == (request_id, True, True)
        assert [r["verb"] for r in read_audit(audit_path)].count("hold") == 1, "hold ran once"
        control_log = stack.log_dir / "control.log"
        assert wait_until("the repeat logged", lambda: log_lines(control_log, "ops_request_repeat",
                                                                 request_id=request_id))
    finally:
        context.destroy(linger=0)
