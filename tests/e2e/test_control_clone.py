"""The clone pattern in a real risk process, against a control played by the test: risk asks for a snapshot
when it starts, applies broadcasts in order, and on a dropped update asks for a snapshot again."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import zmq

from contracts.codec import Decoder, encode
from contracts.enums import StormGuardLevel
from contracts.messages import ControlReply, ControlRequest, Heartbeat, StormGuardState
from services.runtime.config.stack import STACK_FILE_ENV, load_stack
from tests.e2e.control_helpers import DEADLINE_S, log_lines, wait_logged, wait_until
from tests.e2e.stack_config import QUOTER, REPO, write_stack_config

pytestmark = pytest.mark.e2e

EPOCH = 1_700_000_000


def state(seq: int, *, hold: bool = False) -> StormGuardState:
    return StormGuardState(seq=seq, epoch=EPOCH, global_level=StormGuardLevel.NORMAL, hold_fire=hold, ts_ns=seq)


class FakeControl:
    """The control PUB and the ops ROUTER, bound by the test."""

    def __init__(self, stack_file: Path) -> None:
        config = load_stack(stack_file)
        self.context = zmq.Context()
        self.pub = self.context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(config.endpoints.control)
        self.ops = self.context.socket(zmq.ROUTER)
        self.ops.setsockopt(zmq.LINGER, 0)
        self.ops.bind(config.endpoints.ops)
        self.decoder = Decoder(Heartbeat, ControlRequest)

    def next_snapshot_request(self) -> tuple[bytes, ControlRequest]:
        deadline = time.monotonic() + DEADLINE_S
        while (remaining_ms := int((deadline - time.monotonic()) * 1000)) > 0:
            if not self.ops.poll(remaining_ms):
                break
            identity, _, payload = self.ops.recv_multipart()
            message = self.decoder.decode(payload)
            if isinstance(message, ControlRequest) and message.verb == "snapshot":
                return identity, message
        raise AssertionError(f"no snapshot request within {DEADLINE_S}s")

    def answer(self, identity: bytes, request: ControlRequest, snapshot: StormGuardState) -> None:
        reply = ControlReply(request_id=request.request_id, ok=True, body={"state": msgspec.to_builtins(snapshot)})
        self.ops.send_multipart((identity, b"reply", encode(reply)))

    def publish(self, message: StormGuardState) -> None:
        self.pub.send_multipart((b"sg", encode(message)))

    def close(self) -> None:
        self.context.destroy(linger=0)


@pytest.fixture
def risk(tmp_path: Path) -> Iterator[tuple[FakeControl, Path]]:
    config = write_stack_config(tmp_path, strategies=[QUOTER], curve_ops=False)  # the fake control speaks no CURVE
    control = FakeControl(config)
    log_path = tmp_path / "risk.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "risk"], cwd=REPO,
                                   env={**os.environ, STACK_FILE_ENV: str(config)}, stdout=log_file,
                                   stderr=subprocess.STDOUT)
    try:
        yield control, log_path
    finally:
        process.terminate()
        process.wait(10)
        control.close()


def test_risk_starts_from_a_snapshot_and_asks_again_after_a_dropped_update(risk: tuple[FakeControl, Path]) -> None:
    control, log_path = risk
    identity, request = control.next_snapshot_request()
    assert request.who == "risk"
    control.answer(identity, request, state(5))
    wait_logged(log_path, "control_state_applied", seq=5, source="snapshot")

    # The SUB joins when it joins: the same version again is harmless, so it is sent until risk has it.
    def broadcast_taken() -> bool:
        control.publish(state(6))
        return bool(log_lines(log_path, "control_state_applied", seq=6, source="broadcast"))

    wait_until("risk applies the broadcast of seq 6", broadcast_taken)

    control.publish(state(8, hold=True))  # seq 7 was "dropped"
    gap = wait_logged(log_path, "control_state_gap")
    assert (gap["held_seq"], gap["got_seq"]) == (6, 8)
    wait_logged(log_path, "control_state_applied", seq=8, source="broadcast", hold_fire=True)
    identity, request = control.next_snapshot_request()
    control.answer(identity, request, state(9, hold=True))
    wait_logged(log_path, "control_state_applied", seq=9, source="snapshot")

