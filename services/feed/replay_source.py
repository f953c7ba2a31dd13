"""ReplaySource: a recording of Shioaji's quote streams (services/feed/replay.py) published on md again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from services.feed.md_publisher import MdPublisher
from services.feed.metrics import FeedMetrics
from services.feed.replay import Record, RecordReader, ReplayBooks, ReplayError, ReplayPacer
from services.runtime.service import ServiceRuntime

# Events published per loop turn when replaying flat out: large enough to amortize the timer,
# small enough that heartbeats and the XPUB still get their turn.
REPLAY_BATCH = 256


@dataclass(slots=True)
class _ReplayPass:
    """One pass over the recording: where the reader is and what it has built so far."""

    records: Iterator[Record]
    books: ReplayBooks
    pending: Record | None
    published: int = 0


class ReplaySource:
    """Publishes a recording at its recorded pace scaled by `speed`, once or over and over."""

    def __init__(
        self, rt: ServiceRuntime, md: MdPublisher, metrics: FeedMetrics, reader: RecordReader, *, speed: float,
        loop_replay: bool,
    ) -> None:
        self._rt = rt
        self._md = md
        self._reader = reader
        self._pacer = ReplayPacer(speed)
        self._loop_replay = loop_replay
        self._metrics = metrics
        self._bad_lines_counted = 0
        self._passes = 0
        self._pass: _ReplayPass | None = None

    def start(self) -> None:
        try:
            self._start_pass()
        except ReplayError as exc:
            self._fail(exc)

    def close(self) -> None:
        """Nothing to release: each pass closes the file it read."""

    def _fail(self, exc: ReplayError) -> None:
        """Strict mode: a malformed line ends the run (exit code 2), saying where."""
        self._rt.log.error("replay_failed", file=str(exc.path), line=exc.line_no, reason=exc.reason)
        self._rt.exit_code = 2
        self._rt.loop.stop()

    def _start_pass(self) -> None:
        records = self._reader.records()
        first = next(records, None)
        self._pass = _ReplayPass(records, ReplayBooks(), first)
        self._passes += 1
        self._pacer.start(first.exch_ts_ns if first is not None else 0, self._rt.clock.mono_ns())
        self._rt.log.info("md_publishing", source="replay", replay_pass=self._passes)
        self._publish_due()

    def _pump(self) -> None:
        try:
            self._publish_due()
        except ReplayError as exc:
            self._fail(exc)

    def _publish_due(self) -> None:
        run = self._pass
        if run is None:
            return
        clock = self._rt.clock
        now_ns = clock.mono_ns()
        for _ in range(REPLAY_BATCH):
            record = run.pending
            if record is None:
                self._finish(run)
                return
            due_ns = self._pacer.due_mono_ns(record.exch_ts_ns)
            if due_ns > now_ns:
                self._count_bad_lines()
                self._rt.loop.call_later(due_ns - now_ns, self._pump)
                return
            if run.books.apply(record):
                event = run.books.event(record.symbol, seq=0, ingest_ts_ns=0)
                event.ingest_ts_ns = clock.mono_ns()
                self._md.send(event)
                run.published += 1
            run.pending = next(run.records, None)
        self._count_bad_lines()
        self._rt.loop.call_later(0, self._pump)

    def _count_bad_lines(self) -> None:
        fresh = self._reader.bad_lines - self._bad_lines_counted
        if fresh:
            self._metrics.replay_bad_lines.inc(fresh)
            self._bad_lines_counted = self._reader.bad_lines
        if self._pass is not None:
            self._metrics.replay_trial_records.set(self._pass.books.trial_records)

    def _finish(self, run: _ReplayPass) -> None:
        self._count_bad_lines()
        self._pass = None
        summary = {
            "file": str(self._reader.path),
            "replay_pass": self._passes,
            "events": run.published,
            "trial_records": run.books.trial_records,
            "bad_lines_so_far": self._reader.bad_lines,
            "first_errors": [str(error) for error in self._reader.first_errors],
        }
        if not self._loop_replay:
            self._metrics.replay_finished.set(1)
            self._rt.log.info("replay_finished", **summary)
        elif run.published == 0:
            # Looping over a file that yields nothing would spin the loop without ever publishing.
            self._rt.log.warning("replay_finished", reason="no_events_to_loop", **summary)
        else:
            self._rt.log.info("replay_looping", **summary)
            # Through the loop, not directly: a short pass at speed 0 would otherwise recurse pass
            # after pass without ever returning to the loop (and to its signals).
            self._rt.loop.call_later(0, self.start)
