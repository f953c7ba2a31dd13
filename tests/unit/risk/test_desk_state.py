"""Risk's desk state across restarts and trading days: the engine saved and restored through the state file
(services/risk/state_file.py, state_keeper.py), replays that never raise a peak, and the day's rollover
with open positions, working orders and a latched HALT. Every clock is a FakeClock."""

from __future__ import annotations

import itertools
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture

from contracts.enums import ExecType, OrderStatus, Reason, Side, StormGuardLevel
from contracts.market_rules import TAIPEI
from contracts.messages import GLOBAL_SCOPE, AdapterUsage, ExecutionReport, OrderCommand, RiskDecision
from contracts.prices import to_e4
from services.risk.dump import risk_dump
from services.risk.engine import RiskEngine
from services.risk.state_file import RiskState, StateFileError, load_state, save_state
from services.risk.state_keeper import StateKeeper
from services.runtime.clock import FakeClock
from tests.unit.risk.test_engine import INSTRUMENTS, book, intent, limits, sg

NORMAL, WARM, STORM, HALT = StormGuardLevel.NORMAL, StormGuardLevel.WARM, StormGuardLevel.STORM, StormGuardLevel.HALT
SECOND = 1_000_000_000
CAPITAL = 1_000_000  # one lot of 2330 at 1000 is the whole capital: 1 TWD on the price is 0.1 % drawdown
DAY = "2025-10-09"  # FakeClock's wall time is 2025-10-09 16:53:20 Taipei
NEXT_DAY = "2025-10-10"
_seqs = itertools.count(1)


def taipei_ns(day: int, hour: int, minute: int = 0, second: int = 0) -> int:
    return int(datetime(2025, 10, day, hour, minute, second, tzinfo=TAIPEI).timestamp()) * SECOND


def new_engine(clock: FakeClock, **overrides: Any) -> RiskEngine:
    return RiskEngine(clock, limits(capital_twd=CAPITAL, **overrides), INSTRUMENTS)


def fill(side: Side, price: str, *, qty: int = 1, ts_ns: int | None = None, seq: int | None = None) -> ExecutionReport:
    order_id = f"mm1.f.{next(_seqs)}"
    return ExecutionReport(
        seq=seq if seq is not None else next(_seqs), client_order_id=order_id, intent_id=order_id, strategy_id="mm1",
        symbol="2330", side=side, exec_type=ExecType.FILL, status=OrderStatus.FILLED, price_e4=to_e4(price), qty=qty,
        cum_qty=qty, leaves_qty=0, last_price_e4=to_e4(price), last_qty=qty,
        ts_ns=ts_ns if ts_ns is not None else taipei_ns(9, 10),
    )


def mark(engine: RiskEngine, mid: str) -> list[tuple[str, StormGuardLevel, StormGuardLevel]]:
    """The book of 2330 at this mid (half a tick either side), revalued; the transitions."""
    half = to_e4("0.5")
    mid_e4 = to_e4(mid)
    engine.on_market(book("2330", str((mid_e4 - half) / 10_000), str((mid_e4 + half) / 10_000)))
    return [(t.scope, t.from_level, t.to_level) for t in engine.mark_to_market()]


def pnl(engine: RiskEngine, scope: str = "mm1") -> int:
    return engine.pnl.pnl_e4(scope, engine.mark_e4) if scope != GLOBAL_SCOPE else engine.pnl.total_pnl_e4(
        engine.mark_e4)


def view(engine: RiskEngine) -> dict[str, Any]:
    """What must be equal before and after a restart."""
    return {
        "positions": engine.positions.rows(),
        "working": engine.positions.working_orders(),
        "pnl": {scope: pnl(engine, scope) for scope in ("mm1", GLOBAL_SCOPE)},
        "peaks": {scope: engine.stormguard.peak_pnl_e4(scope) for scope in ("mm1", GLOBAL_SCOPE)},
        "drawdown": {scope: engine.stormguard.drawdown_pct(scope) for scope in ("mm1", GLOBAL_SCOPE)},
        "levels": engine.stormguard.levels(),
        "day": engine.trading_day,
    }


def trading_engine() -> tuple[RiskEngine, FakeClock]:
    """mm1 long 1 lot of 2330 bought at 1000, marked up to 1005 (the day's peak) then down to 998: WARM, one
    sell order working."""
    clock = FakeClock()
    engine = new_engine(clock)
    engine.on_execution(fill(Side.BUY, "1000", seq=1))
    assert mark(engine, "1005") == []
    assert mark(engine, "998") == [("mm1", NORMAL, WARM)]
    assert isinstance(engine.evaluate(intent(price="1000", deadline_ns=clock.mono_ns() + SECOND)), OrderCommand)
    return engine, clock


def restarted(state: RiskState, wall_ns: int) -> tuple[RiskEngine, FakeClock]:
    """A new risk process: its own monotonic clock, no books yet, the state taken back."""
    clock = FakeClock(mono_ns=7 * SECOND, wall_ns=wall_ns)
    engine = new_engine(clock)
    engine.restore(state)
    return engine, clock


def test_a_restored_engine_is_the_one_it_replaces(tmp_path: Path) -> None:
    engine, clock = trading_engine()
    before = view(engine)
    assert before["peaks"]["mm1"] > 0 and before["drawdown"]["mm1"] > 0 and before["working"]
    save_state(tmp_path / "risk-state.json", engine.saved(exec_seq=1))

    state = load_state(tmp_path / "risk-state.json")
    assert state is not None and state.exec_seq == 1 and state.trading_day == DAY
    again, _ = restarted(state, clock.wall_ns() + 2 * SECOND)
    assert view(again) == before, "no book yet: the saved marks value the positions"
    assert again.level_for("mm1") is WARM
    assert again.mark_to_market() == [], "same day, same marks: nothing moves"
    assert view(again) == before


def test_reports_after_the_state_are_replayed_without_raising_the_peak() -> None:
    engine, clock = trading_engine()
    state = engine.saved(exec_seq=1)
    peak = engine.stormguard.peak_pnl_e4("mm1")
    # Before the kill -9, the live risk saw a sell at 1010 (a profit) that the state does not cover.
    profit = fill(Side.SELL, "1010", seq=2)

    again, _ = restarted(state, clock.wall_ns() + 2 * SECOND)
    again.replaying = True
    again.on_execution(profit)
    assert pnl(again) > peak
    assert again.stormguard.peak_pnl_e4("mm1") == peak, "the state's peak is the floor of truth"
    assert again.stormguard.drawdown_pct("mm1") == 0
    loss = fill(Side.BUY, "1000", qty=1, seq=3)
    again.on_execution(loss)
    again.on_execution(fill(Side.SELL, "985", seq=4))
    assert again.level_for("mm1") is HALT, "a replayed loss escalates, measured from the state's peak"
    again.replaying = False
    again.on_execution(fill(Side.BUY, "985", seq=5))
    mark(again, "1050")
    assert again.stormguard.peak_pnl_e4("mm1") == pnl(again), "live marks raise the peak again"


def test_a_rollover_carries_positions_and_orders_and_starts_pnl_peaks_levels_and_rates_fresh() -> None:
    clock = FakeClock()
    engine = new_engine(clock, limits={"max_order_qty": 5, "max_order_notional_twd": 10_000_000,
                                       "max_orders_per_window": 2, "rate_window_ms": 86_400_000})
    engine.on_execution(fill(Side.BUY, "1000", seq=1))
    assert mark(engine, "1003") == []
    assert isinstance(engine.evaluate(intent(price="1000", deadline_ns=clock.mono_ns() + SECOND)), OrderCommand)
    assert isinstance(engine.evaluate(intent(price="1005", deadline_ns=clock.mono_ns() + SECOND)), OrderCommand)
    refused = engine.evaluate(intent(price="1005", deadline_ns=clock.mono_ns() + SECOND))
    assert isinstance(refused, RiskDecision) and refused.reason is Reason.ORDER_RATE, "a day-long window, full"
    assert ("mm1", NORMAL, HALT) in mark(engine, "985")
    positions, working = engine.positions.rows(), engine.positions.working_orders()
    assert len(working) == 2

    clock.advance(taipei_ns(10, 7, 59, 59) - clock.wall_ns())
    assert mark(engine, "985") == [] and engine.trading_day == DAY, "07:59:59: still yesterday's desk"
    assert engine.level_for("mm1") is HALT
    clock.advance(SECOND)
    assert mark(engine, "985") == [("mm1", HALT, NORMAL)]
    assert engine.trading_day == NEXT_DAY
    assert engine.positions.rows() == positions and engine.positions.working_orders() == working
    assert pnl(engine) == 0 and engine.stormguard.peak_pnl_e4("mm1") == 0, "the day starts at yesterday's mark"
    assert engine.pnl.realized_e4("mm1") == 0, "yesterday's costs are yesterday's"
    assert isinstance(engine.evaluate(intent(price="985", deadline_ns=clock.mono_ns() + SECOND)), OrderCommand), \
        "the rate window starts empty"
    # Today's drawdown counts today's moves: 5 TWD down from yesterday's close is 0.5 %.
    assert mark(engine, "980") == [("mm1", NORMAL, WARM)]


def test_an_operator_halt_outlives_the_rollover() -> None:
    clock = FakeClock()
    engine = new_engine(clock)
    engine.on_stormguard(sg(NORMAL, mm1=HALT))  # control's: an operator's force
    clock.advance(taipei_ns(10, 8) - clock.wall_ns())
    mark(engine, "1000")
    assert engine.trading_day == NEXT_DAY
    assert engine.level_for("mm1") is HALT, "control's level is not risk's to reset"


@pytest.mark.parametrize(("restart_at", "level"), [(taipei_ns(9, 17), HALT), (taipei_ns(10, 9), NORMAL)])
def test_a_restart_resumes_the_same_day_exactly_and_starts_a_new_day_normal(
        restart_at: int, level: StormGuardLevel) -> None:
    clock = FakeClock()
    engine = new_engine(clock)
    engine.on_execution(fill(Side.BUY, "1000", seq=1))
    assert ("mm1", NORMAL, HALT) in mark(engine, "980")
    state = engine.saved(exec_seq=1)

    again, _ = restarted(state, restart_at)
    again.replaying = True
    assert again.mark_to_market() == [] and again.level_for("mm1") is HALT, \
        "while replaying, the day does not roll: the reports after the state may be yesterday's"
    again.replaying = False
    again.mark_to_market()
    assert again.level_for("mm1") is level
    assert again.positions.rows() == engine.positions.rows()
    if level is NORMAL:
        assert pnl(again) == 0, "the new day starts at the saved mark, yesterday's last"
    else:
        assert view(again) == view(engine)


def test_a_replay_without_a_state_counts_each_day_on_its_own() -> None:
    clock = FakeClock(wall_ns=taipei_ns(10, 10))
    engine = new_engine(clock)
    engine.learn_day_from_history()
    engine.replaying = True
    engine.on_execution(fill(Side.BUY, "1000", ts_ns=taipei_ns(9, 9)))
    engine.on_execution(fill(Side.SELL, "985", ts_ns=taipei_ns(9, 10)))  # yesterday: a 15,000 TWD loss
    assert engine.trading_day == DAY and engine.pnl.realized_e4("mm1") < to_e4("-15000")
    today = fill(Side.BUY, "1000", ts_ns=taipei_ns(10, 9))
    engine.on_execution(today)
    assert engine.trading_day == NEXT_DAY
    assert engine.pnl.realized_e4("mm1") == -engine.pnl.fill_costs_e4(INSTRUMENTS["2330"], Side.BUY, 1,
                                                                          to_e4("1000"))
    assert engine.positions.position("mm1", "2330") == 1
    assert engine.level_for("mm1") is NORMAL, "yesterday's loss is no drawdown today"


# --- the keeper: the file, the replay's end -------------------------------------------------------------------


def quiet_log(capture: LogCapture) -> structlog.stdlib.BoundLogger:
    return structlog.wrap_logger(structlog.ReturnLogger(), processors=[capture],
                                 wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))


def usage(exec_seq: int) -> AdapterUsage:
    return AdapterUsage(seq=1, actions_in_window=0, window_ns=10 * SECOND, soft_cap=250, exec_seq=exec_seq, ts_ns=0)


def test_without_a_state_the_whole_journal_is_replayed_until_the_adapters_newest(tmp_path: Path) -> None:
    capture = LogCapture()
    engine = new_engine(FakeClock())
    keeper = StateKeeper(engine, tmp_path / "risk-state.json", quiet_log(capture))
    assert keeper.start() == 1
    assert engine.replaying and engine.trading_day == ""
    report = fill(Side.BUY, "1000", seq=1)
    engine.on_execution(report)
    keeper.on_report(report)
    keeper.on_usage(usage(2))
    assert engine.replaying, "report 2 is not applied yet"
    report = fill(Side.SELL, "1000", seq=2)
    engine.on_execution(report)
    keeper.on_report(report)
    keeper.on_usage(usage(2))
    assert not engine.replaying
    assert [entry["event"] for entry in capture.entries] == ["risk_state_missing", "risk_replay_done"]


def test_a_saved_state_is_restarted_from_and_replayed_after(tmp_path: Path) -> None:
    capture = LogCapture()
    engine, clock = trading_engine()
    keeper = StateKeeper(engine, tmp_path / "risk-state.json", quiet_log(capture))
    keeper.exec_seq = 1
    keeper.save()
    before = view(engine)

    again = new_engine(FakeClock(mono_ns=3 * SECOND, wall_ns=clock.wall_ns() + SECOND))
    next_keeper = StateKeeper(again, tmp_path / "risk-state.json", quiet_log(capture))
    assert next_keeper.start() == 2
    assert view(again) == before and again.replaying
    next_keeper.on_usage(usage(1))
    assert not again.replaying, "nothing after the state: the replay is over at the first AdapterUsage"
    restored = next(entry for entry in capture.entries if entry["event"] == "risk_state_restored")
    assert restored["exec_seq"] == 1 and restored["levels"] == {GLOBAL_SCOPE: NORMAL, "mm1": WARM, "off1": NORMAL}


@pytest.mark.parametrize("first", ["usage", "report"])
def test_a_journal_ending_before_the_state_wins_and_the_state_is_put_aside(tmp_path: Path, first: str) -> None:
    """`orderpath up` archived the last session's journal: the adapter starts a new one, whose first seq (an
    AdapterUsage's 0, or its first report) is below the state's; the journal, the desk's record, wins."""
    capture = LogCapture()
    engine, _ = trading_engine()
    keeper = StateKeeper(engine, tmp_path / "risk-state.json", quiet_log(capture))
    keeper.exec_seq = 40
    keeper.save()
    again = new_engine(FakeClock())
    next_keeper = StateKeeper(again, tmp_path / "risk-state.json", quiet_log(capture))
    assert next_keeper.start() == 41 and again.positions.position("mm1", "2330") == 1
    if first == "usage":
        transitions = next_keeper.on_usage(usage(0))
    else:
        report = fill(Side.SELL, "1000", seq=1)
        transitions = next_keeper.on_report(report)
        again.on_execution(report)
    assert [(t.scope, t.from_level, t.to_level) for t in transitions] == [("mm1", WARM, NORMAL)]
    assert again.positions.position("mm1", "2330") == (0 if first == "usage" else -1), "the journal's, not the state's"
    assert again.positions.working_orders() == {} and again.stormguard.peak_pnl_e4("mm1") == 0
    assert not (tmp_path / "risk-state.json").exists()
    assert len(list(tmp_path.glob("risk-state.json.discarded-*"))) == 1
    discarded = next(entry for entry in capture.entries if entry["event"] == "risk_state_discarded")
    assert discarded["log_level"] == "error" and discarded["positions"] == [["mm1", "2330", 1]]
    next_keeper.on_usage(usage(1 if first == "report" else 0))
    assert not again.replaying


def test_an_unreadable_state_is_kept_aside_and_the_journal_replayed(tmp_path: Path) -> None:
    capture = LogCapture()
    path = tmp_path / "risk-state.json"
    path.write_text('{"version": 1, "trading_day": ', encoding="utf-8")
    with pytest.raises(StateFileError, match=r"risk-state\.json"):
        load_state(path)
    keeper = StateKeeper(new_engine(FakeClock()), path, quiet_log(capture))
    assert keeper.start() == 1
    assert not path.exists() and len(list(tmp_path.glob("risk-state.json.unreadable-*"))) == 1
    assert capture.entries[0]["event"] == "risk_state_unreadable"


def test_the_risk_dump_shows_the_day_each_peak_and_the_replay() -> None:
    engine, clock = trading_engine()
    again, _ = restarted(engine.saved(exec_seq=1), clock.wall_ns())
    again.replaying = True
    answer = risk_dump(again, limits(capital_twd=CAPITAL), {}, "ops.1", clock)
    assert answer.trading_day == DAY and answer.replaying
    scopes = {row.scope: row for row in answer.scopes}
    assert scopes["mm1"].peak_pnl_e4 == engine.stormguard.peak_pnl_e4("mm1") > 0
    assert scopes["mm1"].pnl_e4 == pnl(engine), "valued at the saved marks: no book has come yet"
    assert scopes[GLOBAL_SCOPE].peak_pnl_e4 == engine.stormguard.peak_pnl_e4(GLOBAL_SCOPE)
