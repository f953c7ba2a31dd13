"""services.control.strategies: status shows every strategy, and whether an external one is connected."""

from __future__ import annotations

from services.control.ctl import state_lines
from services.control.strategies import NOT_CONNECTED, external_instance, strategies_status
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.runtime.instance import service_of

LIMITS = StrategyLimitsConfig.model_validate({"strategies": [
    {"id": "mm1", "class": "services.strategy.strategies.quoter:Quoter", "symbols": ["2330"]},
    {"id": "ext-1", "symbols": ["2330", "2317"]},
    {"id": "ext2", "symbols": ["2454"], "enabled": False},
]})


def _seen(state: str, age_s: float) -> dict:
    return {"service": "strategy", "pid": 7, "state": state, "heartbeat_age_s": age_s, "heartbeat_seq": 3,
            "metrics": []}


def test_an_external_strategy_is_connected_by_its_heartbeats() -> None:
    services = {"strategy": _seen("alive", 0.1), external_instance("ext-1"): _seen("alive", 0.4)}
    status = strategies_status(LIMITS.strategies, services)
    assert status["mm1"] == {"external": False, "enabled": True, "symbols": ["2330"]}
    assert status["ext-1"] == {"external": True, "enabled": True, "symbols": ["2330", "2317"],
                               "instance": "strategy-ext-1", "state": "alive", "heartbeat_age_s": 0.4}
    assert status["ext2"]["state"] == NOT_CONNECTED and status["ext2"]["heartbeat_age_s"] is None
    assert service_of(external_instance("ext-1")) is not None, "control's tracker and alerts must take the name"


def test_a_silent_external_strategy_shows_as_silent_in_ctl_status() -> None:
    services = {external_instance("ext-1"): _seen("silent", 9.5)}
    text = state_lines({"strategies": strategies_status(LIMITS.strategies, services)})
    assert "external  ext-1            SILENT (last heartbeat 9.5s ago)  as strategy-ext-1" in text
    assert "ext2             NOT_CONNECTED" in text
    assert "mm1" not in text
