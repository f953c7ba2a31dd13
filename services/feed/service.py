"""The feed service process: publishes MarketEvents on md, from the synthetic market, a recording, or
Shioaji's quote stream (the real one, or the fake server's: `source: shioaji` / `fake-shioaji`).

This is where tick-to-trade starts: every event is stamped with `ingest_ts_ns` (monotonic) just
before it is sent, and every intent downstream carries that stamp. With `feed.wait_subscribers`
set, md is an XPUB and nothing is published until that many subscriptions have arrived (or the
wait times out), so a stack started together does not lose its first events to slow joiners.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client import Counter, Gauge

from contracts.enums import ServiceName
from contracts.market_rules import taipei_date
from contracts.messages import InstrumentRef, MarketEvent
from services.feed.replay import Record, RecordReader, ReplayBooks, ReplayError, ReplayPacer
from services.feed.shioaji_quotes import QuoteBridge, check_subscriptions, instruments_yaml
from services.feed.synthetic import RateSchedule, SyntheticMarket
from services.runtime.config.instruments import load_instruments
from services.runtime.config.loader import ConfigError, load_yaml_model
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.shioaji import ShioajiConfig
from services.runtime.config.stack import StackConfig
from services.runtime.service import ServiceRuntime
from services.runtime.sockets import Publisher
from services.shioaji.fake_api import FakeShioaji
from services.shioaji.fake_exchange import listing_of
from services.shioaji.fake_server import FakeSinopac
from services.shioaji.sdk import sj
from services.shioaji.session import fake_environ, login

NS_PER_S = 1_000_000_000
SHIOAJI_INSTRUMENTS_FILE = "shioaji-instruments.yaml"
MIN_TIMER_INTERVAL_NS = 1_000_000
# Events published per loop turn when replaying flat out: large enough to amortize the timer,
# small enough that heartbeats and the XPUB still get their turn.
REPLAY_BATCH = 256
SUBSCRIBE_FRAME_PREFIX = b"\x01"


class MdPublisher:
    """The md stream: sends each event (the Publisher numbers it, per symbol) and counts it per symbol."""

    def __init__(self, rt: ServiceRuntime, publisher: Publisher) -> None:
        self._publisher = publisher
        self._events = Counter(
            "md_events", "MarketEvents published on md", ["symbol"], registry=rt.metrics.registry
        )
        self._per_symbol: dict[str, Counter] = {}

    def send(self, event: MarketEvent) -> None:
        self._publisher.send(event)
        counter = self._per_symbol.get(event.symbol)
        if counter is None:
            counter = self._per_symbol[event.symbol] = self._events.labels(event.symbol)
        counter.inc()

    def send_reference(self, ref: InstrumentRef) -> None:
        self._publisher.send(msgspec.structs.replace(ref, seq=0))  # a copy: the Publisher numbers each send


class SyntheticSource:
    """Publishes the synthetic market at a steady rate, catching up whatever a late timer missed."""

    def __init__(self, rt: ServiceRuntime, md: MdPublisher, market: SyntheticMarket, rate_hz: float) -> None:
        self._rt = rt
        self._md = md
        self._market = market
        self._rate_hz = rate_hz

    def start(self) -> None:
        clock = self._rt.clock
        schedule = RateSchedule(self._rate_hz, clock.mono_ns())
        # Loop timers have millisecond resolution, so above 1000/s each tick sends a batch.
        interval_ns = max(MIN_TIMER_INTERVAL_NS, round(NS_PER_S / self._rate_hz))
        self._rt.loop.every(interval_ns, lambda: self._publish(schedule.take_due(clock.mono_ns())))
        self._rt.log.info("md_publishing", source="synthetic", rate_hz=self._rate_hz)

    def close(self) -> None:
        """Nothing to release."""

    def _publish(self, count: int) -> None:
        clock = self._rt.clock
        for _ in range(count):
            event = self._market.next_event(0, clock.wall_ns(), 0)
            # Tick-to-trade starts when the event leaves the feed, not while the simulator builds it.
            event.ingest_ts_ns = clock.mono_ns()
            self._md.send(event)


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
        self, rt: ServiceRuntime, md: MdPublisher, reader: RecordReader, *, speed: float, loop_replay: bool
    ) -> None:
        self._rt = rt
        self._md = md
        self._reader = reader
        self._pacer = ReplayPacer(speed)
        self._loop_replay = loop_replay
        self._bad_lines = Counter(
            "replay_bad_lines", "Recorded lines skipped as unreadable", registry=rt.metrics.registry
        )
        self._bad_lines_counted = 0
        self._trial_records = Gauge("replay_trial_records", "Trial-match (simtrade) records of this pass, skipped",
                                    registry=rt.metrics.registry)
        self._finished = Gauge("replay_finished", "1 once the recording has been published to its end",
                               registry=rt.metrics.registry)
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
            self._bad_lines.inc(fresh)
            self._bad_lines_counted = self._reader.bad_lines
        if self._pass is not None:
            self._trial_records.set(self._pass.books.trial_records)

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
            self._finished.set(1)
            self._rt.log.info("replay_finished", **summary)
        elif run.published == 0:
            # Looping over a file that yields nothing would spin the loop without ever publishing.
            self._rt.log.warning("replay_finished", reason="no_events_to_loop", **summary)
        else:
            self._rt.log.info("replay_looping", **summary)
            # Through the loop, not directly: a short pass at speed 0 would otherwise recurse pass
            # after pass without ever returning to the loop (and to its signals).
            self._rt.loop.call_later(0, self.start)


class SubscriberGate:
    """Holds publishing until `wanted` subscriptions have reached the md XPUB, or the wait times out.

    XPUB_VERBOSE reports every subscription, one frame each (first byte 1), so a subscriber that
    subscribes to several topics counts once per topic.
    """

    def __init__(self, rt: ServiceRuntime, wanted: int, on_open: Callable[[], None]) -> None:
        self._rt = rt
        self._wanted = wanted
        self._on_open = on_open
        self._subscriptions = 0
        self._open = False

    def on_frames(self, frames: list[bytes]) -> None:
        if self._open or not frames or not frames[0].startswith(SUBSCRIBE_FRAME_PREFIX):
            return
        self._subscriptions += 1
        if self._subscriptions >= self._wanted:
            self._rt.log.info("subscribers_ready", subscriptions=self._subscriptions)
            self._open_gate()

    def on_timeout(self) -> None:
        if self._open:
            return
        self._rt.log.warning(
            "subscribers_wait_timed_out", subscriptions=self._subscriptions, wanted=self._wanted
        )
        self._open_gate()

    def _open_gate(self) -> None:
        self._open = True
        self._on_open()


@dataclass(frozen=True, slots=True)
class ShioajiLogin:
    """A logged-in Shioaji client for the quote bridge, and how to end its session."""

    api: Any
    close: Callable[[], None]


class ShioajiSource:
    """Publishes Shioaji's quote stream through the quote bridge, and the contracts' reference data of
    the day (reference, limits, unit) as InstrumentRefs on md: at start and again every heartbeat
    interval, so a risk that starts or restarts later has them within one interval. On start it also
    writes them, in instruments.yaml's format, to var/shioaji-instruments.yaml for an operator to
    compare with config/instruments.yaml."""

    def __init__(self, rt: ServiceRuntime, md: MdPublisher, session: ShioajiLogin, symbols: list[str],
                 instruments_path: Path) -> None:
        self._rt = rt
        self._session = session
        self._instruments_path = instruments_path
        self._md = md
        self._refs: dict[str, InstrumentRef] = {}
        self._bridge = QuoteBridge(session.api, symbols, md.send, rt.log)
        rt.loop.add_reader(self._bridge.handover.socket, self._bridge.handover.on_wake)
        skipped = Gauge("shioaji_quotes_skipped", "Quotes not published: trial matching, odd lots, unreadable",
                        registry=rt.metrics.registry)
        rt.before_heartbeat(lambda: skipped.set(self._bridge.skipped))

    def start(self) -> None:
        refs = self._refs = self._bridge.instruments()
        self._instruments_path.parent.mkdir(parents=True, exist_ok=True)
        self._instruments_path.write_text(instruments_yaml(
            refs, "Written by the feed's Shioaji quote bridge from the broker's contracts, for comparison with "
                  "config/instruments.yaml; risk takes them off the wire (InstrumentRef on md)."), encoding="utf-8")
        self._publish_references()
        self._rt.loop.every(self._rt.stack.heartbeat_interval_ms * 1_000_000, self._publish_references)
        self._bridge.start()
        self._rt.log.info("md_publishing", source="shioaji", symbols=list(refs),
                          instruments_file=str(self._instruments_path))

    def _publish_references(self) -> None:
        for ref in self._refs.values():
            self._md.send_reference(ref)

    def close(self) -> None:
        self._session.close()
        self._bridge.close()


Source = SyntheticSource | ReplaySource | ShioajiSource
SourceFactory = Callable[[ServiceRuntime, MdPublisher], Source]


def shioaji_login(stack: StackConfig, *, fake: bool) -> ShioajiLogin:
    """Log in with order_adapter.yaml's shioaji: section (the desk's one session config); the fake serves
    the synthetic market as its quotes and needs no section."""
    feed = stack.feed
    check_subscriptions(feed.symbols)
    config = load_yaml_model(stack.order_adapter_file, OrderAdapterConfig).shioaji
    if not fake:
        if config is None:
            raise ConfigError(f"feed.source shioaji: {stack.order_adapter_file} needs a shioaji: section "
                              "(simulation: true or false, and where the keys are)")
        api, _ = login(sj.Shioaji, config, os.environ)

        def logout() -> None:
            with contextlib.suppress(sj.ShioajiError):  # the process is ending: a refused logout changes nothing
                api.logout()

        return ShioajiLogin(api, logout)
    config = config or ShioajiConfig(simulation=True)
    instruments = load_instruments(stack.instruments_file)
    try:
        market = SyntheticMarket(instruments, feed.symbols, feed.seed)
    except ValueError as exc:
        raise ConfigError(f"feed: {exc}") from exc
    today = taipei_date(time.time_ns())  # the fake lists its contracts as a broker does each morning
    server = FakeSinopac(config.fake, {symbol: listing_of(ref, today) for symbol, ref in instruments.items()},
                         quotes=market, quote_rate_hz=feed.rate_hz)
    api, _ = login(partial(FakeShioaji.connected_to, server), config, fake_environ(config))

    def close() -> None:
        api.logout()
        server.stop()

    return ShioajiLogin(api, close)


def _source_factory(stack: StackConfig) -> tuple[SourceFactory, dict[str, Any]]:
    """What publishes md and what to log about it; every config problem surfaces here, before sockets."""
    feed = stack.feed
    if feed.source == "synthetic":
        try:
            market = SyntheticMarket(load_instruments(stack.instruments_file), feed.symbols, feed.seed)
        except ValueError as exc:
            raise ConfigError(f"feed: {exc}") from exc
        details = {"symbols": feed.symbols, "rate_hz": feed.rate_hz, "seed": feed.seed}
        return partial(SyntheticSource, market=market, rate_hz=feed.rate_hz), details
    if feed.source in ("shioaji", "fake-shioaji"):
        session = shioaji_login(stack, fake=feed.source == "fake-shioaji")
        details = {"symbols": feed.symbols}
        return partial(ShioajiSource, session=session, symbols=feed.symbols,
                       instruments_path=stack.var_dir / SHIOAJI_INSTRUMENTS_FILE), details
    if feed.replay_file is None:
        raise ConfigError("feed.source is replay but feed.replay_file is not set")
    if not feed.replay_file.is_file():
        raise ConfigError(f"feed.replay_file: {feed.replay_file} is not a readable file")
    try:
        reader = RecordReader(feed.replay_file, strict=feed.strict)
    except ValueError as exc:
        raise ConfigError(f"feed.replay_file: {exc}") from exc
    details = {"replay_file": str(feed.replay_file), "speed": feed.speed, "loop_replay": feed.loop_replay}
    return partial(ReplaySource, reader=reader, speed=feed.speed, loop_replay=feed.loop_replay), details


def main(stack: StackConfig) -> int:
    """Run the feed until SIGINT/SIGTERM; returns the process exit code."""
    feed = stack.feed
    make_source, details = _source_factory(stack)
    rt = ServiceRuntime(ServiceName.FEED, stack)
    socket = rt.sockets.publisher(stack.endpoints.md, await_subscribers=feed.wait_subscribers > 0)
    source = make_source(rt, MdPublisher(rt, Publisher(socket)))
    if feed.wait_subscribers > 0:
        gate = SubscriberGate(rt, feed.wait_subscribers, source.start)
        rt.loop.add_reader(socket, gate.on_frames)
        rt.loop.call_later(round(feed.wait_subscribers_timeout_s * NS_PER_S), gate.on_timeout)
    else:
        rt.loop.call_later(0, source.start)
    rt.log.info(
        "feed_started",
        source=feed.source,
        endpoint=stack.endpoints.md,
        wait_subscribers=feed.wait_subscribers,
        **details,
    )
    try:
        return rt.run()
    finally:
        source.close()
