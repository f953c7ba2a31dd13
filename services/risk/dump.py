"""Risk's answer to `orderpath ctl risk dump`: positions and outstanding, PnL, StormGuard and limits per scope.

Built on risk's loop thread from the engine as it stands (books refreshed first, so PnL is at the newest
marks); risk sends it to control on its ops DEALER and control relays it to the operator who asked.
"""

from __future__ import annotations

from collections.abc import Mapping

from contracts.enums import StormGuardLevel, stricter
from contracts.messages import GLOBAL_SCOPE, RiskDump, ScopeRow
from services.risk.engine import RiskEngine
from services.runtime.clock import Clock
from services.runtime.config.strategy_limits import StrategyLimitsConfig

_NORMAL = StormGuardLevel.NORMAL


def risk_dump(engine: RiskEngine, limits: StrategyLimitsConfig, operator_enabled: Mapping[str, bool],
              request_id: str, clock: Clock) -> RiskDump:
    mark = engine.mark_e4
    own = engine.stormguard.levels()
    control = engine.control_levels
    scopes = [ScopeRow(
        scope=GLOBAL_SCOPE, level=stricter(own[GLOBAL_SCOPE], control.get(GLOBAL_SCOPE, _NORMAL)),
        own_level=own[GLOBAL_SCOPE], control_level=control.get(GLOBAL_SCOPE, _NORMAL),
        pnl_e4=engine.pnl.total_pnl_e4(mark), drawdown_pct=float(engine.stormguard.drawdown_pct(GLOBAL_SCOPE)),
        capital_twd=int(limits.global_limits.capital_twd),
        limits={name: str(value) for name, value in limits.global_limits.model_dump().items()},
        peak_pnl_e4=engine.stormguard.peak_pnl_e4(GLOBAL_SCOPE),
    )]
    for entry in limits.strategies:
        scopes.append(ScopeRow(
            scope=entry.id, level=engine.level_for(entry.id), own_level=own.get(entry.id, _NORMAL),
            control_level=control.get(entry.id, _NORMAL), pnl_e4=engine.pnl.pnl_e4(entry.id, mark),
            drawdown_pct=float(engine.stormguard.drawdown_pct(entry.id)) if entry.id in own else 0.0,
            capital_twd=int(entry.capital_twd), enabled=operator_enabled.get(entry.id, entry.enabled),
            limits={name: str(value) for name, value in entry.limits.model_dump().items()},
            peak_pnl_e4=engine.stormguard.peak_pnl_e4(entry.id) if entry.id in own else 0,
        ))
    return RiskDump(request_id=request_id, positions=engine.positions.rows(), scopes=scopes,
                    hold_fire=engine.hold_fire, broker_usage=engine.stormguard.usage_actions, ts_ns=clock.wall_ns(),
                    trading_day=engine.trading_day, replaying=engine.replaying)
