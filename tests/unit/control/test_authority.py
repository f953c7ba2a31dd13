"""StormGuardAuthority: risk's proposals and the operator's overrides merged into one versioned state."""

from __future__ import annotations

from contracts.enums import StormGuardLevel
from contracts.messages import GLOBAL_SCOPE, StormGuardProposal
from services.control.authority import StormGuardAuthority
from services.runtime.clock import FakeClock

NORMAL, WARM, STORM, HALT = StormGuardLevel.NORMAL, StormGuardLevel.WARM, StormGuardLevel.STORM, StormGuardLevel.HALT


def proposal(scope: str, level: StormGuardLevel) -> StormGuardProposal:
    return StormGuardProposal(seq=1, scope=scope, level=level, reason="drawdown", ts_ns=0)


def authority() -> StormGuardAuthority:
    return StormGuardAuthority(FakeClock(), ["mm1", "mo1"], epoch=7)


def test_seq_goes_up_once_per_change_and_not_on_a_repeat() -> None:
    auth = authority()
    first = auth.current()
    assert first.seq == 1 and first.epoch == 7
    assert auth.apply_proposal(proposal("mm1", WARM)) is not None
    assert auth.current().seq == 2
    assert auth.apply_proposal(proposal("mm1", WARM)) is None
    assert auth.current().seq == 2, "the same level again is no change"
    assert auth.current() == auth.current(), "reading does not move the version"


def test_forced_level_is_a_floor_under_risks_level() -> None:
    auth = authority()
    transition = auth.force("mm1", STORM, "ops")
    assert transition is not None and (transition.from_level, transition.to_level) == (NORMAL, STORM)
    assert "operator force STORM by ops" in transition.reason
    state = auth.current()
    assert state.strategy_levels["mm1"] is STORM and state.forced_levels == {"mm1": STORM}
    auth.apply_proposal(proposal("mm1", HALT))
    assert auth.level("mm1") is HALT, "risk's stricter level counts"
    auth.apply_proposal(proposal("mm1", WARM))
    assert auth.level("mm1") is STORM, "the operator's floor still holds"


def test_release_lifts_the_floor_and_forcing_normal_too() -> None:
    auth = authority()
    auth.force(GLOBAL_SCOPE, HALT, "ops")
    seq = auth.seq
    transition = auth.release(GLOBAL_SCOPE, "ops")
    assert transition is not None and transition.to_level is NORMAL
    assert auth.seq == seq + 1 and auth.forced == {}
    assert auth.release(GLOBAL_SCOPE, "ops") is None, "nothing forced: nothing to lift"
    auth.force("mo1", WARM, "ops")
    auth.force("mo1", NORMAL, "ops")
    assert auth.forced == {} and auth.level("mo1") is NORMAL


def test_operator_switches_each_bump_the_version_once() -> None:
    auth = authority()
    assert auth.set_hold_fire(True) and not auth.set_hold_fire(True)
    assert auth.set_cancel_all(True) and not auth.set_cancel_all(True)
    assert auth.set_enabled("mm1", False) and not auth.set_enabled("mm1", False)
    state = auth.current()
    assert state.seq == 4
    assert state.hold_fire and state.cancel_all and state.strategy_enabled == {"mm1": False}


def test_resync_from_risks_snapshot_takes_a_missed_proposal() -> None:
    auth = authority()
    moved = auth.resync({GLOBAL_SCOPE: NORMAL, "mm1": HALT, "mo1": NORMAL})
    assert [(t.scope, t.to_level) for t in moved] == [("mm1", HALT)]
    assert "resync" in moved[0].reason
    seq = auth.seq
    assert auth.resync({"mm1": HALT}) == [] and auth.seq == seq


def test_saved_state_comes_back_with_its_numbering_moved_on() -> None:
    auth = authority()
    auth.force("mm1", HALT, "ops")
    auth.set_hold_fire(True)
    auth.set_enabled("mo1", False)
    auth.apply_proposal(proposal(GLOBAL_SCOPE, WARM))
    restarted = StormGuardAuthority(FakeClock(), ["mm1", "mo1"], epoch=99)
    restarted.restore(auth.saved())
    state = restarted.current()
    assert state.epoch == 7, "one numbering across the restart"
    assert state.seq == auth.seq + 1, "what the new run broadcasts first is news"
    assert state.strategy_levels["mm1"] is HALT and state.global_level is WARM
    assert state.hold_fire and state.strategy_enabled == {"mo1": False} and state.forced_levels == {"mm1": HALT}


def test_new_strategies_get_a_scope_on_reload() -> None:
    auth = authority()
    assert auth.add_scopes(["mm1", "arb1"])
    assert auth.level("arb1") is NORMAL and not auth.add_scopes(["arb1"])


def test_the_trading_day_risk_reported_moves_only_forward_and_outlives_a_restart() -> None:
    auth = authority()
    assert not auth.set_trading_day(""), "an older risk says no day"
    assert auth.set_trading_day("2026-12-07")
    assert not auth.set_trading_day("2026-12-07") and not auth.set_trading_day("2026-12-04")
    auth.force("mm1", HALT, "ops")
    restarted = StormGuardAuthority(FakeClock(), ["mm1", "mo1"], epoch=99)
    restarted.restore(auth.saved())
    assert restarted.trading_day == "2026-12-07"
    assert restarted.set_trading_day("2026-12-08")
    assert restarted.current().strategy_levels["mm1"] is HALT, "an operator's force is not the day's"
    older = auth.saved()
    del older["trading_day"]
    from_older = StormGuardAuthority(FakeClock(), ["mm1"])
    from_older.restore(older)  # a file written before the day was kept
    assert from_older.trading_day == "" and from_older.forced == {"mm1": HALT}
