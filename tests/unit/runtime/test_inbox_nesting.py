"""services.runtime.inbox: a deeply nested payload is a bad message like any other, not a dead service.

msgspec raises RecursionError, not DecodeError, on msgpack nested deeper than the interpreter's
recursion limit: a frame of about a kilobyte ([[[[...]]]] under any field). Before the inbox
counted it, the exception left the service loop and a single such frame killed risk (intents),
the adapter (orders, exec_replay) or control (ops).
"""

from __future__ import annotations

import logging

import msgpack
import pytest
import structlog
from structlog.testing import LogCapture

from contracts.codec import Decoder, encode
from contracts.messages import ExecReplayRequest, Heartbeat, OrderIntent
from services.runtime.clock import FakeClock
from services.runtime.inbox import Inbox
from services.runtime.metrics import ServiceMetrics
from tests.golden.samples import SAMPLES


def nested(tag: str, depth: int) -> bytes:
    """A map with the right tag and one unknown field holding `depth` nested one-element arrays."""
    return b"\x82" + msgpack.packb("t") + msgpack.packb(tag) + msgpack.packb("x") + b"\x91" * depth + b"\xc0"


def inbox_for(*types: type) -> tuple[Inbox, ServiceMetrics, LogCapture]:
    capture = LogCapture()
    log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[capture],
                                wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    metrics = ServiceMetrics("risk")
    return Inbox("intents", Decoder(*types), metrics, log, FakeClock()), metrics, capture


@pytest.mark.parametrize("types, tag", [((OrderIntent,), "intent"), ((ExecReplayRequest,), "exec_replay_req"),
                                        ((Heartbeat, OrderIntent), "hb")])
@pytest.mark.parametrize("depth", [2_000, 200_000])
def test_a_deeply_nested_payload_is_counted_and_dropped(types: tuple[type, ...], tag: str, depth: int) -> None:
    inbox, metrics, capture = inbox_for(*types)
    assert inbox.decode([tag.encode(), nested(tag, depth)]) is None
    assert metrics.registry.get_sample_value("bad_messages_total", {"service": "risk", "socket": "intents"}) == 1
    assert [(e["event"], e["kind"]) for e in capture.entries] == [("bad_message", "RecursionError")]


def test_the_next_good_message_still_decodes() -> None:
    inbox, _, _ = inbox_for(OrderIntent)
    inbox.decode([b"intent", nested("intent", 5_000)])
    assert inbox.decode([b"intent", encode(SAMPLES["intent"])]) == SAMPLES["intent"]
