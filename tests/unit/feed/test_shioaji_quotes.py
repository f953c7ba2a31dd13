"""services.feed.shioaji_quotes: the quote bridge over the fake SDK, whose server sends TickSTKv1 and
BidAskSTKv1 look-alikes from its own thread; the books it publishes are the ones the quotes carried."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import structlog

from contracts.enums import InstrumentKind
from contracts.messages import MarketEvent
from services.feed.replay import Record
from services.feed.shioaji_quotes import MAX_SUBSCRIPTIONS, QuoteBridge, instruments_yaml
from services.feed.synthetic import SyntheticMarket
from services.runtime.config.instruments import load_instruments
from services.runtime.config.loader import ConfigError
from services.runtime.config.shioaji import FakeShioajiConfig
from services.shioaji.fake_api import FakeShioaji
from services.shioaji.fake_objects import quotes_of
from services.shioaji.fake_server import FakeSinopac
from services.shioaji.sdk import sj
from tests.unit.shioaji.broker_harness import LISTED_ON, REPO, listings

SYMBOLS = ["2330", "2317"]
DEADLINE_S = 5.0


class RecordingMarket:
    """The synthetic market, keeping every book it hands the fake server."""

    def __init__(self) -> None:
        self.market = SyntheticMarket(load_instruments(REPO / "config" / "instruments.yaml"), SYMBOLS, seed=3)
        self.sent: list[MarketEvent] = []

    def next_event(self, seq: int, exch_ts_ns: int, ingest_ts_ns: int) -> MarketEvent:
        event = self.market.next_event(seq, exch_ts_ns, ingest_ts_ns)
        self.sent.append(event)
        return event


class Bridged:
    def __init__(self, *, quoting: bool = True) -> None:
        self.market = RecordingMarket()
        self.server = FakeSinopac(FakeShioajiConfig(), listings(), quotes=self.market if quoting else None,
                                  quote_rate_hz=2000)
        self.api = FakeShioaji.connected_to(self.server, simulation=True)
        self.api.login(api_key="key", secret_key="secret")
        self.published: list[MarketEvent] = []
        self.bridge = QuoteBridge(self.api, SYMBOLS, self.published.append, structlog.get_logger())

    def pump_until(self, count: int) -> None:
        end = time.monotonic() + DEADLINE_S
        while len(self.published) < count:
            remaining_ms = int((end - time.monotonic()) * 1000)
            assert remaining_ms > 0, f"only {len(self.published)} of {count} events within {DEADLINE_S}s"
            self.bridge.handover.pump(remaining_ms)


@pytest.fixture
def bridged() -> Iterator[Bridged]:
    fixture = Bridged()
    yield fixture
    fixture.server.stop()
    fixture.bridge.close()


def test_quotes_become_the_books_and_trades_they_carry(bridged: Bridged) -> None:
    before_ns = time.monotonic_ns()
    bridged.bridge.start()
    assert bridged.server.subscriptions == {(s, t) for s in SYMBOLS for t in ("tick", "bid_ask")}
    bridged.pump_until(40)
    expected: list[tuple[object, ...]] = []
    for event in bridged.market.sent:
        book = (event.symbol, event.exch_ts_ns // 1000, event.bid_prices_e4, event.bid_qtys, event.ask_prices_e4,
                event.ask_qtys)
        expected.append((*book, 0))
        if event.last_qty:
            expected.append((*book, event.last_qty, event.last_price_e4, event.total_volume))
    got = [(e.symbol, e.exch_ts_ns // 1000, e.bid_prices_e4, e.bid_qtys, e.ask_prices_e4, e.ask_qtys, e.last_qty,
            *((e.last_price_e4, e.total_volume) if e.last_qty else ())) for e in bridged.published]
    assert got == expected[:len(got)]
    assert all(before_ns < e.ingest_ts_ns <= time.monotonic_ns() for e in bridged.published)
    assert [e.ingest_ts_ns for e in bridged.published] == sorted(e.ingest_ts_ns for e in bridged.published)


def test_trial_matching_and_odd_lot_quotes_are_skipped() -> None:
    bridged = Bridged(quoting=False)
    try:
        bridged.bridge.start()
        tick = None
        while tick is None:  # a book that carries a trade
            bidask, tick = quotes_of(bridged.market.next_event(0, time.time_ns(), 0), sj.Exchange.TSE)
        callbacks = bridged.server.callbacks
        assert callbacks.bidask is not None and callbacks.tick is not None
        callbacks.bidask(bidask)
        callbacks.tick(dataclasses.replace(tick, simtrade=True))
        callbacks.tick(dataclasses.replace(tick, intraday_odd=True))
        end = time.monotonic() + DEADLINE_S
        while len(bridged.published) + bridged.bridge.skipped < 3:
            remaining_ms = int((end - time.monotonic()) * 1000)
            assert remaining_ms > 0, "the three quotes never reached the bridge"
            bridged.bridge.handover.pump(remaining_ms)
        assert bridged.bridge.skipped == 2
        assert [(e.symbol, e.last_qty) for e in bridged.published] == [(bidask.code, 0)]
    finally:
        bridged.server.stop()
        bridged.bridge.close()


def test_more_symbols_than_subscriptions_are_refused_before_subscribing() -> None:
    server = FakeSinopac(FakeShioajiConfig(), listings())
    try:
        api = FakeShioaji.connected_to(server, simulation=True)
        api.login(api_key="key", secret_key="secret")
        symbols = [f"{n:04d}" for n in range(MAX_SUBSCRIPTIONS // 2 + 1)]
        with pytest.raises(ConfigError, match=r"101 symbols need 202 Shioaji subscriptions.*at most 100 symbols"):
            QuoteBridge(api, symbols, lambda event: None, structlog.get_logger())
        with pytest.raises(ConfigError, match="no stock or future 9999"):
            QuoteBridge(api, ["2330", "9999"], lambda event: None, structlog.get_logger())
        assert server.subscriptions == set()
    finally:
        server.stop()


def test_reference_data_from_the_contracts_as_an_instruments_file(bridged: Bridged, tmp_path: Path) -> None:
    refs = bridged.bridge.instruments()
    shipped = load_instruments(REPO / "config" / "instruments.yaml")
    assert {ref.trading_day for ref in refs.values()} == {LISTED_ON}, "the day the contracts' update_date names"
    undated = {symbol: msgspec.structs.replace(ref, trading_day="") for symbol, ref in refs.items()}
    assert undated == {symbol: shipped[symbol] for symbol in SYMBOLS}
    path = tmp_path / "shioaji-instruments.yaml"
    path.write_text(instruments_yaml(refs, "from the test"), encoding="utf-8")
    assert load_instruments(path) == undated


def test_the_kind_comes_from_the_contracts_category(tmp_path: Path) -> None:
    """The fake lists 0050 as Shioaji does, category "00": the bridge's reference data says ETF, so risk
    checks its prices on the ETF ladder (200.65 is legal there, not on the stock ladder)."""
    server = FakeSinopac(FakeShioajiConfig(), listings(), quotes=None, quote_rate_hz=2000)
    try:
        api = FakeShioaji.connected_to(server, simulation=True)
        api.login(api_key="key", secret_key="secret")
        assert api.contracts.stocks.get("0050").category == "00"
        bridge = QuoteBridge(api, ["2330", "0050"], lambda event: None, structlog.get_logger())
        refs = bridge.instruments()
        assert refs["0050"].kind is InstrumentKind.ETF and refs["2330"].kind is InstrumentKind.STOCK
        path = tmp_path / "shioaji-instruments.yaml"
        path.write_text(instruments_yaml(refs, "from the test"), encoding="utf-8")
        assert load_instruments(path)["0050"].kind is InstrumentKind.ETF
        bridge.close()
    finally:
        server.stop()


def test_a_recording_keeps_trial_matches_flagged_and_skips_odd_lots() -> None:
    bridged = Bridged(quoting=False)
    recorded: list[Record] = []
    recorder = QuoteBridge(bridged.api, SYMBOLS, bridged.published.append, structlog.get_logger(),
                           on_record=recorded.append)
    try:
        recorder.start()
        tick = None
        while tick is None:
            bidask, tick = quotes_of(bridged.market.next_event(0, time.time_ns(), 0), sj.Exchange.TSE)
        callbacks = bridged.server.callbacks
        assert callbacks.bidask is not None and callbacks.tick is not None
        callbacks.bidask(dataclasses.replace(bidask, simtrade=True))
        callbacks.tick(dataclasses.replace(tick, simtrade=True))
        callbacks.tick(dataclasses.replace(tick, intraday_odd=True))
        callbacks.tick(tick)
        end = time.monotonic() + DEADLINE_S
        while len(recorded) + recorder.skipped < 4:
            remaining_ms = int((end - time.monotonic()) * 1000)
            assert remaining_ms > 0, "the four quotes never reached the bridge"
            recorder.handover.pump(remaining_ms)
        assert recorder.skipped == 1
        assert [(type(r).__name__, r.simtrade) for r in recorded] == [
            ("BidAskRecord", True), ("TickRecord", True), ("TickRecord", False)]
        assert bridged.published == []
    finally:
        bridged.server.stop()
        recorder.close()
        bridged.bridge.close()


def test_futures_quotes_and_reference_data_come_through_the_bridge(tmp_path: Path) -> None:
    """TXFL6 is found among Shioaji's futures; its TickFOPv1 / BidAskFOPv1 quotes (the fake sends them on the
    futures callbacks) become books like a stock's, and its reference data is a future's: 200 TWD a point
    (the contract's multiplier), a 1-point tick, the day's limits."""
    symbols = ["2330", "TXFL6"]
    market = SyntheticMarket(load_instruments(REPO / "config" / "instruments.yaml"), symbols, seed=3)
    sent: list[MarketEvent] = []

    class Recording:
        def next_event(self, seq: int, exch_ts_ns: int, ingest_ts_ns: int) -> MarketEvent:
            event = market.next_event(seq, exch_ts_ns, ingest_ts_ns)
            sent.append(event)
            return event

    server = FakeSinopac(FakeShioajiConfig(), listings(), quotes=Recording(), quote_rate_hz=2000)
    published: list[MarketEvent] = []
    try:
        api = FakeShioaji.connected_to(server, simulation=True)
        api.login(api_key="key", secret_key="secret")
        bridge = QuoteBridge(api, symbols, published.append, structlog.get_logger())
        refs = bridge.instruments()
        bridge.start()
        end = time.monotonic() + DEADLINE_S
        while sum(e.symbol == "TXFL6" for e in published) < 10:
            remaining_ms = int((end - time.monotonic()) * 1000)
            assert remaining_ms > 0, "no futures books within the deadline"
            bridge.handover.pump(remaining_ms)
        bridge.close()
    finally:
        server.stop()
    future_books = [(e.bid_prices_e4, e.ask_prices_e4, e.exch_ts_ns // 1000) for e in published if e.symbol == "TXFL6"]
    sent_books = [(e.bid_prices_e4, e.ask_prices_e4, e.exch_ts_ns // 1000) for e in sent if e.symbol == "TXFL6"]
    assert future_books[0] in sent_books and all(book in sent_books for book in future_books)
    txf = refs["TXFL6"]
    assert (txf.kind, txf.unit, txf.tick_e4, txf.trading_day) == (InstrumentKind.FUTURE, 200, 10_000, LISTED_ON)
    shipped = load_instruments(REPO / "config" / "instruments.yaml")["TXFL6"]
    assert msgspec.structs.replace(txf, trading_day="") == shipped
    path = tmp_path / "shioaji-instruments.yaml"
    path.write_text(instruments_yaml(refs, "from the test"), encoding="utf-8")
    assert load_instruments(path)["TXFL6"] == shipped
