"""`orderpath record --source shioaji|fake-shioaji`: the broker's quotes written as they come, for replay.

Logs in as the feed does (order_adapter.yaml's shioaji: section; the fake serves the synthetic market
as its quotes), subscribes feed.symbols through the quote bridge, and writes each readable quote as
the record it is: a BidAsk line or a Tick line, trial matching and odd lots skipped as they are live.
The SDK's callbacks run on its thread and are handed to this process's loop, which alone writes.
Stops after `quotes` records, after `duration_s`, or on Ctrl-C / SIGTERM; the file is closed whole
in every case, so what was recorded replays.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from services.feed.recorder import RecordWriter
from services.feed.replay import Record
from services.feed.service import shioaji_login
from services.feed.shioaji_quotes import QuoteBridge
from services.runtime.clock import SystemClock
from services.runtime.config.stack import StackConfig
from services.runtime.loop import ServiceLoop


def record_quotes(stack: StackConfig, path: Path, *, fake: bool, quotes: int, duration_s: float | None) -> int:
    """Record up to `quotes` quotes of feed.symbols into `path`; returns how many were written."""
    session = shioaji_login(stack, fake=fake)
    loop = ServiceLoop(SystemClock())
    try:
        with RecordWriter(path) as writer:
            def on_record(record: Record) -> None:
                if writer.records >= quotes:
                    return  # the rest of the batch the loop was draining when it was told to stop
                writer.write_record(record)
                if writer.records >= quotes:
                    loop.stop()

            bridge = QuoteBridge(session.api, stack.feed.symbols, lambda _event: None,
                                 structlog.get_logger("record"), on_record=on_record)
            loop.add_reader(bridge.handover.socket, bridge.handover.on_wake)
            if duration_s is not None:
                loop.call_later(round(duration_s * 1e9), loop.stop)
            loop.install_signal_handlers()
            bridge.start()
            try:
                loop.run()
            finally:
                bridge.close()
        return writer.records
    finally:
        session.close()
        loop.close()
