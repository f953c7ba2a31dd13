"""Malformed frames on the intents socket are counted and dropped while the stack keeps trading."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import zmq

from services.launcher import LocalStack
from services.summary import summarize
from tests.e2e.stack_config import QUOTER, write_stack_config

pytestmark = pytest.mark.e2e

DEADLINE_S = 20.0

MALFORMED = [
    [b"intent", b"\xc1 definitely not msgpack"],
    [b"intent"],
    [b"intent", msgpack.packb({"t": "intent", "v": 1, "intent_id": "x"})],
    [b"intent", msgpack.packb({"t": "md", "v": 1, "symbol": "2330"})],
    [b"intent", msgpack.packb([1, 2, 3])],
]


def wait_until(stack: LocalStack, predicate: str, check: object) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        status = stack.status()
        if check(status):  # type: ignore[operator]
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"{predicate} not reached within {DEADLINE_S}s; last summary {summarize(status)}")
        time.sleep(0.05)


def bad_intents(status: dict) -> int:
    return int(sum(v for n, lbl, v in status["services"]["risk"]["metrics"]
                   if n == "bad_messages_total" and lbl.get("socket") == "intents"))


@pytest.fixture
def running_stack(tmp_path: Path) -> Iterator[LocalStack]:
    stack = LocalStack(write_stack_config(tmp_path, strategies=[QUOTER]))
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def test_malformed_intents_are_counted_and_the_stack_keeps_trading(running_stack: LocalStack) -> None:
    stack = running_stack
    before = wait_until(stack, "first fills", lambda s: summarize(s)["fills"] > 0)
    assert bad_intents(before) == 0

    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 1000)
    push.connect(stack.config.endpoints.intents)
    for frames in MALFORMED:
        push.send_multipart(frames)
    push.close()
    context.term()

    fills_before = summarize(before)["fills"]
    after = wait_until(
        stack, "bad intents counted and more fills",
        lambda s: bad_intents(s) == len(MALFORMED) and summarize(s)["fills"] > fills_before,
    )
    assert {name: entry["state"] for name, entry in after["services"].items()} == dict.fromkeys(
        ["adapter", "control", "feed", "risk", "strategy"], "alive"
    )
    codes = stack.stop()
    assert all(code == 0 for code in codes.values()), codes
