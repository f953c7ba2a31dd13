"""services.adapter.replay_server: missed execution reports answered from the journal, as published."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import msgspec
import pytest
import structlog
import zmq
from structlog.testing import LogCapture

from contracts.codec import Decoder, encode
from contracts.enums import ExecType, OrderStatus, Side
from contracts.messages import ExecReplay, ExecReplayRequest, ExecutionReport
from services.adapter.replay_server import REPLY_TOPIC, ReplayServer, _ExecReplayWire
from services.runtime.clock import FakeClock
from services.runtime.metrics import ServiceMetrics
from tests.golden.samples import SAMPLES, golden_path

REPLY = Decoder(ExecReplay)


def report(seq: int) -> ExecutionReport:
    return ExecutionReport(
        seq=seq, client_order_id=f"c{seq}", intent_id=f"i{seq}", strategy_id="mm1", symbol="2330", side=Side.SELL,
        exec_type=ExecType.FILL, status=OrderStatus.PARTIALLY_FILLED, price_e4=10_000_000, qty=5, cum_qty=1,
        leaves_qty=4, last_price_e4=10_000_000, last_qty=1, detail=f"fill {seq}", ts_ns=seq,
    )


class MemoryStore:
    """A ReportStore in a dict: seq -> the bytes published."""

    def __init__(self, payloads: dict[int, bytes] | None = None, last_published_seq: int | None = None) -> None:
        self.payloads = dict(payloads or {})
        self.last_published_seq = last_published_seq

    @classmethod
    def of(cls, seqs: range | list[int], **kwargs: int) -> MemoryStore:
        return cls({seq: encode(report(seq)) for seq in seqs}, **kwargs)

    def reports_between(self, first_seq: int, last_seq: int, limit: int) -> list[tuple[int, bytes]]:
        return [(seq, self.payloads[seq]) for seq in sorted(self.payloads) if first_seq <= seq <= last_seq][:limit]

    def last_report_seq(self) -> int:
        if self.last_published_seq is not None:
            return self.last_published_seq
        return max(self.payloads, default=0)


class Harness:
    def __init__(self, store: MemoryStore, capture: LogCapture, **options: int) -> None:
        self.store = store
        self.metrics = ServiceMetrics("adapter")
        log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[capture],
                                    wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        self.server = ReplayServer(store, log, metrics=self.metrics, clock=FakeClock(), **options)

    def ask(self, first_seq: int, last_seq: int, request_id: str = "risk.0.1") -> ExecReplay:
        reply = self.server.handle([b"id", b"exec_replay_req", encode(
            ExecReplayRequest(request_id=request_id, first_seq=first_seq, last_seq=last_seq))])
        assert reply is not None
        assert reply[:2] == [b"id", REPLY_TOPIC]
        return REPLY.decode(reply[2])

    def bad(self) -> float | None:
        return self.metrics.registry.get_sample_value("bad_messages_total",
                                                      {"service": "adapter", "socket": "exec_replay"})


@pytest.fixture
def capture() -> LogCapture:
    return LogCapture()


def seqs(reply: ExecReplay) -> list[int]:
    return [r.seq for r in reply.reports]


def test_the_range_asked_for_comes_back_in_order_with_the_newest_seq(capture: LogCapture) -> None:
    h = Harness(MemoryStore.of(range(1, 21)), capture)
    reply = h.ask(5, 8, request_id="risk.3.9")
    assert (reply.request_id, reply.first_seq, reply.last_seq) == ("risk.3.9", 5, 8)
    assert seqs(reply) == [5, 6, 7, 8]
    assert reply.reports[0] == report(5)
    assert reply.last_published_seq == 20
    assert h.metrics.registry.get_sample_value("exec_replay_requests_total") == 1
    assert h.metrics.registry.get_sample_value("exec_replay_reports_total") == 4


def test_reports_are_the_published_bytes_not_re_encoded(capture: LogCapture) -> None:
    # Bytes a re-encode would change: a peer that sent a field order msgspec would not write.
    store = MemoryStore.of(range(1, 4))
    raw = msgspec.msgpack.decode(store.payloads[2])
    store.payloads[2] = msgspec.msgpack.encode(dict(reversed(list(raw.items()))))
    assert store.payloads[2] != encode(report(2))
    h = Harness(store, capture)
    reply = h.server.handle([b"id", b"exec_replay_req", encode(ExecReplayRequest(request_id="r", first_seq=1,
                                                                                  last_seq=3))])
    assert reply is not None
    raw_reply = msgspec.msgpack.decode(reply[2], type=_ExecReplayWire)
    assert [bytes(r) for r in raw_reply.reports] == [store.payloads[seq] for seq in (1, 2, 3)]
    assert seqs(REPLY.decode(reply[2])) == [1, 2, 3]


def test_the_answer_is_the_golden_exec_replay(capture: LogCapture) -> None:
    """The Raw twin encodes byte for byte what the contract's ExecReplay does."""
    sample = SAMPLES["exec_replay"]
    assert isinstance(sample, ExecReplay)
    store = MemoryStore({r.seq: encode(r) for r in sample.reports}, last_published_seq=sample.last_published_seq)
    h = Harness(store, capture)
    reply = h.server.handle([b"id", b"exec_replay_req", encode(ExecReplayRequest(
        request_id=sample.request_id, first_seq=sample.first_seq, last_seq=sample.last_seq))])
    assert reply is not None
    assert reply[2] == golden_path("exec_replay").read_bytes()


def test_the_wire_twin_has_the_contract_fields_in_order() -> None:
    assert _ExecReplayWire.__struct_fields__ == ExecReplay.__struct_fields__
    assert _ExecReplayWire.__struct_config__.tag == ExecReplay.__struct_config__.tag


def test_at_most_a_batch_from_the_start_of_the_range(capture: LogCapture) -> None:
    h = Harness(MemoryStore.of(range(1, 101)), capture, max_batch=10)
    reply = h.ask(31, 90)
    assert seqs(reply) == list(range(31, 41))
    assert (reply.first_seq, reply.last_seq, reply.last_published_seq) == (31, 90, 100)


def test_an_answer_stays_under_its_byte_budget_but_holds_at_least_one(capture: LogCapture) -> None:
    size = len(encode(report(1)))
    h = Harness(MemoryStore.of(range(1, 11)), capture, max_reply_bytes=3 * size + 1)
    assert seqs(h.ask(1, 10)) == [1, 2, 3]
    tiny = Harness(MemoryStore.of(range(1, 11)), capture, max_reply_bytes=1)
    assert seqs(tiny.ask(4, 10)) == [4]


def test_pruned_history_is_simply_missing(capture: LogCapture) -> None:
    h = Harness(MemoryStore.of([1, 2, 6, 7, 9]), capture)
    reply = h.ask(1, 8)
    assert seqs(reply) == [1, 2, 6, 7]
    assert reply.last_published_seq == 9
    assert seqs(h.ask(3, 5)) == []


def test_nothing_beyond_the_newest_published_seq(capture: LogCapture) -> None:
    h = Harness(MemoryStore.of(range(1, 11), last_published_seq=8), capture)
    reply = h.ask(5, 10)
    assert seqs(reply) == [5, 6, 7, 8]
    assert reply.last_published_seq == 8
    assert seqs(h.ask(9, 12)) == []


def test_an_empty_journal_answers_empty(capture: LogCapture) -> None:
    h = Harness(MemoryStore(), capture)
    reply = h.ask(1, 5)
    assert reply.reports == [] and reply.last_published_seq == 0


def test_a_journal_row_that_is_not_its_report_is_left_out_and_counted(capture: LogCapture) -> None:
    store = MemoryStore.of(range(1, 6))
    store.payloads[2] = b"\xc1 not msgpack"
    store.payloads[4] = encode(report(40))
    h = Harness(store, capture)
    assert seqs(h.ask(1, 5)) == [1, 3, 5]
    assert h.metrics.registry.get_sample_value("exec_replay_bad_rows_total") == 2
    (entry,) = [e for e in capture.entries if e["event"] == "exec_replay_bad_rows"]
    assert entry["log_level"] == "error" and entry["seqs"] == [2, 4]


@pytest.mark.parametrize(
    "frames",
    [
        [b"id"],
        [b"id", encode(ExecReplayRequest(request_id="r", first_seq=1, last_seq=2))],
        [b"id", b"exec_replay_req", b"\xc1 garbage"],
        [b"id", b"exec", encode(report(1))],
        [b"id", b"exec_replay_req", encode(ExecReplayRequest(request_id="r", first_seq=0, last_seq=2))],
        [b"id", b"exec_replay_req", encode(ExecReplayRequest(request_id="r", first_seq=5, last_seq=4))],
    ],
    ids=["identity-only", "no-topic", "garbage", "wrong-type", "seq-zero", "backwards-range"],
)
def test_a_bad_request_is_counted_and_dropped(capture: LogCapture, frames: list[bytes]) -> None:
    h = Harness(MemoryStore.of(range(1, 6)), capture)
    assert h.server.handle(frames) is None
    assert h.bad() == 1
    assert [e for e in capture.entries if e["event"] == "bad_message"]
    assert seqs(h.ask(1, 2)) == [1, 2]


@pytest.fixture
def router_dealer() -> Iterator[tuple[zmq.Socket, zmq.Socket]]:
    context = zmq.Context()
    router, dealer = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    router.bind("inproc://exec_replay")
    dealer.connect("inproc://exec_replay")
    yield router, dealer
    context.destroy(linger=0)


def test_reader_answers_a_dealer_through_a_router(capture: LogCapture,
                                                  router_dealer: tuple[zmq.Socket, zmq.Socket]) -> None:
    router, dealer = router_dealer
    h = Harness(MemoryStore.of(range(1, 6)), capture)
    on_frames = h.server.reader(router)
    dealer.send_multipart((b"exec_replay_req", encode(ExecReplayRequest(request_id="strategy.0.1", first_seq=2,
                                                                        last_seq=3))))
    assert router.poll(5000)
    on_frames(router.recv_multipart())
    assert dealer.poll(5000)
    topic, payload = dealer.recv_multipart()
    assert topic == REPLY_TOPIC
    reply = REPLY.decode(payload)
    assert reply.request_id == "strategy.0.1" and seqs(reply) == [2, 3]
