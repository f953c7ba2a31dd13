"""`orderpath record --source shioaji|fake-shioaji`: the broker's quotes written as they come, for replay.

Logs in as the feed does (order_adapter.yaml's shioaji: section; the fake serves the synthetic market
as its quotes), subscribes feed.symbols through the quote bridge, and writes each readable quote as
the record it is: a BidAsk or a Tick line, trial matches kept with their `simtrade` flag (replay skips
them, as the bridge does live) and odd lots skipped. The
SDK's callbacks run on its thread and are handed to this process's loop, which alone writes. The
file is created only once the symbols are accepted. Stops after `quotes` records if given, after
`duration_s` if given, or on Ctrl-C, SIGTERM or SIGHUP (a closed terminal, unless started under
nohup); the file is closed whole
in every case, so what was recorded replays. With neither bound it records until told to stop, as
a recorder left running through a session should.
"""

from __future__ import annotations

import signal
from pathlib import Path

import structlog

from services.feed.recorder import RecordWriter
from services.feed.replay import Record
from services.feed.shioaji_quotes import QuoteBridge
from services.feed.shioaji_source import shioaji_login
from services.runtime.clock import SystemClock
from services.runtime.config.stack import StackConfig
from services.runtime.loop import ServiceLoop


def stop_signals() -> tuple[int, ...]:
    """Ctrl-C, SIGTERM and a closed terminal (SIGHUP) end a recording, unless SIGHUP is ignored: started
    under nohup, the recorder is meant to outlive its terminal."""
    hang_up = () if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN else (signal.SIGHUP,)
    return (signal.SIGINT, signal.SIGTERM, *hang_up)


class _Recording:
    """Writes records until it has `quotes` of them (None: no bound), then stops the loop."""

    def __init__(self, loop: ServiceLoop, quotes: int | None) -> None:
        self.loop = loop
        self.quotes = quotes
        self.writer: RecordWriter | None = None

    def on_record(self, record: Record) -> None:
        writer = self.writer
        if writer is None or (self.quotes is not None and writer.records >= self.quotes):
            return  # not started yet, or the rest of the batch the loop drained when told to stop
        writer.write_record(record)
        if self.quotes is not None and writer.records >= self.quotes:
            self.loop.stop()


def record_quotes(stack: StackConfig, path: Path, *, fake: bool, quotes: int | None,
                  duration_s: float | None) -> int:
    """Record feed.symbols' quotes into `path` until a bound or a signal; returns how many were written."""
    session = shioaji_login(stack, fake=fake)
    loop = ServiceLoop(SystemClock())
    recording = _Recording(loop, quotes)
    try:
        bridge = QuoteBridge(session.api, stack.feed.symbols, lambda _event: None, structlog.get_logger("record"),
                             on_record=recording.on_record)
        try:
            loop.add_reader(bridge.handover.socket, bridge.handover.on_wake)
            if duration_s is not None:
                loop.call_later(round(duration_s * 1e9), loop.stop)
            loop.install_signal_handlers(stop_signals())
            with RecordWriter(path) as writer:
                recording.writer = writer
                bridge.start()
                loop.run()
            return writer.records
        finally:
            bridge.close()
    finally:
        loop.close()  # the signals' own handlers back before the logout, which may hang on a dead session
        session.close()
