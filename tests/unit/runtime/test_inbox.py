"""services.runtime.inbox: bad frames are counted, logged at most once a second per kind, and dropped."""

from __future__ import annotations

import logging

import msgpack
import pytest
import structlog
from structlog.testing import LogCapture

from contracts.codec import Decoder, encode
from contracts.messages import OrderIntent, RiskDecision
from services.runtime.clock import FakeClock
from services.runtime.inbox import LOG_INTERVAL_NS, Inbox
from services.runtime.metrics import ServiceMetrics
from tests.golden.samples import SAMPLES

INTENT = SAMPLES["intent"]
DECISION = SAMPLES["decision"]
GOOD = [b"intent", encode(INTENT)]
GARBAGE = [b"intent", b"\xc1\xc1 not msgpack"]
WRONG_TYPE = [b"md", encode(SAMPLES["md"])]


def _logger(capture: LogCapture) -> structlog.stdlib.BoundLogger:
    """A logger that writes only to `capture`, whatever structlog's global configuration is.

    (structlog.testing.capture_logs swaps the global processors but keeps the global level filter,
    so a process that ran setup_logging("...", "ERROR") would hide the warnings under test.)
    """
    return structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )


class Harness:
    def __init__(self, capture: LogCapture) -> None:
        self.clock = FakeClock()
        self.metrics = ServiceMetrics("risk")
        self.log = _logger(capture)
        self.inbox: Inbox[OrderIntent | RiskDecision] = Inbox(
            "intents", Decoder(OrderIntent, RiskDecision), self.metrics, self.log, self.clock
        )

    def bad(self, socket: str = "intents", service: str = "risk") -> float | None:
        return self.metrics.registry.get_sample_value(
            "bad_messages_total", {"service": service, "socket": socket}
        )


@pytest.fixture
def capture() -> LogCapture:
    return LogCapture()


@pytest.fixture
def logs(capture: LogCapture) -> list[dict]:
    return capture.entries


@pytest.fixture
def h(capture: LogCapture) -> Harness:
    return Harness(capture)


def _bad_logs(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry["event"] == "bad_message"]


def test_good_frames_decode(h: Harness, logs: list[dict]) -> None:
    assert h.inbox.decode(GOOD) == INTENT
    decision = h.inbox.decode([b"decision", encode(DECISION)])
    assert isinstance(decision, RiskDecision) and decision == DECISION
    assert h.bad() == 0
    assert _bad_logs(logs) == []


def test_counter_exists_at_zero_for_the_socket(h: Harness) -> None:
    assert h.bad() == 0.0
    assert h.bad(socket="orders") is None


@pytest.mark.parametrize(
    "frames",
    [
        GARBAGE,
        [b"intent", encode(INTENT)[:-4]],
        WRONG_TYPE,
        [b"intent", msgpack.packb({"t": "intent", "v": 1, "seq": 1})],
        [b"intent", b""],
    ],
    ids=["garbage", "truncated", "wrong-type", "missing-fields", "empty-payload"],
)
def test_bad_payload_is_counted_and_dropped(h: Harness, frames: list[bytes]) -> None:
    assert h.inbox.decode(frames) is None
    assert h.bad() == 1


@pytest.mark.parametrize(
    "frames",
    [[], [encode(INTENT)], [b"intent", encode(INTENT), b"extra"], [b"a", b"b", b"c", b"d"]],
    ids=["none", "payload-only", "three", "four"],
)
def test_wrong_frame_count_is_bad(h: Harness, logs: list[dict], frames: list[bytes]) -> None:
    assert h.inbox.decode(frames) is None
    assert h.bad() == 1
    (entry,) = _bad_logs(logs)
    assert entry["kind"] == "frame_count"
    assert f"got {len(frames)} frame(s)" in entry["detail"]


def test_bad_frames_do_not_stop_good_ones(h: Harness) -> None:
    results = [h.inbox.decode(frames) for frames in (GARBAGE, GOOD, WRONG_TYPE, GOOD)]
    assert results == [None, INTENT, None, INTENT]
    assert h.bad() == 2


def test_log_entry_says_what_was_wrong(h: Harness, logs: list[dict]) -> None:
    h.inbox.decode(WRONG_TYPE)
    (entry,) = _bad_logs(logs)
    assert entry["log_level"] == "warning"
    assert entry["socket"] == "intents"
    assert entry["reason"] == "bad_message"
    assert entry["kind"] == "ValidationError"
    assert "'md'" in entry["detail"] and "$.t" in entry["detail"]
    assert entry["suppressed_since_last"] == 0


def test_logging_is_rate_limited_but_counting_is_not(h: Harness, logs: list[dict]) -> None:
    for _ in range(5):
        h.inbox.decode(GARBAGE)
    assert h.bad() == 5
    assert len(_bad_logs(logs)) == 1

    h.clock.advance(LOG_INTERVAL_NS - 1)
    h.inbox.decode(GARBAGE)
    assert h.bad() == 6
    assert len(_bad_logs(logs)) == 1

    h.clock.advance(1)
    h.inbox.decode(GARBAGE)
    assert h.bad() == 7
    entries = _bad_logs(logs)
    assert len(entries) == 2
    assert entries[1]["suppressed_since_last"] == 5

    h.clock.advance(LOG_INTERVAL_NS)
    h.inbox.decode(GARBAGE)
    assert _bad_logs(logs)[-1]["suppressed_since_last"] == 0


def test_each_kind_of_bad_input_has_its_own_rate_limit(h: Harness, logs: list[dict]) -> None:
    for frames in (GARBAGE, WRONG_TYPE, [b"only one"], GARBAGE, WRONG_TYPE, [b"only one"]):
        h.inbox.decode(frames)
    assert h.bad() == 6
    kinds = [entry["kind"] for entry in _bad_logs(logs)]
    assert kinds == ["DecodeError", "ValidationError", "frame_count"]


def test_counter_is_labelled_by_service_and_socket(capture: LogCapture, logs: list[dict]) -> None:
    clock = FakeClock()
    metrics = ServiceMetrics("adapter")
    log = _logger(capture)
    orders = Inbox("orders", Decoder(OrderIntent), metrics, log, clock)
    control = Inbox("control", Decoder(RiskDecision), metrics, log, clock)
    orders.decode(GARBAGE)
    orders.decode(GARBAGE)
    control.decode(GARBAGE)
    value = metrics.registry.get_sample_value
    assert value("bad_messages_total", {"service": "adapter", "socket": "orders"}) == 2
    assert value("bad_messages_total", {"service": "adapter", "socket": "control"}) == 1
    sockets = {entry["socket"] for entry in _bad_logs(logs)}
    assert sockets == {"orders", "control"}


def test_every_undecodable_payload_is_handed_on_even_when_its_log_line_is_suppressed(capture: LogCapture) -> None:
    heard: list[tuple[bytes, str]] = []
    clock = FakeClock()
    inbox: Inbox[OrderIntent] = Inbox("intents", Decoder(OrderIntent), ServiceMetrics("risk"), _logger(capture),
                                      clock, on_undecodable=lambda payload, error: heard.append((payload, error)))
    as_float = msgpack.packb({**msgpack.unpackb(GOOD[1]), "created_ts_ns": 1.5})
    assert inbox.decode([b"intent", as_float]) is None
    assert inbox.decode(GARBAGE) is None
    assert inbox.decode(GOOD) == INTENT
    assert [payload for payload, _ in heard] == [as_float, GARBAGE[1]]
    assert "$.created_ts_ns" in heard[0][1]
