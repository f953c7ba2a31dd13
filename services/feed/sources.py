"""Which source publishes md, chosen from stack.yaml's feed: section: the synthetic market, a recording, or
Shioaji's quote stream (the real one, or the fake server's)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from services.feed.md_publisher import MdPublisher
from services.feed.metrics import SHIOAJI_SOURCES, FeedMetrics
from services.feed.replay import RecordReader
from services.feed.replay_source import ReplaySource
from services.feed.shioaji_source import ShioajiSource, shioaji_login
from services.feed.synthetic import SyntheticMarket
from services.feed.synthetic_source import SyntheticSource
from services.runtime.config.instruments import load_instruments
from services.runtime.config.loader import ConfigError
from services.runtime.config.stack import StackConfig
from services.runtime.service import ServiceRuntime

SHIOAJI_INSTRUMENTS_FILE = "shioaji-instruments.yaml"

Source = SyntheticSource | ReplaySource | ShioajiSource
SourceFactory = Callable[[ServiceRuntime, MdPublisher, FeedMetrics], Source]


def choose_source(stack: StackConfig) -> tuple[SourceFactory, dict[str, Any]]:
    """What publishes md and what to log about it; every config problem surfaces here, before sockets."""
    feed = stack.feed
    if feed.source == "synthetic":
        try:
            market = SyntheticMarket(load_instruments(stack.instruments_file), feed.symbols, feed.seed)
        except ValueError as exc:
            raise ConfigError(f"feed: {exc}") from exc
        details = {"symbols": feed.symbols, "rate_hz": feed.rate_hz, "seed": feed.seed}
        return (lambda rt, md, _metrics: SyntheticSource(rt, md, market, feed.rate_hz)), details
    if feed.source in SHIOAJI_SOURCES:
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
