"""services.runtime.exec_stream: reports in seq order exactly once; gaps asked for, filled, or given up loudly."""

from __future__ import annotations

import logging

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import LogCapture

from contracts.enums import ExecType, OrderStatus, Side
from contracts.messages import AdapterUsage, ExecReplay, ExecReplayRequest, ExecutionReport
from services.runtime.clock import FakeClock, ManualScheduler
from services.runtime.exec_stream import ExecStream
from services.runtime.metrics import ServiceMetrics

RETRY_NS = 100_000_000


def report(seq: int, qty: int = 1) -> ExecutionReport:
    return ExecutionReport(
        seq=seq, client_order_id=f"c{seq}", intent_id=f"i{seq}", strategy_id="mm1", symbol="2330", side=Side.BUY,
        exec_type=ExecType.FILL, status=OrderStatus.FILLED, price_e4=10_000_000, qty=qty, cum_qty=qty,
        leaves_qty=0, last_price_e4=10_000_000, last_qty=qty, ts_ns=seq,
    )


def usage(exec_seq: int) -> AdapterUsage:
    return AdapterUsage(seq=0, actions_in_window=0, window_ns=10_000_000_000, soft_cap=200, exec_seq=exec_seq, ts_ns=0)


class Harness:
    def __init__(self, capture: LogCapture, **options: int) -> None:
        self.clock = FakeClock()
        self.scheduler = ManualScheduler(self.clock)
        self.metrics = ServiceMetrics("risk")
        self.delivered: list[int] = []
        self.requests: list[ExecReplayRequest] = []
        self.send_ok = True
        self.newest = 0
        log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[capture],
                                    wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        options.setdefault("retry_after_ns", RETRY_NS)
        self.stream = ExecStream(lambda r: self.delivered.append(r.seq), self._send, self.clock, self.scheduler, log,
                                 self.metrics, client_id="risk", **options)

    def _send(self, request: ExecReplayRequest) -> bool:
        self.requests.append(request)
        return self.send_ok

    def feed(self, *seqs: int) -> None:
        for seq in seqs:
            self.newest = seq
            self.stream.on_report(report(seq))

    def usage(self, exec_seq: int) -> None:
        self.newest = exec_seq or self.newest
        self.stream.on_usage(usage(exec_seq))

    def answer(self, request: ExecReplayRequest, seqs: list[int], last_published_seq: int | None = None,
               first_seq: int | None = None, last_seq: int | None = None) -> None:
        """The adapter's answer to `request`, holding `seqs` (what its journal has in the range); its
        newest seq is the last fed unless said."""
        self.stream.on_replay(ExecReplay(
            request_id=request.request_id,
            first_seq=request.first_seq if first_seq is None else first_seq,
            last_seq=request.last_seq if last_seq is None else last_seq,
            reports=[report(seq) for seq in seqs],
            last_published_seq=self.newest if last_published_seq is None else last_published_seq,
        ))

    def asked(self) -> list[tuple[int, int]]:
        return [(r.first_seq, r.last_seq) for r in self.requests]

    def count(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(name)
        assert value is not None, name
        return value


@pytest.fixture
def capture() -> LogCapture:
    return LogCapture()


@pytest.fixture
def h(capture: LogCapture) -> Harness:
    return Harness(capture)


def events(capture: LogCapture, name: str) -> list[dict]:
    return [entry for entry in capture.entries if entry["event"] == name]


def test_in_order_reports_are_delivered_without_requests(h: Harness) -> None:
    h.feed(1, 2, 3, 4)
    assert h.delivered == [1, 2, 3, 4]
    assert h.requests == []
    assert not h.stream.gap_open
    assert h.stream.next_seq == 5
    for name in ("exec_gaps_total", "exec_replayed_total", "exec_duplicates_total", "exec_unrecovered_total"):
        assert h.count(name) == 0
    assert h.count("exec_gap_open") == 0


def test_the_stream_starts_at_the_first_report_seen_without_history(h: Harness) -> None:
    h.feed(50, 51)
    assert h.delivered == [50, 51]
    assert h.requests == []


def test_a_gap_is_asked_for_filled_and_delivered_in_order(h: Harness, capture: LogCapture) -> None:
    h.feed(1, 2, 5, 6)
    assert h.delivered == [1, 2]
    assert h.stream.gap_open and h.count("exec_gap_open") == 1
    assert h.stream.held == 2
    assert h.asked() == [(3, 4)]
    assert h.requests[0].request_id.startswith("risk.")
    assert h.count("exec_gaps_total") == 1
    (gap,) = events(capture, "exec_gap")
    assert (gap["first_seq"], gap["last_seq"], gap["source"]) == (3, 4, "report")

    h.answer(h.requests[0], [3, 4])
    assert h.delivered == [1, 2, 3, 4, 5, 6]
    assert not h.stream.gap_open and h.count("exec_gap_open") == 0
    assert h.count("exec_replayed_total") == 2
    h.feed(7)
    assert h.delivered[-1] == 7
    assert len(h.requests) == 1


def test_reports_arriving_while_a_gap_is_open_are_held_not_delivered(h: Harness) -> None:
    h.feed(1, 3, 4, 5)
    assert h.delivered == [1]
    assert h.asked() == [(2, 2)]
    h.answer(h.requests[0], [2])
    assert h.delivered == [1, 2, 3, 4, 5]


def test_each_hole_is_asked_for_in_turn(h: Harness) -> None:
    h.feed(1, 3, 6)
    assert h.asked() == [(2, 2)]
    assert h.count("exec_gaps_total") == 2
    h.answer(h.requests[0], [2])
    assert h.delivered == [1, 2, 3]
    assert h.asked() == [(2, 2), (4, 5)]
    h.answer(h.requests[1], [4, 5])
    assert h.delivered == [1, 2, 3, 4, 5, 6]
    assert not h.stream.gap_open


def test_duplicates_are_dropped_and_counted(h: Harness) -> None:
    h.feed(1, 2, 3, 2)
    assert h.delivered == [1, 2, 3]
    assert h.count("exec_duplicates_total") == 1
    h.feed(5, 5)
    assert h.count("exec_duplicates_total") == 2
    # An answer that overlaps what was delivered (2, 3) and what is held (5).
    h.answer(h.requests[0], [2, 3, 4, 5], first_seq=2, last_seq=5)
    assert h.delivered == [1, 2, 3, 4, 5]
    assert h.count("exec_duplicates_total") == 5
    assert h.count("exec_replayed_total") == 1


def test_reports_fetched_ahead_are_duplicates_when_the_socket_brings_them(h: Harness) -> None:
    h.feed(1, 2, 4)
    h.answer(h.requests[0], [3, 4, 5, 6])
    assert h.delivered == [1, 2, 3, 4, 5, 6]
    h.feed(5, 6, 7)
    assert h.delivered == [1, 2, 3, 4, 5, 6, 7]
    assert h.count("exec_duplicates_total") == 3
    assert h.count("exec_stream_resets_total") == 0


def test_a_lost_last_report_shows_in_adapter_usage(h: Harness, capture: LogCapture) -> None:
    h.feed(1, 2, 3)
    h.usage(3)
    assert h.requests == [] and not h.stream.gap_open
    h.usage(5)
    assert h.stream.gap_open
    assert h.asked() == [(4, 5)]
    assert events(capture, "exec_gap")[0]["source"] == "usage"
    h.answer(h.requests[0], [4, 5])
    assert h.delivered == [1, 2, 3, 4, 5]
    assert not h.stream.gap_open


def test_usage_without_a_seq_changes_nothing(h: Harness) -> None:
    h.usage(0)
    h.feed(7)
    h.usage(0)
    assert h.delivered == [7]
    assert h.requests == []


def test_usage_before_any_report_starts_the_stream_after_its_seq(h: Harness) -> None:
    h.usage(10)
    assert h.stream.next_seq == 11
    h.feed(12)
    assert h.asked() == [(11, 11)]
    h.answer(h.requests[0], [11])
    assert h.delivered == [11, 12]


def test_unanswered_request_is_sent_again_after_the_timeout(h: Harness) -> None:
    h.feed(1, 3)
    assert h.asked() == [(2, 2)]
    h.scheduler.advance(RETRY_NS - 1)
    assert len(h.requests) == 1
    h.scheduler.advance(1)
    assert h.asked() == [(2, 2), (2, 2)]
    assert h.requests[0].request_id != h.requests[1].request_id
    assert h.count("exec_replay_requests_sent_total") == 2
    # A late answer to the first request is as good as one to the second.
    h.answer(h.requests[0], [2])
    assert h.delivered == [1, 2, 3]
    h.scheduler.advance(10 * RETRY_NS)
    assert len(h.requests) == 2


def test_a_request_that_could_not_be_sent_is_retried_on_the_timer(h: Harness) -> None:
    h.send_ok = False
    h.feed(1, 3)
    h.scheduler.advance(RETRY_NS)
    assert h.asked() == [(2, 2), (2, 2)]
    h.send_ok = True
    h.answer(h.requests[1], [2])
    assert h.delivered == [1, 2, 3]


def test_a_short_answer_is_continued_from_its_last_report(h: Harness) -> None:
    h.feed(1, 10)
    assert h.asked() == [(2, 9)]
    h.answer(h.requests[0], [2, 3, 4], last_published_seq=10)
    assert h.delivered == [1, 2, 3, 4]
    assert h.asked() == [(2, 9), (5, 9)]
    h.answer(h.requests[1], [5, 6, 7, 8, 9])
    assert h.delivered == list(range(1, 11))
    assert h.count("exec_unrecovered_total") == 0


def test_seqs_the_journal_no_longer_has_are_given_up_loudly(h: Harness, capture: LogCapture) -> None:
    h.feed(1, 7, 8)
    assert h.asked() == [(2, 6)]
    h.answer(h.requests[0], [4, 6])  # 2, 3 and 5 were pruned
    assert h.delivered == [1, 4, 6, 7, 8]
    assert h.count("exec_unrecovered_total") == 3
    assert not h.stream.gap_open
    (lost,) = events(capture, "exec_reports_lost")
    assert lost["log_level"] == "error"
    assert lost["ranges"] == [(2, 3), (5, 5)]
    assert lost["reason"] == "not_in_journal"


def test_an_empty_answer_gives_up_the_whole_range(h: Harness) -> None:
    h.feed(1, 5)
    h.answer(h.requests[0], [], last_published_seq=5)
    assert h.delivered == [1, 5]
    assert h.count("exec_unrecovered_total") == 3
    assert not h.stream.gap_open


def test_held_reports_are_delivered_when_the_adapter_never_answers(capture: LogCapture) -> None:
    h = Harness(capture, max_attempts=3)
    h.feed(1, 3, 4)
    h.scheduler.advance(2 * RETRY_NS)
    assert len(h.requests) == 3 and h.delivered == [1]
    h.scheduler.advance(RETRY_NS)
    assert h.delivered == [1, 3, 4]
    assert h.count("exec_unrecovered_total") == 1
    assert not h.stream.gap_open
    assert events(capture, "exec_replay_unanswered")[0]["log_level"] == "error"
    assert events(capture, "exec_reports_lost")[0]["reason"] == "adapter_not_answering"


def test_a_trailing_gap_holds_nothing_and_is_asked_for_until_answered(capture: LogCapture) -> None:
    h = Harness(capture, max_attempts=3)
    h.feed(1)
    h.usage(2)
    h.scheduler.advance(10 * RETRY_NS)
    assert h.asked() == [(2, 2)] * 11
    assert h.stream.gap_open
    h.answer(h.requests[-1], [2])
    assert h.delivered == [1, 2]
    assert h.count("exec_unrecovered_total") == 0


def test_a_full_buffer_gives_up_the_first_hole(capture: LogCapture) -> None:
    h = Harness(capture, max_buffered=3)
    h.feed(1, 3, 4, 6, 7)
    assert h.delivered == [1, 3, 4]
    assert h.stream.held == 2
    assert h.count("exec_unrecovered_total") == 1
    assert events(capture, "exec_reports_lost")[0]["reason"] == "buffer_full"
    assert h.stream.gap_open
    assert h.asked()[-1] == (5, 5)
    h.answer(h.requests[-1], [5])
    assert h.delivered == [1, 3, 4, 5, 6, 7]


def test_a_newer_last_published_seq_is_no_gap_if_the_socket_brings_it(h: Harness) -> None:
    h.feed(1, 3)
    h.answer(h.requests[0], [2], last_published_seq=6)
    assert h.delivered == [1, 2, 3]
    assert not h.stream.gap_open
    h.feed(4, 5, 6)
    h.scheduler.advance(RETRY_NS)
    assert len(h.requests) == 1
    assert not h.stream.gap_open
    assert h.count("exec_gaps_total") == 1


def test_a_trailing_report_lost_is_found_from_a_replay_answer(h: Harness) -> None:
    h.feed(1, 3)
    h.answer(h.requests[0], [2], last_published_seq=4)
    assert h.delivered == [1, 2, 3]
    h.scheduler.advance(RETRY_NS)
    assert h.asked()[-1] == (4, 4)
    h.answer(h.requests[-1], [4])
    assert h.delivered == [1, 2, 3, 4]


def test_a_report_far_below_the_stream_starts_a_new_stream(capture: LogCapture) -> None:
    h = Harness(capture, reset_window=100)
    h.feed(500, 501, 503)
    h.feed(20, 21)
    assert h.delivered == [500, 501, 503, 20, 21]
    assert h.count("exec_stream_resets_total") == 1
    assert h.count("exec_unrecovered_total") == 1  # 502, never answered before the reset
    assert not h.stream.gap_open
    (reset,) = events(capture, "exec_stream_reset")
    assert (reset["report_seq"], reset["seen_seq"]) == (20, 503)
    # An answer to a request of the old stream is not applied to the new one.
    h.answer(h.requests[0], [502])
    assert h.delivered[-1] == 21


def test_seq_one_again_is_a_restarted_adapter(h: Harness) -> None:
    h.feed(1, 2, 3, 1, 2)
    assert h.delivered == [1, 2, 3, 1, 2]
    assert h.count("exec_stream_resets_total") == 1
    assert h.count("exec_duplicates_total") == 0


def test_seq_one_twice_is_a_duplicate(h: Harness) -> None:
    h.feed(1, 1, 2)
    assert h.delivered == [1, 2]
    assert h.count("exec_duplicates_total") == 1
    assert h.count("exec_stream_resets_total") == 0


def test_a_report_a_little_below_the_stream_is_a_duplicate(h: Harness) -> None:
    h.feed(10, 11, 12, 11)
    assert h.delivered == [10, 11, 12]
    assert h.count("exec_duplicates_total") == 1
    assert h.count("exec_stream_resets_total") == 0


def test_usage_below_what_the_socket_showed_is_a_restarted_adapter(h: Harness) -> None:
    h.feed(40, 41)
    h.usage(7)
    assert h.count("exec_stream_resets_total") == 1
    h.feed(9)
    assert h.asked() == [(8, 8)]
    h.answer(h.requests[0], [8])
    assert h.delivered == [40, 41, 8, 9]


def test_an_answer_from_an_adapter_that_went_back_is_refused(h: Harness, capture: LogCapture) -> None:
    h.feed(1, 2, 40)
    h.answer(h.requests[0], [3, 4], last_published_seq=5)
    assert h.delivered == [1, 2]
    assert events(capture, "exec_replay_refused")
    h.scheduler.advance(RETRY_NS)
    assert len(h.requests) == 2


def test_a_reply_to_someone_else_is_ignored(h: Harness) -> None:
    h.feed(1, 3)
    h.stream.on_replay(ExecReplay(request_id="strategy.0.1", first_seq=2, last_seq=2, reports=[report(2)],
                                  last_published_seq=3))
    assert h.delivered == [1]


def test_a_report_without_a_seq_is_a_bad_message(h: Harness) -> None:
    h.feed(1, 0, 2)
    assert h.delivered == [1, 2]
    assert h.metrics.registry.get_sample_value("bad_messages_total", {"service": "risk", "socket": "exec"}) == 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_whatever_the_socket_drops_every_report_is_delivered_once_in_order(data: st.DataObject) -> None:
    """A journal answering in batches, answers overtaking or trailing the socket, retries, lost
    heartbeats: in the end every report from the first one is delivered exactly once, in order,
    except those both dropped by the socket and pruned from the journal, which are counted lost."""
    count = data.draw(st.integers(1, 80), label="reports")
    batch = data.draw(st.integers(1, 20), label="batch")
    dropped = data.draw(st.lists(st.booleans(), min_size=count, max_size=count), label="dropped")
    dropped[0] = False  # the stream starts at the first report it sees
    pruned = data.draw(st.lists(st.booleans(), min_size=count, max_size=count), label="pruned")
    if not data.draw(st.booleans(), label="pruning"):
        pruned = [False] * count
    capture = LogCapture()
    h = Harness(capture, max_buffered=1000, max_attempts=1_000_000)  # nothing is given up here
    published, answered = 0, 0

    def answer_next() -> None:
        nonlocal answered
        request = h.requests[answered]
        answered += 1
        seqs = [seq for seq in range(request.first_seq, min(request.last_seq, published) + 1)
                if not pruned[seq - 1]][:batch]
        h.answer(request, seqs, last_published_seq=published)

    while published < count:
        action = data.draw(st.sampled_from(["publish", "publish", "publish", "usage", "answer", "timeout"]))
        if action == "publish":
            published += 1
            if not dropped[published - 1]:
                h.feed(published)
        elif action == "usage" and data.draw(st.booleans(), label="usage arrives"):
            h.usage(published)
        elif action == "answer" and answered < len(h.requests):
            answer_next()
        elif action == "timeout":
            h.scheduler.advance(RETRY_NS)
    h.usage(published)
    for _ in range(10 * count):
        if answered < len(h.requests):
            answer_next()
        elif h.stream.gap_open or h.scheduler.pending:
            h.scheduler.advance(RETRY_NS)
        else:
            break
    lost = [seq for seq in range(1, count + 1) if dropped[seq - 1] and pruned[seq - 1]]
    assert h.delivered == [seq for seq in range(1, count + 1) if seq not in lost], events(capture, "exec_reports_lost")
    assert not h.stream.gap_open
    assert h.count("exec_unrecovered_total") == len(lost)


def test_catch_up_replays_the_history_before_the_first_report_then_goes_live(capture: LogCapture) -> None:
    h = Harness(capture, catch_up_from=1)
    h.feed(50)
    assert h.delivered == []
    assert h.asked() == [(1, 49)]
    assert h.stream.catching_up and h.stream.gap_open
    seen_while_catching_up: list[bool] = []
    h.stream._deliver = lambda r: (h.delivered.append(r.seq), seen_while_catching_up.append(h.stream.catching_up))
    h.answer(h.requests[-1], list(range(1, 50)))
    assert h.delivered == list(range(1, 51))
    assert seen_while_catching_up == [True] * 49 + [False], "the live report is not history"
    assert not h.stream.catching_up and not h.stream.gap_open
    h.feed(51)
    assert h.delivered[-1] == 51


def test_catch_up_from_the_adapters_heartbeat_when_no_report_comes(capture: LogCapture) -> None:
    h = Harness(capture, catch_up_from=1)
    h.usage(7)
    assert h.asked() == [(1, 7)]
    h.answer(h.requests[-1], list(range(1, 8)))
    assert h.delivered == list(range(1, 8))
    assert not h.stream.gap_open
    h.feed(8)
    assert h.delivered[-1] == 8 and not h.stream.catching_up


def test_no_catch_up_when_the_stream_starts_at_its_beginning(capture: LogCapture) -> None:
    h = Harness(capture, catch_up_from=1)
    h.feed(1, 2)
    assert h.delivered == [1, 2] and h.requests == []
