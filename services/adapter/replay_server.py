"""ReplayServer: the adapter's answer to subscribers that lost execution reports on the exec PUB.

A PUB drops messages once a subscriber's high-water mark fills. Risk and the strategy runner see
the gap in the reports' seqs (services/runtime/exec_stream.py) and ask for the missing range on the
adapter's exec_replay ROUTER with an ExecReplayRequest; this class answers with an ExecReplay from
the journal (a ReportStore). A request is `[identity, b"exec_replay_req", payload]` as a DEALER's
`[topic, payload]` arrives at a ROUTER; the answer goes back as `[identity, b"exec_replay", payload]`.
A request that does not decode or makes no sense is counted in `bad_messages_total{socket=
"exec_replay"}`, logged at most once a second and dropped: the client asks again after its timeout.

The journal holds each report as the bytes that were published. They are put into the answer as
they are (msgspec.Raw), never re-encoded, so a replayed report is byte-identical to the published
one; each is decoded once to check it is a valid ExecutionReport of the seq it is stored under
(about 1.5 µs a report here), because one bad row (say, written by an older contract) would
otherwise make the client refuse the whole answer. A bad row is left out, counted and logged; the
client then sees that seq as gone. The wire contract is ExecReplay in contracts/messages.py;
`_ExecReplayWire` is its encoding-side twin, and a test keeps the two byte-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec
import structlog
import zmq
from prometheus_client import Counter

from contracts.codec import DecodeError, Decoder, encode
from contracts.messages import ExecReplayRequest, ExecutionReport, Message
from services.runtime.clock import Clock
from services.runtime.inbox import Inbox
from services.runtime.metrics import ServiceMetrics

SOCKET_NAME = "exec_replay"
REPLY_TOPIC = b"exec_replay"
DEFAULT_MAX_BATCH = 1000
DEFAULT_MAX_REPLY_BYTES = 512 * 1024
"""Half of the default MAXMSGSIZE (stack.yaml sockets.max_msg_size_bytes): a client's socket drops
the connection on a larger message, so an answer stops adding reports before this size."""


class ReportStore(Protocol):
    """Where published reports are kept: the adapter's journal (services/adapter/journal.py)."""

    def reports_between(self, first_seq: int, last_seq: int, limit: int) -> list[tuple[int, bytes]]:
        """(seq, the encoded ExecutionReport as published) with first_seq <= seq <= last_seq,
        ascending, at most `limit`; pruned seqs are simply missing."""
        ...

    def last_report_seq(self) -> int:
        """The newest seq published (0: none). Nothing newer may be returned by reports_between."""
        ...


class _ExecReplayWire(Message, tag="exec_replay", kw_only=True):
    """contracts.messages.ExecReplay with each report as its published bytes: the same fields in the
    same order, so the same msgpack map."""

    request_id: str
    first_seq: int
    last_seq: int
    reports: list[msgspec.Raw]
    last_published_seq: int


class ReplayServer:
    """Answers ExecReplayRequests from a ReportStore, at most `max_batch` reports (and about
    `max_reply_bytes`) per answer, always from the start of the range asked for."""

    def __init__(
        self,
        store: ReportStore,
        log: structlog.stdlib.BoundLogger,
        max_batch: int = DEFAULT_MAX_BATCH,
        *,
        metrics: ServiceMetrics,
        clock: Clock,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.store = store
        self.max_batch = max_batch
        self.max_reply_bytes = max_reply_bytes
        self._log = log
        self._inbox: Inbox[ExecReplayRequest] = Inbox(SOCKET_NAME, Decoder(ExecReplayRequest), metrics, log, clock)
        self._report_decoder = Decoder(ExecutionReport)
        registry = metrics.registry
        self.requests_total = Counter("exec_replay_requests", "Replay requests answered", registry=registry)
        self.reports_total = Counter("exec_replay_reports", "Execution reports sent in replay answers",
                                     registry=registry)
        self.bad_rows_total = Counter("exec_replay_bad_rows", "Journal rows left out of a replay answer because "
                                      "they are not a valid ExecutionReport of their seq", registry=registry)

    def answer(self, request: ExecReplayRequest) -> bytes:
        """The encoded ExecReplay for a request whose range is valid (1 <= first_seq <= last_seq)."""
        last_published_seq = self.store.last_report_seq()
        last_seq = min(request.last_seq, last_published_seq)
        rows = (self.store.reports_between(request.first_seq, last_seq, self.max_batch)
                if last_seq >= request.first_seq else [])
        reports: list[msgspec.Raw] = []
        size = 0
        bad: list[int] = []
        for seq, payload in rows:
            if reports and size + len(payload) > self.max_reply_bytes:
                break
            if not self._valid(seq, payload, request.first_seq, last_seq):
                bad.append(seq)
                continue
            reports.append(msgspec.Raw(payload))
            size += len(payload)
        if bad:
            self.bad_rows_total.inc(len(bad))
            self._log.error("exec_replay_bad_rows", seqs=bad[:20], count=len(bad), request_id=request.request_id,
                            reason="journal rows that are not the ExecutionReport of their seq; the client loses them")
        self.requests_total.inc()
        self.reports_total.inc(len(reports))
        self._log.debug("exec_replay", request_id=request.request_id, first_seq=request.first_seq,
                        last_seq=request.last_seq, reports=len(reports), last_published_seq=last_published_seq)
        return encode(_ExecReplayWire(request_id=request.request_id, first_seq=request.first_seq,
                                      last_seq=request.last_seq, reports=reports,
                                      last_published_seq=last_published_seq))

    def _valid(self, seq: int, payload: bytes, first_seq: int, last_seq: int) -> bool:
        if not first_seq <= seq <= last_seq:
            return False
        try:
            return self._report_decoder.decode(payload).seq == seq
        except DecodeError:
            return False

    def handle(self, frames: list[bytes]) -> list[bytes] | None:
        """The reply frames for the request frames `[identity, topic, payload]` a ROUTER received, or
        None (counted, logged) if they are not a sensible request."""
        if len(frames) < 2:
            self._inbox.reject("frame_count", f"expected [identity, topic, payload], got {len(frames)} frame(s)")
            return None
        request = self._inbox.decode(frames[1:])
        if request is None:
            return None
        if not 1 <= request.first_seq <= request.last_seq:
            self._inbox.reject("bad_range", f"request {request.request_id!r}: first_seq {request.first_seq}, "
                                            f"last_seq {request.last_seq}; want 1 <= first_seq <= last_seq")
            return None
        return [frames[0], REPLY_TOPIC, self.answer(request)]

    def reader(self, sock: zmq.Socket) -> Callable[[list[bytes]], None]:
        """A ServiceLoop frame handler for the ROUTER `sock`: `rt.loop.add_reader(sock, server.reader(sock))`."""

        def on_frames(frames: list[bytes]) -> None:
            reply = self.handle(frames)
            if reply is None:
                return
            try:
                sock.send_multipart(reply, zmq.NOBLOCK)
            except zmq.Again:
                self._log.warning("exec_replay_not_sent", reason="client_gone_or_full")

        return on_frames
