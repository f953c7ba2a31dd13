"""The regulator's state in risk: a suspended contract is refused, a disposition stock's caps on one
order's lots and on the day's are enforced with their own reasons, and so is its match interval (a quote
side changes once an interval), an attention flag is warned about once a day; end to end from the fake
Shioaji's contract data through the quote bridge's reference data."""

from __future__ import annotations

import itertools
from decimal import Decimal

import msgspec
import structlog

from contracts.enums import ExecType, IntentAction, OrderStatus, Reason, Side
from contracts.market_rules import taipei_date
from contracts.messages import ExecutionReport, InstrumentRef, OrderCommand, OrderIntent
from contracts.prices import to_e4
from services.feed.shioaji_quotes import QuoteBridge
from services.risk.engine import RiskEngine
from services.risk.positions import PositionBook
from services.risk.reference_data import RefOutcome
from services.risk.validators.attention import AttentionWatch
from services.risk.validators.disposition import DispositionValidator
from services.runtime.clock import FakeClock
from services.runtime.config.instruments import InstrumentEntry
from services.runtime.config.shioaji import FakeShioajiConfig
from services.shioaji.fake_api import FakeShioaji
from services.shioaji.fake_exchange import listing_of
from services.shioaji.fake_server import FakeSinopac
from tests.unit.risk.test_engine import INSTRUMENTS, START_NS, TTL_NS, intent, limits, rejected, with_books

NS_PER_S = 1_000_000_000
# FakeClock's wall time, 2025-10-09 16:53:20 in Taipei: midnight there is 7 h 6 min 40 s later.
TO_MIDNIGHT_NS = 25_600 * NS_PER_S


def with_state(symbol: str, **state: object) -> dict[str, InstrumentRef]:
    instruments = dict(INSTRUMENTS)
    instruments[symbol] = msgspec.structs.replace(INSTRUMENTS[symbol], **state)
    return instruments


def engine_with(instruments: dict[str, InstrumentRef]) -> tuple[RiskEngine, FakeClock]:
    clock = FakeClock(mono_ns=START_NS)
    return with_books(RiskEngine(clock, limits(), instruments)), clock


def test_a_suspended_contract_takes_no_new_order_nor_amend_but_a_cancel() -> None:
    engine, _ = engine_with(with_state("2330", trading_suspended=True))
    decision = engine.evaluate(intent())
    assert rejected(decision) is Reason.TRADING_SUSPENDED
    assert "2330" in decision.detail and "suspended" in decision.detail  # type: ignore[union-attr]
    assert rejected(engine.evaluate(intent(IntentAction.AMEND, price="995"))) is Reason.TRADING_SUSPENDED
    assert isinstance(engine.evaluate(intent(IntentAction.CANCEL)), OrderCommand)
    assert rejected(engine.evaluate(intent(symbol="2317", price="50"))) is Reason.PRICE_BAND, \
        "2317 is not suspended: it reaches the price checks (50 is outside its file limits)"


def test_a_disposition_stocks_cap_on_one_orders_lots() -> None:
    engine, _ = engine_with(with_state("2330", disposition_level=1, disposition_max_lots_single_order=2))
    assert isinstance(engine.evaluate(intent(qty=2)), OrderCommand)
    decision = engine.evaluate(intent(qty=3))
    assert rejected(decision) is Reason.DISPOSITION_ORDER_LOTS
    assert "at most 2 lots an order, not 3" in decision.detail  # type: ignore[union-attr]


def test_a_disposition_stocks_cap_on_the_days_lots_counts_what_was_approved() -> None:
    engine, clock = engine_with(with_state("2330", disposition_level=2, disposition_max_lots_total_orders=5))
    assert isinstance(engine.evaluate(intent(qty=3)), OrderCommand)
    assert rejected(engine.evaluate(intent(qty=1, price="2000"))) is Reason.PRICE_BAND, "refused: not counted"
    assert isinstance(engine.evaluate(intent(qty=2)), OrderCommand)
    decision = engine.evaluate(intent(qty=1))
    assert rejected(decision) is Reason.DISPOSITION_TOTAL_LOTS
    assert "at most 5 lots a day, 5 entered, 1 more asked" in decision.detail  # type: ignore[union-attr]
    assert isinstance(engine.evaluate(intent(IntentAction.CANCEL)), OrderCommand)
    clock.advance(TO_MIDNIGHT_NS - 1)
    assert rejected(engine.evaluate(intent(qty=1, deadline_ns=clock.mono_ns() + TTL_NS))) \
        is Reason.DISPOSITION_TOTAL_LOTS, "still the same day in Taipei"


def test_the_days_count_starts_again_at_midnight_in_taipei() -> None:
    instruments = with_state("2330", disposition_max_lots_total_orders=5)
    clock = FakeClock()
    validator = DispositionValidator(instruments, clock, PositionBook())
    command = OrderCommand(intent_id="a", strategy_id="mm1", action=IntentAction.NEW, client_order_id="a",
                           symbol="2330", side=intent().side, qty=5, price_e4=10_000_000, ingest_ts_ns=0,
                           approved_mono_ns=0, deadline_ns=0)
    validator.on_approved(command)
    assert validator.check(intent(qty=1)) is not None
    clock.advance(TO_MIDNIGHT_NS - 1)
    assert validator.check(intent(qty=1)) is not None
    clock.advance(1)
    assert validator.check(intent(qty=1)) is None
    assert validator.lots_today == {}


def test_no_cap_when_the_contract_gives_none() -> None:
    engine, _ = engine_with(with_state("2330", disposition_level=1))
    for _ in range(4):
        assert isinstance(engine.evaluate(intent(qty=5)), OrderCommand)


def test_an_attention_flag_is_warned_about_once_a_day() -> None:
    clock = FakeClock()
    watch = AttentionWatch(clock)
    flagged = msgspec.structs.replace(INSTRUMENTS["2330"], attention_flag=True)
    warning = watch.observe(flagged)
    assert warning is not None and "2330" in warning and "attention" in warning
    assert watch.observe(flagged) is None
    assert watch.observe(INSTRUMENTS["2317"]) is None, "not flagged"
    clock.advance(TO_MIDNIGHT_NS)
    assert watch.observe(flagged) is not None, "a new day, a new warning"


def test_from_the_fake_brokers_contract_data_to_risks_refusals() -> None:
    """The instruments file sets the regulator's state for the fake; the fake serves it as StockInfo; the
    quote bridge puts it on the day's reference data; risk refuses with the reasons of its own."""
    clock = FakeClock(mono_ns=START_NS)
    today = taipei_date(clock.wall_ns())
    entries = {
        "2330": InstrumentEntry(symbol="2330", reference=Decimal("1000"), disposition_level=1,
                                disposition_match_interval_min=5, disposition_max_lots_single_order=2,
                                disposition_max_lots_total_orders=3, disposition_prepay_ratio=1.0,
                                attention_flag=True, day_trade="no"),
        "2317": InstrumentEntry(symbol="2317", reference=Decimal("200"), trading_suspended=True),
    }
    server = FakeSinopac(FakeShioajiConfig(), {s: listing_of(e.to_ref(), today) for s, e in entries.items()})
    try:
        api = FakeShioaji.connected_to(server, simulation=True)
        api.login(api_key="key", secret_key="secret")
        bridge = QuoteBridge(api, list(entries), lambda event: None, structlog.get_logger())
        refs = bridge.instruments()
        bridge.close()
    finally:
        server.stop()
    assert refs["2330"].disposition_max_lots_total_orders == 3 and refs["2330"].attention_flag
    assert refs["2330"].day_trade == "no" and refs["2330"].disposition_prepay_ratio == 1.0
    assert refs["2317"].trading_suspended and refs["2317"].disposition_level == 0

    engine = with_books(RiskEngine(clock, limits(), dict(INSTRUMENTS)))
    assert isinstance(engine.evaluate(intent(qty=3)), OrderCommand), "the file's 2330 has no caps"
    for ref in refs.values():
        assert engine.on_reference(ref)[0] is RefOutcome.APPLIED
    assert rejected(engine.evaluate(intent(symbol="2317", price="50"))) is Reason.TRADING_SUSPENDED
    assert rejected(engine.evaluate(intent(qty=3))) is Reason.DISPOSITION_ORDER_LOTS
    decision = engine.evaluate(intent(qty=1))
    assert rejected(decision) is Reason.DISPOSITION_TOTAL_LOTS, "the 3 lots entered before the ref count"
    assert "3 entered" in decision.detail  # type: ignore[union-attr]


# A disposition stock's match interval: a quote side changes at most once an interval.

MINUTE_NS = 60 * NS_PER_S
_intent_ids = itertools.count(1)


def quote(clock: FakeClock, action: IntentAction, client_order_id: str, *, side: Side = Side.SELL,
          strategy_id: str = "mm1", price: str = "1000", qty: int = 1) -> OrderIntent:
    now_ns = clock.mono_ns()
    return OrderIntent(intent_id=f"{strategy_id}.dp.{next(_intent_ids)}", strategy_id=strategy_id, seq=1,
                       action=action, client_order_id=client_order_id, symbol="2330", side=side, qty=qty,
                       price_e4=to_e4(price), created_ts_ns=now_ns, ingest_ts_ns=now_ns, deadline_ns=now_ns + TTL_NS)


def finished(client_order_id: str, status: OrderStatus) -> ExecutionReport:
    filled = status is OrderStatus.FILLED
    return ExecutionReport(seq=1, client_order_id=client_order_id, intent_id=client_order_id, strategy_id="mm1",
                           symbol="2330", side=Side.SELL, exec_type=ExecType.FILL if filled else ExecType.CANCELLED,
                           status=status, price_e4=to_e4("1000"), qty=1, cum_qty=int(filled), leaves_qty=0,
                           last_price_e4=to_e4("1000") if filled else 0, last_qty=int(filled), ts_ns=0)


def matched_every(minutes: int) -> tuple[RiskEngine, FakeClock]:
    return engine_with(with_state("2330", disposition_level=1, disposition_match_interval_min=minutes))


def test_an_amend_within_the_match_interval_is_churn() -> None:
    engine, clock = matched_every(5)
    assert isinstance(engine.evaluate(quote(clock, IntentAction.NEW, "q1", qty=2)), OrderCommand)
    clock.advance(MINUTE_NS)
    decision = engine.evaluate(quote(clock, IntentAction.AMEND, "q1", price="995"))
    assert rejected(decision) is Reason.DISPOSITION_CHURN
    assert decision.detail == ("2330 is a disposition stock matched every 5 min: sell order q1 changed 60 s ago, "  # type: ignore[union-attr]
                               "next change in 240 s")
    assert rejected(engine.evaluate(quote(clock, IntentAction.AMEND, "q1", qty=1))) is Reason.DISPOSITION_CHURN, \
        "a quantity change too"
    assert isinstance(engine.evaluate(quote(clock, IntentAction.CANCEL, "q1")), OrderCommand), "cancels always pass"
    clock.advance(4 * MINUTE_NS - 1)
    assert rejected(engine.evaluate(quote(clock, IntentAction.AMEND, "q1", price="995"))) is Reason.DISPOSITION_CHURN
    clock.advance(1)
    with_books(engine)
    assert isinstance(engine.evaluate(quote(clock, IntentAction.AMEND, "q1", price="995")), OrderCommand), \
        "a whole interval later"
    clock.advance(MINUTE_NS)
    assert rejected(engine.evaluate(quote(clock, IntentAction.AMEND, "q1", price="1000"))) \
        is Reason.DISPOSITION_CHURN, "the amend starts the interval again"


def test_a_new_beside_a_working_order_changed_within_the_interval_is_churn() -> None:
    engine, clock = matched_every(5)
    assert isinstance(engine.evaluate(quote(clock, IntentAction.NEW, "q1")), OrderCommand)
    engine.evaluate(quote(clock, IntentAction.CANCEL, "q1"))
    decision = engine.evaluate(quote(clock, IntentAction.NEW, "q2", price="995"))
    assert rejected(decision) is Reason.DISPOSITION_CHURN, "cancel and replace while the cancel is in flight"
    assert isinstance(engine.evaluate(quote(clock, IntentAction.NEW, "b1", side=Side.BUY, price="995")),
                      OrderCommand), "the other side of a two-sided quote is no churn"
    engine.on_execution(finished("q1", OrderStatus.CANCELLED))
    assert isinstance(engine.evaluate(quote(clock, IntentAction.NEW, "q2", price="995")), OrderCommand), \
        "its cancel confirmed, q1 no longer works"
    engine.on_execution(finished("q2", OrderStatus.FILLED))
    assert isinstance(engine.evaluate(quote(clock, IntentAction.NEW, "q3")), OrderCommand), \
        "filled by the match: the strategy quotes for the next one"


def approve(validator: DispositionValidator, positions: PositionBook, clock: FakeClock, client_order_id: str,
            strategy_id: str = "mm1") -> None:
    command = OrderCommand(intent_id=client_order_id, strategy_id=strategy_id, action=IntentAction.NEW,
                           client_order_id=client_order_id, symbol="2330", side=Side.SELL, qty=1,
                           price_e4=to_e4("1000"), ingest_ts_ns=0, approved_mono_ns=clock.mono_ns(), deadline_ns=0)
    positions.on_approved(command)
    validator.on_approved(command)


def test_each_strategy_has_its_own_interval() -> None:
    clock = FakeClock()
    positions = PositionBook()
    validator = DispositionValidator(with_state("2330", disposition_match_interval_min=20), clock, positions)
    approve(validator, positions, clock, "q1")
    assert validator.check(quote(clock, IntentAction.NEW, "m1", strategy_id="mm2")) is None
    approve(validator, positions, clock, "m1", strategy_id="mm2")
    assert validator.check(quote(clock, IntentAction.NEW, "m2", strategy_id="mm2")) is not None
    assert validator.check(quote(clock, IntentAction.NEW, "q2")) is not None


def test_without_a_match_interval_nothing_is_remembered() -> None:
    engine, clock = engine_with(with_state("2330", disposition_level=1, disposition_max_lots_total_orders=100))
    for step in range(3):
        assert isinstance(engine.evaluate(quote(clock, IntentAction.NEW, f"q{step}")), OrderCommand)
        assert isinstance(engine.evaluate(quote(clock, IntentAction.AMEND, f"q{step}", price="995")), OrderCommand)
    assert engine.disposition.changes == {}


def test_the_validator_forgets_what_can_no_longer_refuse() -> None:
    clock = FakeClock()
    positions = PositionBook()
    validator = DispositionValidator(with_state("2330", disposition_match_interval_min=1), clock, positions)
    approve(validator, positions, clock, "q1")
    approve(validator, positions, clock, "q2")
    positions.on_execution(finished("q1", OrderStatus.CANCELLED))
    assert validator.check(quote(clock, IntentAction.AMEND, "q2")) is not None
    assert list(validator.changes[("mm1", "2330", Side.SELL)]) == ["q2"], "q1 no longer works"
    clock.advance(MINUTE_NS)
    assert validator.check(quote(clock, IntentAction.AMEND, "q2")) is None
    assert validator.changes == {}
