"""services.risk.engine: the validator chain, the gates before it, and what an approved command carries."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from contracts.enums import ExecType, IntentAction, OrderStatus, PriceType, Reason, Side, StormGuardLevel, TimeInForce
from contracts.messages import ExecutionReport, MarketEvent, OrderCommand, OrderIntent, RiskDecision, StormGuardState
from contracts.prices import to_e4
from services.risk.batch import BATCH_CROSSOVER
from services.risk.engine import RiskEngine
from services.runtime.clock import FakeClock
from services.runtime.config.instruments import InstrumentEntry, load_instruments
from services.runtime.config.strategy_limits import StrategyLimitsConfig

INSTRUMENTS_FILE = Path(__file__).resolve().parents[3] / "config" / "instruments.yaml"
INSTRUMENTS = load_instruments(INSTRUMENTS_FILE)
START_NS = 1_000_000_000
TTL_NS = 500_000_000


BAND_PCT = 20  # wide, so tests of other checks can use prices far from the book


def limits(**overrides: Any) -> StrategyLimitsConfig:
    entry: dict[str, Any] = {
        "id": "mm1",
        "class": "services.strategy.strategies.quoter:Quoter",
        "symbols": ["2330", "2317"],
        "limits": {"max_order_qty": 5, "max_order_notional_twd": 10_000_000},
    }
    entry.update(overrides)
    off = {"id": "off1", "class": "services.strategy.strategies.quoter:Quoter", "symbols": ["2330"],
           "enabled": False}
    return StrategyLimitsConfig.model_validate({"strategies": [entry, off], "book": {"band_pct": BAND_PCT}})


def book(symbol: str, bid: str, ask: str) -> MarketEvent:
    return MarketEvent(symbol=symbol, seq=1, exch_ts_ns=0, ingest_ts_ns=0, bid_prices_e4=[to_e4(bid)],
                       bid_qtys=[10], ask_prices_e4=[to_e4(ask)], ask_qtys=[10])


def with_books(engine: RiskEngine) -> RiskEngine:
    engine.on_market(book("2330", "995", "1000"))
    engine.on_market(book("2317", "49.95", "50"))
    return engine


def make_engine(**overrides: Any) -> tuple[RiskEngine, FakeClock]:
    clock = FakeClock(mono_ns=START_NS)
    return with_books(RiskEngine(clock, limits(**overrides), INSTRUMENTS)), clock


_ids = itertools.count(1)


def intent(
    action: IntentAction = IntentAction.NEW,
    *,
    price: str = "1000",
    qty: int = 1,
    symbol: str = "2330",
    strategy_id: str = "mm1",
    deadline_ns: int = START_NS + TTL_NS,
) -> OrderIntent:
    intent_id = f"{strategy_id}.e1.{next(_ids)}"
    return OrderIntent(
        intent_id=intent_id, strategy_id=strategy_id, seq=7, action=action,
        client_order_id=intent_id if action is IntentAction.NEW else f"{strategy_id}.e1.3",
        symbol=symbol, side=Side.SELL, qty=qty, price_e4=to_e4(price),
        price_type=PriceType.LMT, tif=TimeInForce.ROD, md_seq=42, created_ts_ns=1,
        ingest_ts_ns=START_NS - 250_000, deadline_ns=deadline_ns,
    )


def rejected(outcome: OrderCommand | RiskDecision) -> Reason | None:
    assert isinstance(outcome, RiskDecision), f"expected a reject, got {outcome!r}"
    assert outcome.approved is False
    return outcome.reason


def sg(global_level: StormGuardLevel = StormGuardLevel.NORMAL, *, hold_fire: bool = False,
       **strategy_levels: StormGuardLevel) -> StormGuardState:
    return StormGuardState(seq=1, global_level=global_level, strategy_levels=strategy_levels,
                           hold_fire=hold_fire, ts_ns=0)


def test_config_instruments_load() -> None:
    assert {"2330", "2317", "TXFL6"} <= set(INSTRUMENTS)
    assert INSTRUMENTS["2330"].unit == 1000


def test_approved_command_carries_the_intent_through() -> None:
    engine, clock = make_engine()
    clock.advance(123_456)
    source = intent(price="1005", qty=2)
    outcome = engine.evaluate(source)
    assert isinstance(outcome, OrderCommand)
    assert outcome.intent_id == source.intent_id
    assert outcome.client_order_id == source.client_order_id
    assert (outcome.symbol, outcome.side, outcome.qty, outcome.price_e4) == ("2330", Side.SELL, 2, to_e4("1005"))
    assert outcome.ingest_ts_ns == source.ingest_ts_ns
    assert outcome.deadline_ns == source.deadline_ns
    assert outcome.approved_mono_ns == START_NS + 123_456
    assert outcome.stormguard_state is StormGuardLevel.NORMAL


def test_amend_is_checked_like_a_new() -> None:
    engine, _ = make_engine()
    assert isinstance(engine.evaluate(intent(IntentAction.AMEND, price="1005")), OrderCommand)
    assert rejected(engine.evaluate(intent(IntentAction.AMEND, price="1001"))) is Reason.OFF_TICK


def test_unknown_strategy_is_disabled() -> None:
    engine, _ = make_engine()
    assert rejected(engine.evaluate(intent(strategy_id="ghost"))) is Reason.STRATEGY_DISABLED


def test_strategy_disabled_in_config_is_rejected() -> None:
    engine, _ = make_engine()
    assert rejected(engine.evaluate(intent(strategy_id="off1"))) is Reason.STRATEGY_DISABLED


def test_unknown_symbol_is_unknown_instrument() -> None:
    engine, _ = make_engine()
    outcome = engine.evaluate(intent(symbol="9999"))
    assert rejected(outcome) is Reason.UNKNOWN_INSTRUMENT


@pytest.mark.parametrize(("price", "reason"), [("49.95", None), ("50", None), ("50.05", Reason.OFF_TICK),
                                               ("50.1", None)])
def test_off_tick_either_side_of_the_50_boundary(price: str, reason: Reason | None) -> None:
    # 2317 references 200: limits 180..220, so use a synthetic 50 TWD stock to sit on the boundary.
    instruments = dict(INSTRUMENTS)
    instruments["2317"] = InstrumentEntry(symbol="2317", reference=Decimal("50")).to_ref()
    engine = with_books(RiskEngine(FakeClock(mono_ns=START_NS), limits(), instruments))
    outcome = engine.evaluate(intent(symbol="2317", price=price))
    if reason is None:
        assert isinstance(outcome, OrderCommand)
    else:
        assert rejected(outcome) is reason


@pytest.mark.parametrize(("price", "reason"), [("999", None), ("999.5", Reason.OFF_TICK), ("1000", None),
                                               ("1001", Reason.OFF_TICK), ("1005", None)])
def test_off_tick_either_side_of_the_1000_boundary(price: str, reason: Reason | None) -> None:
    engine, _ = make_engine()
    outcome = engine.evaluate(intent(price=price))
    if reason is None:
        assert isinstance(outcome, OrderCommand)
    else:
        assert rejected(outcome) is reason


def test_price_outside_daily_limits() -> None:
    engine, _ = make_engine()
    assert isinstance(engine.evaluate(intent(price="1100")), OrderCommand)
    assert rejected(engine.evaluate(intent(price="1105"))) is Reason.PRICE_BAND
    assert rejected(engine.evaluate(intent(price="895"))) is Reason.PRICE_BAND


def test_size_limit_comes_from_config() -> None:
    engine, _ = make_engine()
    assert isinstance(engine.evaluate(intent(qty=5)), OrderCommand)
    assert rejected(engine.evaluate(intent(qty=6))) is Reason.SIZE_LIMIT
    looser, _ = make_engine(limits={"max_order_qty": 8, "max_order_notional_twd": 100_000_000})
    assert isinstance(looser.evaluate(intent(qty=6)), OrderCommand)


def test_notional_limit_comes_from_config_at_1000_shares_per_lot() -> None:
    # 3 lots × 1000 shares × 1000 TWD = 3 M TWD
    engine, _ = make_engine(limits={"max_order_qty": 10, "max_order_notional_twd": 3_000_000})
    assert isinstance(engine.evaluate(intent(qty=3, price="1000")), OrderCommand)
    assert rejected(engine.evaluate(intent(qty=3, price="1005"))) is Reason.NOTIONAL_LIMIT
    assert rejected(engine.evaluate(intent(qty=4, price="1000"))) is Reason.NOTIONAL_LIMIT


def test_stale_intent_rejected_after_the_deadline_passes() -> None:
    engine, clock = make_engine()
    clock.advance(TTL_NS)
    assert isinstance(engine.evaluate(intent()), OrderCommand)
    clock.advance(1)
    assert rejected(engine.evaluate(intent())) is Reason.STALE_INTENT


def test_the_same_intent_id_twice_is_one_order() -> None:
    engine, _ = make_engine()
    source = intent()
    assert isinstance(engine.evaluate(source), OrderCommand)
    assert rejected(engine.evaluate(source)) is Reason.DUPLICATE_INTENT


def test_a_copy_after_the_deadline_is_refused_as_stale_once_the_duplicate_memory_forgot_it() -> None:
    engine, clock = make_engine()
    source = intent()
    assert isinstance(engine.evaluate(source), OrderCommand)
    clock.advance(TTL_NS + 1)
    assert rejected(engine.evaluate(intent())) is Reason.STALE_INTENT  # its check forgets the expired ids
    assert len(engine.duplicates) == 1
    assert rejected(engine.evaluate(source)) is Reason.STALE_INTENT


def test_chain_order_staleness_before_price_before_size() -> None:
    engine, clock = make_engine()
    clock.advance(TTL_NS + 1)
    # stale, off-tick and over size: the first validator (staleness) decides
    assert rejected(engine.evaluate(intent(price="1001", qty=99, deadline_ns=START_NS))) is Reason.STALE_INTENT
    fresh = START_NS + 2 * TTL_NS
    # off-tick and over size: price band comes before size
    assert rejected(engine.evaluate(intent(price="1001", qty=99, deadline_ns=fresh))) is Reason.OFF_TICK
    assert rejected(engine.evaluate(intent(qty=99, deadline_ns=fresh))) is Reason.SIZE_LIMIT


def test_staleness_then_the_gate_then_the_market_checks() -> None:
    engine, clock = make_engine()
    clock.advance(TTL_NS + 1)
    fresh = START_NS + 2 * TTL_NS
    assert rejected(engine.evaluate(intent(deadline_ns=START_NS, strategy_id="ghost"))) is Reason.STALE_INTENT
    assert rejected(engine.evaluate(intent(price="1001", deadline_ns=fresh, strategy_id="ghost"))) \
        is Reason.STRATEGY_DISABLED
    engine.on_stormguard(sg(StormGuardLevel.HALT))
    assert rejected(engine.evaluate(intent(price="1001", deadline_ns=fresh))) is Reason.STORMGUARD_HALT


@pytest.mark.parametrize("action", [IntentAction.NEW, IntentAction.AMEND])
def test_global_halt_rejects_new_and_amend(action: IntentAction) -> None:
    engine, _ = make_engine()
    engine.on_stormguard(sg(StormGuardLevel.HALT))
    outcome = engine.evaluate(intent(action))
    assert rejected(outcome) is Reason.STORMGUARD_HALT
    assert isinstance(outcome, RiskDecision)
    assert outcome.stormguard_state is StormGuardLevel.HALT
    assert outcome.action is action


def test_strategy_halt_rejects_only_that_strategy() -> None:
    engine, _ = make_engine()
    engine.on_stormguard(sg(mm1=StormGuardLevel.HALT, other=StormGuardLevel.NORMAL))
    assert rejected(engine.evaluate(intent())) is Reason.STORMGUARD_HALT
    assert engine.level_for("other") is StormGuardLevel.NORMAL


def test_stricter_of_global_and_strategy_level_applies() -> None:
    engine, _ = make_engine()
    engine.on_stormguard(sg(StormGuardLevel.WARM, mm1=StormGuardLevel.STORM))
    assert engine.level_for("mm1") is StormGuardLevel.STORM
    engine.on_stormguard(sg(StormGuardLevel.HALT, mm1=StormGuardLevel.WARM))
    assert engine.level_for("mm1") is StormGuardLevel.HALT


def test_warm_state_is_stamped_on_the_approved_command() -> None:
    engine, _ = make_engine()
    engine.on_stormguard(sg(StormGuardLevel.WARM))
    outcome = engine.evaluate(intent())
    assert isinstance(outcome, OrderCommand)
    assert outcome.stormguard_state is StormGuardLevel.WARM


def test_hold_fire_rejects_new_and_is_released_by_the_next_state() -> None:
    engine, _ = make_engine()
    engine.on_stormguard(sg(hold_fire=True))
    assert rejected(engine.evaluate(intent())) is Reason.HOLD_FIRE
    engine.on_stormguard(sg(hold_fire=False))
    assert isinstance(engine.evaluate(intent()), OrderCommand)


def test_halt_wins_over_hold_fire() -> None:
    engine, _ = make_engine()
    engine.on_stormguard(sg(StormGuardLevel.HALT, hold_fire=True))
    assert rejected(engine.evaluate(intent())) is Reason.STORMGUARD_HALT


def test_cancel_always_passes() -> None:
    engine, clock = make_engine()
    engine.on_stormguard(sg(StormGuardLevel.HALT, hold_fire=True))
    clock.advance(10 * TTL_NS)
    # past its deadline, off-tick, over size, unknown strategy and symbol, in HALT with hold fire
    cancel = intent(IntentAction.CANCEL, price="1001", qty=99, symbol="9999", strategy_id="ghost",
                    deadline_ns=START_NS)
    outcome = engine.evaluate(cancel)
    assert isinstance(outcome, OrderCommand)
    assert outcome.action is IntentAction.CANCEL
    assert outcome.client_order_id == cancel.client_order_id
    assert outcome.stormguard_state is StormGuardLevel.HALT
    assert outcome.approved_mono_ns == START_NS + 10 * TTL_NS


def test_reject_names_the_intent_and_its_order() -> None:
    engine, _ = make_engine()
    source = intent(qty=6)
    outcome = engine.evaluate(source)
    assert isinstance(outcome, RiskDecision)
    assert (outcome.intent_id, outcome.strategy_id, outcome.client_order_id, outcome.action) == (
        source.intent_id, "mm1", source.client_order_id, IntentAction.NEW)
    assert outcome.detail
    assert outcome.ts_ns == engine.clock.wall_ns()


def test_refused_downstream_turns_a_command_into_a_reject() -> None:
    engine, _ = make_engine()
    command = engine.evaluate(intent())
    assert isinstance(command, OrderCommand)
    assert engine.positions.outstanding("mm1", "2330", Side.SELL) == 1
    decision = engine.refused_downstream(command, Reason.QUEUE_BACKPRESSURE, "adapter busy")
    assert engine.positions.outstanding("mm1", "2330", Side.SELL) == 0, "a NEW never sent is not outstanding"
    assert decision.approved is False
    assert decision.reason is Reason.QUEUE_BACKPRESSURE
    assert (decision.intent_id, decision.client_order_id) == (command.intent_id, command.client_order_id)


def test_a_backlog_checked_as_a_batch_decides_exactly_as_one_by_one() -> None:
    prices = ["1000", "1001", "1005", "1200", "990", "1100", "999.5", "1050"]
    backlog = [intent(price=prices[k % len(prices)], qty=1 + k % 7) for k in range(BATCH_CROSSOVER + 9)]
    backlog.append(backlog[3])
    one_by_one, _ = make_engine()
    batched, _ = make_engine()
    expected = [one_by_one.evaluate(i) for i in backlog]
    got = batched.evaluate_batch(backlog)
    assert got == expected
    assert {type(o) for o in got} == {OrderCommand, RiskDecision}
    assert {o.reason for o in got if isinstance(o, RiskDecision)} >= {
        Reason.OFF_TICK, Reason.PRICE_BAND, Reason.SIZE_LIMIT, Reason.DUPLICATE_INTENT}


def test_replacing_limits_takes_effect_at_once_and_keeps_positions() -> None:
    engine, _ = make_engine()
    assert isinstance(engine.evaluate(intent(qty=5)), OrderCommand)
    outstanding_before = engine.positions.rows()
    engine.replace_limits(limits(limits={"max_order_qty": 2, "max_order_notional_twd": 10_000_000}))
    assert rejected(engine.evaluate(intent(qty=3))) is Reason.SIZE_LIMIT
    assert isinstance(engine.evaluate(intent(qty=2)), OrderCommand)
    assert engine.positions.rows()[0].outstanding_sell == outstanding_before[0].outstanding_sell + 2


def test_replacing_limits_moves_every_cap_the_size_check_holds_per_strategy() -> None:
    """The size check reads a strategy's four caps from one record built with the chain: a reload rebuilds it."""
    engine, _ = make_engine()
    assert isinstance(engine.evaluate(intent(qty=3)), OrderCommand)  # 3 sold short, 3,000,000 TWD gross
    engine.replace_limits(limits(limits={"max_order_qty": 5, "max_order_notional_twd": 10_000_000,
                                         "max_position_qty": 4}))
    assert rejected(engine.evaluate(intent(qty=2))) is Reason.POSITION_LIMIT
    engine.replace_limits(limits(limits={"max_order_qty": 5, "max_order_notional_twd": 10_000_000,
                                         "max_gross_notional_twd": 4_000_000}))
    assert rejected(engine.evaluate(intent(qty=2))) is Reason.NOTIONAL_LIMIT
    assert isinstance(engine.evaluate(intent(qty=1)), OrderCommand)
    engine.replace_limits(limits(limits={"max_order_qty": 5, "max_order_notional_twd": 1_000_000}))
    assert rejected(engine.evaluate(intent(qty=2))) is Reason.NOTIONAL_LIMIT


@pytest.mark.parametrize("level", list(StormGuardLevel))
def test_cancels_pass_in_every_state(level: StormGuardLevel) -> None:
    engine, _ = make_engine()
    engine.on_stormguard(sg(level, mm1=level))
    outcome = engine.evaluate(intent(IntentAction.CANCEL))
    assert isinstance(outcome, OrderCommand)
    assert outcome.stormguard_state is level


def test_own_escalation_applies_at_once_and_only_control_loosens() -> None:
    engine, _ = make_engine(capital_twd=1_000_000)
    engine.on_execution(ExecutionReport(
        seq=1, client_order_id="f1", intent_id="f1", strategy_id="mm1", symbol="2330", side=Side.BUY,
        exec_type=ExecType.FILL, status=OrderStatus.FILLED, price_e4=to_e4("1000"), qty=1, cum_qty=1,
        leaves_qty=0, last_price_e4=to_e4("1000"), last_qty=1, ts_ns=0,
    ))
    engine.on_market(book("2330", "970", "975"))
    transitions = engine.mark_to_market()
    assert [(t.scope, t.to_level) for t in transitions] == [("mm1", StormGuardLevel.HALT)]
    assert engine.level_for("mm1") is StormGuardLevel.HALT, "risk's own escalation, before control says anything"
    assert rejected(engine.evaluate(intent())) is Reason.STORMGUARD_HALT
    engine.on_stormguard(sg(StormGuardLevel.NORMAL))
    assert engine.level_for("mm1") is StormGuardLevel.HALT, "a stale NORMAL from control does not loosen"
    assert [t.to_level for t in engine.release("mm1")] == [StormGuardLevel.STORM]
    engine.on_stormguard(sg(StormGuardLevel.NORMAL, mm1=StormGuardLevel.HALT))
    assert engine.level_for("mm1") is StormGuardLevel.HALT, "until control broadcasts the release, HALT holds"
    engine.on_stormguard(sg(StormGuardLevel.NORMAL, mm1=StormGuardLevel.STORM))
    assert engine.level_for("mm1") is StormGuardLevel.STORM


def test_a_new_reusing_a_working_order_id_is_refused_and_leaves_the_order_counted() -> None:
    engine, _ = make_engine()
    first = intent(qty=2)
    assert isinstance(engine.evaluate(first), OrderCommand)
    again = msgspec.structs.replace(intent(qty=4), client_order_id=first.client_order_id)
    assert rejected(engine.evaluate(again)) is Reason.DUPLICATE_INTENT
    assert engine.positions.outstanding("mm1", "2330", Side.SELL) == 2


def test_an_operator_disable_refuses_new_orders_passes_cancels_and_outlives_a_reload() -> None:
    engine, _ = make_engine()
    engine.set_enabled("mm1", False)
    assert rejected(engine.evaluate(intent())) is Reason.STRATEGY_DISABLED
    assert isinstance(engine.evaluate(intent(IntentAction.CANCEL)), OrderCommand)
    engine.replace_limits(limits())
    assert rejected(engine.evaluate(intent())) is Reason.STRATEGY_DISABLED
    engine.set_enabled("mm1", True)
    assert isinstance(engine.evaluate(intent()), OrderCommand)
    engine.set_enabled("ghost", True)
    assert rejected(engine.evaluate(intent(strategy_id="ghost"))) is Reason.STRATEGY_DISABLED
