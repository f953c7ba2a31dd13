"""ExecStream: execution reports in seq order, exactly once, with the gaps a PUB left filled from the adapter.

The adapter numbers its ExecutionReports (`seq`, continued across restarts from its journal) and
publishes them on the exec PUB, which drops messages once a subscriber's high-water mark fills.
Risk and the strategy runner build positions from these reports, so they read them through an
ExecStream: it hands each report to the service's handler strictly in seq order, exactly once.

- In order (the usual case): one int compare and the call.
- A gap (a report beyond the next expected seq, an AdapterUsage whose `exec_seq` is beyond what
  was seen, or an ExecReplay whose `last_published_seq` is still beyond it `retry_after_ns` later):
  the later reports are held (at most `max_buffered`), an ExecReplayRequest for the first missing
  range goes to the adapter's exec_replay ROUTER, and the answer fills it; without an answer it is
  asked again every `retry_after_ns`.
  While a gap is open `gap_open` is true (gauge `exec_gap_open`): positions are behind the broker.
- What cannot be recovered is given up loudly (an error log line, `exec_unrecovered_total`) so
  the service never stalls: seqs the adapter's journal no longer has (pruned), what is missing when
  the held reports overflow `max_buffered`, and what is missing before held reports after
  `max_attempts` unanswered requests. The held reports are then delivered, in order, without it.
  A trailing gap with nothing held is asked for until the adapter answers: holding nothing, it
  stalls nothing, and an adapter that was restarting answers when it is back.
- A report already delivered (a replay overlapping the stream) is dropped and counted
  (`exec_duplicates_total`).
- Start: the stream begins at the first report seen, or after the `exec_seq` of the first
  AdapterUsage if that comes first. With `catch_up_from` (risk and the strategy runner use 1) the
  history before that is replayed first, from the adapter's journal: a restarted service rebuilds
  its positions and working orders before it trusts them; `catching_up` is true meanwhile, so a
  service can apply history without reacting to it.
- The adapter's numbering going back (its journal deleted or replaced) is a new stream, counted in
  `exec_stream_resets_total` and logged, started like the first one; reports held from the old
  numbering are delivered first. It shows as a report seq 1 after higher ones, a report
  `reset_window` or more below the newest seq already seen on the socket, or an AdapterUsage whose
  `exec_seq` is below that (the adapter says its newest report is older than one it sent before).
  A report a little below it is a duplicate.

ExecStream is an engine: it takes a send function, a Clock and a Scheduler, and never touches a
socket. `read_exec_stream` wires one into a service: the exec SUB, a DEALER to exec_replay.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
import zmq
from prometheus_client import Counter, Gauge

from contracts.codec import encode
from contracts.messages import AdapterUsage, ExecReplay, ExecReplayRequest, ExecutionReport
from services.runtime.clock import Clock, Scheduler
from services.runtime.metrics import ServiceMetrics

if TYPE_CHECKING:
    from services.runtime.service import ServiceRuntime

DEFAULT_RETRY_AFTER_NS = 500_000_000
DEFAULT_MAX_ATTEMPTS = 20
DEFAULT_MAX_BUFFERED = 20_000
DEFAULT_RESET_WINDOW = 1000
GAP_LOG_INTERVAL_NS = 1_000_000_000
REQUEST_TOPIC = b"exec_replay_req"
_NEVER = -(1 << 64)
"""A seq no message can carry (msgpack integers are 64-bit): the fast path's expectation while it is off."""

ReportHandler = Callable[[ExecutionReport], None]


class ExecStreamMetrics:
    def __init__(self, metrics: ServiceMetrics) -> None:
        registry = metrics.registry
        self.gaps = Counter("exec_gaps", "Gaps found in the exec stream's seqs (each missing range once)",
                            registry=registry)
        self.replayed = Counter("exec_replayed", "Execution reports recovered from the adapter's journal",
                                registry=registry)
        self.duplicates = Counter("exec_duplicates", "Execution reports dropped because already delivered or held",
                                  registry=registry)
        self.unrecovered = Counter("exec_unrecovered", "Execution report seqs given up: never delivered",
                                   registry=registry)
        self.resets = Counter("exec_stream_resets", "Times the adapter's report numbering went back (new stream)",
                              registry=registry)
        self.requests = Counter("exec_replay_requests_sent", "Replay requests sent to the adapter",
                                registry=registry)
        self.gap_open = Gauge("exec_gap_open", "1 while reports are missing: positions are behind the broker",
                              registry=registry)
        self.bad = metrics.bad_messages_total.labels(metrics.service, "exec")


class ExecStream:
    """Feed it every ExecutionReport (`on_report`), AdapterUsage (`on_usage`) and ExecReplay
    (`on_replay`) the service receives; it calls `deliver` with each report once, in seq order."""

    def __init__(
        self,
        deliver: ReportHandler,
        send_request: Callable[[ExecReplayRequest], bool],
        clock: Clock,
        scheduler: Scheduler,
        log: structlog.stdlib.BoundLogger,
        metrics: ServiceMetrics,
        *,
        client_id: str = "exec",
        retry_after_ns: int = DEFAULT_RETRY_AFTER_NS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        reset_window: int = DEFAULT_RESET_WINDOW,
        catch_up_from: int = 0,
    ) -> None:
        """`send_request` returns False if the request could not be sent (it is retried on the timer)."""
        self._deliver = deliver
        self._send = send_request
        self._clock = clock
        self._scheduler = scheduler
        self._log = log
        self.metrics = ExecStreamMetrics(metrics)
        self.client_id = client_id
        self.retry_after_ns = retry_after_ns
        self.max_attempts = max_attempts
        self.max_buffered = max_buffered
        self.reset_window = reset_window
        self.catch_up_from = catch_up_from
        self._catch_up_until = 0
        self._expect = _NEVER
        """The seq the fast path delivers; _NEVER before the start and while a gap is open. While it
        is positive it is the next seq, and _next is stale until _sync()."""
        self._fast_from = 0
        self._next = 0
        self._started = False
        self._known_high = 0
        """The newest seq known to exist and not yet delivered, or the last delivered."""
        self._announced = 0
        self._announce_check_pending = False
        self._stream_high = 0
        """The newest seq seen on the exec socket itself (a report's, or an AdapterUsage's exec_seq):
        the socket is ordered, so what comes later on it is never below it unless the numbering restarted."""
        self._buffer: dict[int, ExecutionReport] = {}
        self._heap: list[int] = []
        self._epoch = 0
        self._request_n = 0
        self._inflight: str | None = None
        self._attempts = 0
        self._timer_token = 0
        self.gap_open = False
        self._gap_logged_ns: int | None = None
        self._gaps_not_logged = 0

    # --- what a service reads ----------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        """The seq delivered next (0 before the stream started)."""
        return self._expect if self._expect > 0 else self._next

    @property
    def catching_up(self) -> bool:
        """Whether the report being delivered (or, between deliveries, the last one) is history from
        before the start: a handler applies it without reacting to it."""
        return self.next_seq - 1 <= self._catch_up_until

    @property
    def held(self) -> int:
        """Reports received beyond a gap, waiting for it to be filled."""
        return len(self._buffer)

    # --- input ---------------------------------------------------------------------------------------

    def on_report(self, report: ExecutionReport) -> None:
        """A report from the exec stream: the hot path."""
        if report.seq == self._expect:
            self._expect += 1
            self._deliver(report)
        else:
            self._unexpected(report)

    def on_usage(self, usage: AdapterUsage) -> None:
        """The adapter's newest published seq, every heartbeat: shows reports lost at the end of a burst."""
        newest = usage.exec_seq
        if newest <= 0:
            return
        self._sync()
        if not self._started:
            self._start(newest + 1, source="usage")
            return
        if newest < self._stream_high:
            self._reset("adapter_usage_went_back", exec_seq=newest, seen_seq=self._stream_high)
            self._start(newest + 1, source="usage")
            return
        self._stream_high = newest
        if newest > self._known_high:
            self._gap_found(self._known_high + 1, newest, "usage")
            self._known_high = newest
            self._settle()

    def on_replay(self, reply: ExecReplay) -> None:
        """The adapter's answer to one of our requests (see ExecReplay for what a short answer means)."""
        if not self._started or not reply.request_id.startswith(self._request_prefix()):
            self._log.debug("exec_replay_stale", request_id=reply.request_id)
            return
        self._sync()
        if reply.last_published_seq < self._stream_high:
            # The adapter's newest is older than what its stream showed: it restarted with another
            # journal, so these reports may be of another numbering. The stream will show the reset;
            # until then the request is retried on its timer.
            self._log.warning("exec_replay_refused", request_id=reply.request_id, seen_seq=self._stream_high,
                              last_published_seq=reply.last_published_seq, reason="adapter_numbering_went_back")
            return
        if reply.request_id == self._inflight:
            self._inflight = None
            self._attempts = 0
            self._timer_token += 1
        buffer, duplicates, replayed = self._buffer, 0, 0
        for report in reply.reports:
            seq = report.seq
            if seq < self._next or seq in buffer:
                duplicates += 1
                continue
            buffer[seq] = report
            heapq.heappush(self._heap, seq)
            replayed += 1
            if seq > self._known_high:
                self._known_high = seq
        if duplicates:
            self.metrics.duplicates.inc(duplicates)
        if replayed:
            self.metrics.replayed.inc(replayed)
        if reply.last_published_seq > self._known_high:
            self._announce(reply.last_published_seq)
        if reply.first_seq <= self._next:
            # Everything from first_seq up to the last report answered that is not in the answer is
            # gone from the journal; past it, the answer was only cut short, and we ask again.
            answered_to = max((report.seq for report in reply.reports), default=reply.last_seq)
            answered_to = min(answered_to, reply.last_seq, reply.last_published_seq)
            if answered_to >= self._next:
                self._skip_to(answered_to, "not_in_journal")
        self._settle()

    # --- the slow path ---------------------------------------------------------------------------------

    def _sync(self) -> None:
        """Bring _next and _stream_high up to what the fast path delivered (every report it delivers
        came from the socket)."""
        if self._expect > 0:
            self._next = self._expect
            if self._expect > self._fast_from:
                self._stream_high = max(self._stream_high, self._expect - 1)
                self._known_high = max(self._known_high, self._expect - 1)
                self._fast_from = self._expect

    def _unexpected(self, report: ExecutionReport) -> None:
        self._sync()
        seq = report.seq
        if seq < 1:
            self.metrics.bad.inc()
            self._log.error("exec_report_unnumbered", seq=seq, client_order_id=report.client_order_id,
                            reason="bad_message")
            return
        if not self._started:
            self._start(seq, source="report")
            self.on_report(report)
            return
        if seq >= self._next:
            self._stream_high = max(self._stream_high, seq)
            self._hold_or_deliver(report)
            return
        if seq > self._stream_high:
            # Delivered from a replay before the socket brought it.
            self._stream_high = seq
            self.metrics.duplicates.inc()
            return
        if (seq == 1 and self._stream_high > 1) or self._stream_high - seq >= self.reset_window:
            self._reset("report_seq_went_back", report_seq=seq, seen_seq=self._stream_high)
            self._start(seq, source="report")
            self.on_report(report)
            return
        self.metrics.duplicates.inc()

    def _hold_or_deliver(self, report: ExecutionReport) -> None:
        """A report at or beyond the next seq, while a gap is open or one just appeared."""
        seq = report.seq
        if seq == self._next:
            self._next += 1
            self._deliver(report)
            self._settle()
            return
        if seq in self._buffer:
            self.metrics.duplicates.inc()
            return
        if seq > self._known_high + 1:
            self._gap_found(self._known_high + 1, seq - 1, "report")
        self._known_high = max(self._known_high, seq)
        self._buffer[seq] = report
        heapq.heappush(self._heap, seq)
        if len(self._buffer) > self.max_buffered:
            first_held = self._first_held()
            if first_held is not None:
                self._skip_to(first_held - 1, "buffer_full")
                self._inflight = None
                self._timer_token += 1
        self._settle()

    def _advance(self) -> None:
        """Deliver held reports from the next seq on, while they follow each other."""
        buffer = self._buffer
        while buffer:
            report = buffer.pop(self._next, None)
            if report is None:
                return
            self._next += 1
            self._deliver(report)

    def _skip_to(self, last_seq: int, reason: str) -> None:
        """Deliver the held reports up to `last_seq` in order, giving up every missing seq before it."""
        lost: list[tuple[int, int]] = []
        heap, buffer = self._heap, self._buffer
        while heap and heap[0] <= last_seq:
            seq = heapq.heappop(heap)
            report = buffer.pop(seq, None)
            if report is None or seq < self._next:
                continue
            if seq > self._next:
                lost.append((self._next, seq - 1))
            self._next = seq + 1
            self._deliver(report)
        if last_seq >= self._next:
            lost.append((self._next, last_seq))
            self._next = last_seq + 1
        if lost:
            count = sum(last - first + 1 for first, last in lost)
            self.metrics.unrecovered.inc(count)
            self._log.error("exec_reports_lost", count=count, ranges=lost[:10], ranges_total=len(lost),
                            reason=reason, next_seq=self._next,
                            detail="never delivered: positions built from execution reports may be wrong")

    def _settle(self) -> None:
        """After any change while a gap may be open: deliver what follows, then close the gap or make
        sure it is being asked for."""
        self._advance()
        if self._next > self._known_high:
            if self.gap_open:
                self.gap_open = False
                self.metrics.gap_open.set(0)
                self._log.info("exec_gap_closed", next_seq=self._next)
            self._expect = self._fast_from = self._next
            self._inflight = None
            self._attempts = 0
            self._timer_token += 1
            return
        if not self.gap_open:
            self.gap_open = True
            self.metrics.gap_open.set(1)
        self._expect = _NEVER
        if self._inflight is None:
            self._request()

    def _first_held(self) -> int | None:
        heap, buffer = self._heap, self._buffer
        while heap and heap[0] not in buffer:
            heapq.heappop(heap)
        return heap[0] if heap else None

    def _request_prefix(self) -> str:
        return f"{self.client_id}.{self._epoch}."

    def _request(self) -> None:
        """Ask for the first missing range: from the next seq to the first held report, or to the newest known."""
        first_held = self._first_held()
        last_seq = first_held - 1 if first_held is not None else self._known_high
        self._request_n += 1
        request = ExecReplayRequest(request_id=f"{self._request_prefix()}{self._request_n}",
                                    first_seq=self._next, last_seq=last_seq)
        self._inflight = request.request_id
        self.metrics.requests.inc()
        if not self._send(request) and self._attempts % self.max_attempts == 0:
            self._log.warning("exec_replay_not_sent", request_id=request.request_id, attempts=self._attempts,
                              reason="adapter_not_connected")
        self._timer_token += 1
        token = self._timer_token
        self._scheduler.call_later(self.retry_after_ns, lambda: self._on_timeout(token))

    def _on_timeout(self, token: int) -> None:
        if token != self._timer_token or not self.gap_open:
            return
        self._inflight = None
        self._attempts += 1
        first_held = self._first_held()
        if first_held is not None and self._attempts >= self.max_attempts:
            self._log.error("exec_replay_unanswered", attempts=self._attempts, next_seq=self._next,
                            held=len(self._buffer), reason="adapter_not_answering")
            self._attempts = 0
            self._skip_to(first_held - 1, "adapter_not_answering")
        self._settle()

    def _announce(self, newest: int) -> None:
        """The adapter's newest seq, from a replay answer. Reports up to it may still be on their way
        on the socket (an answer overtakes them), so it counts as a gap only if they have not come
        after `retry_after_ns`; taking it at once would chase a busy adapter with requests forever."""
        self._announced = max(self._announced, newest)
        if self._announce_check_pending:
            return
        self._announce_check_pending = True
        epoch = self._epoch

        def check() -> None:
            self._announce_check_pending = False
            if epoch != self._epoch or not self._started:
                return
            self._sync()
            if self._announced > self._known_high:
                self._gap_found(self._known_high + 1, self._announced, "replay")
                self._known_high = self._announced
                self._settle()

        self._scheduler.call_later(self.retry_after_ns, check)

    def _gap_found(self, first_seq: int, last_seq: int, source: str) -> None:
        self.metrics.gaps.inc()
        now = self._clock.mono_ns()
        if self._gap_logged_ns is not None and now - self._gap_logged_ns < GAP_LOG_INTERVAL_NS:
            self._gaps_not_logged += 1
            return
        self._log.warning("exec_gap", first_seq=first_seq, last_seq=last_seq, source=source,
                          suppressed_since_last=self._gaps_not_logged, reason="missed_messages")
        self._gap_logged_ns = now
        self._gaps_not_logged = 0

    def _start(self, next_seq: int, *, source: str) -> None:
        self._started = True
        self._next = self._expect = self._fast_from = next_seq
        self._known_high = self._stream_high = next_seq - 1
        catch_up = self._epoch == 0 and 0 < self.catch_up_from < next_seq
        self._log.info("exec_stream_started", next_seq=next_seq, source=source,
                       catch_up_from=self.catch_up_from if catch_up else None)
        if catch_up:
            self._next = self._fast_from = self.catch_up_from
            self._catch_up_until = next_seq - 1
            self._settle()

    def _reset(self, reason: str, **fields: int) -> None:
        """The adapter's numbering went back: deliver what is held of the old one, then forget it."""
        self.metrics.resets.inc()
        self._log.warning("exec_stream_reset", reason=reason, next_seq=self._next, held=len(self._buffer), **fields)
        if self._buffer:
            self._skip_to(max(self._buffer), "stream_reset")
        self._buffer.clear()
        self._heap.clear()
        self._epoch += 1
        self._inflight = None
        self._attempts = 0
        self._timer_token += 1
        self._started = False
        self._expect = _NEVER
        self._announced = 0
        self._announce_check_pending = False
        if self.gap_open:
            self.gap_open = False
            self.metrics.gap_open.set(0)


def dealer_sender(sock: zmq.Socket) -> Callable[[ExecReplayRequest], bool]:
    """Sends a request on a DEALER without blocking; False if it cannot be queued now."""

    def send(request: ExecReplayRequest) -> bool:
        try:
            sock.send_multipart((REQUEST_TOPIC, encode(request)), zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    return send


def read_exec_stream(rt: ServiceRuntime, on_report: ReportHandler,
                     on_usage: Callable[[AdapterUsage], None] | None = None, *,
                     catch_up_from: int = 0) -> ExecStream:
    """Subscribe to the exec stream (reports and usage) and connect a DEALER to the adapter's
    exec_replay; `on_report` gets every report in order, once; `on_usage` every AdapterUsage."""
    endpoints = rt.stack.endpoints
    replay = rt.sockets.dealer(endpoints.exec_replay, linger_ms=0, immediate=True)
    stream = ExecStream(on_report, dealer_sender(replay), rt.clock, rt.loop, rt.log, rt.metrics,
                        client_id=str(rt.name), catch_up_from=catch_up_from)
    report_type, on_stream_report = ExecutionReport, stream.on_report

    def on_exec(message: ExecutionReport | AdapterUsage) -> None:
        if type(message) is report_type:
            on_stream_report(message)  # type: ignore[arg-type]
            return
        stream.on_usage(message)  # type: ignore[arg-type]
        if on_usage is not None:
            on_usage(message)  # type: ignore[arg-type]

    rt.read(rt.sockets.subscriber(endpoints.exec, [b"exec", b"usage"]), "exec", (ExecutionReport, AdapterUsage),
            on_exec)
    rt.read(replay, "exec_replay", (ExecReplay,), stream.on_replay)
    return stream
