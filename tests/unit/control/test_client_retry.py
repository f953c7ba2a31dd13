"""OpsClient retries an unanswered request with the same request id, and gives up at its timeout."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import zmq

from contracts.codec import Decoder, encode
from contracts.messages import ControlReply, ControlRequest
from services.control.client import ControlUnreachable, OpsClient

requests = Decoder(ControlRequest)


class FakeControl:
    """A ROUTER on a free loopback port, answering each request as `answer` says (None: stay silent)."""

    def __init__(self, answer: Callable[[int, ControlRequest], ControlReply | None]) -> None:
        self.context = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.answer = answer
        self.seen: list[ControlRequest] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            if not self.router.poll(20):
                continue
            identity, _topic, payload = self.router.recv_multipart()
            request = requests.decode(payload)
            self.seen.append(request)
            reply = self.answer(len(self.seen), request)
            if reply is not None:
                self.router.send_multipart((identity, b"reply", encode(reply)))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.router.close()
        self.context.term()


@pytest.fixture
def silent_first() -> Iterator[FakeControl]:
    """Loses the first request's answer, answers the repeat."""
    control = FakeControl(lambda n, r: None if n == 1 else ControlReply(request_id=r.request_id, ok=True,
                                                                         body={"n": n}))
    yield control
    control.close()


def test_an_unanswered_request_is_sent_again_with_the_same_id(silent_first: FakeControl) -> None:
    reply = OpsClient(silent_first.endpoint, timeout_ms=3000, who="ann@desk").request("hold")
    assert reply.ok and reply.body == {"n": 2}
    assert [r.request_id for r in silent_first.seen] == [reply.request_id] * 2
    assert {r.verb for r in silent_first.seen} == {"hold"}


def test_an_answer_to_another_request_is_not_taken() -> None:
    control = FakeControl(lambda n, r: ControlReply(request_id="someone-else", ok=True) if n == 1
                          else ControlReply(request_id=r.request_id, ok=True, body={"n": n}))
    try:
        assert OpsClient(control.endpoint, timeout_ms=3000).request("status").body == {"n": 2}
    finally:
        control.close()


def test_a_control_that_never_answers_is_tried_each_time_then_reported() -> None:
    control = FakeControl(lambda n, r: None)
    try:
        with pytest.raises(ControlUnreachable, match=r"within 1.5s \(3 tries of request [0-9a-f]{32}\)"):
            OpsClient(control.endpoint, timeout_ms=1500).request("status")
        assert len(control.seen) == 3 and len({r.request_id for r in control.seen}) == 1
    finally:
        control.close()
