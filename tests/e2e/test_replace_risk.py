"""Replacing risk alone leaves the desk as it was: every scope's PnL, drawdown peak, drawdown and level, and
every position and outstanding quantity, before and after, as `orderpath ctl risk dump --json` shows them.

Real processes on loopback, the simulated broker keeping its state in a file. A recorded path drives one
round trip (tests/e2e/round_trip_strategy.py): 2 lots of 2330 bought at 1000, marked at 1022.5 (the peak),
1 sold at 1020, the rest marked at 989.5 when the recording ends, so the marks hold still. On 3 M TWD of
capital that is a drawdown of 1.33 %: STORM. Risk is then stopped with SIGTERM and started again, then killed
with SIGKILL and started again: both come back with the state of the one they replace. (A restart used to
replay the journal's fills without the marks between them: here a peak and a PnL of 12,637 TWD instead of
42,150 and 2,137, so no drawdown and NORMAL.) Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.enums import ServiceName
from services.launcher import LocalStack
from tests.e2e.control_helpers import ctl_json, log_lines
from tests.e2e.stack_config import REPO, write_stack_config
from tests.e2e.test_replace_service import ORDER_ADAPTER, STATE_FILE, broker_positions
from tests.e2e.waiting import wait_until

pytestmark = pytest.mark.e2e

DRAWDOWN_TOLERANCE_PP = 0.01
ROUND_TRIP = {
    "id": "rt1",
    "class": "tests.e2e.round_trip_strategy:RoundTrip",
    "symbols": ["2330"],
    "capital_twd": 3_000_000,
}
# (seconds into the recording, bid, ask): offered at 1000, then bid at 1020 twice, then 989/990.
PATH = ((0.0, "995", "1000"), (0.5, "995", "1000"), (1.5, "1020", "1025"), (2.5, "1020", "1025"),
        (3.5, "989", "990"), (4.0, "989", "990"))
# What the live risk makes of it, TWD: costs 2,850 (buy) + 1,453 + 3,060 (sell, with tax); peak at mid 1022.5
# on 2 lots; then 20,000 realized, 1 lot at mid 989.5.
PEAK_TWD = 45_000 - 2_850
PNL_TWD = 20_000 - 2_850 - 1_453 - 3_060 - 10_500


def recording(path: Path) -> Path:
    lines = []
    for offset_s, bid, ask in PATH:
        stamp = f"2026-11-24T09:00:{offset_s:09.6f}"
        lines.append(json.dumps({
            "code": "2330", "datetime": stamp, "bid_price": [bid], "bid_volume": [10], "diff_bid_vol": [0],
            "ask_price": [ask], "ask_volume": [10], "diff_ask_vol": [0], "simtrade": False, "suspend": False,
            "intraday_odd": False}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def dump(stack: LocalStack) -> dict[str, Any]:
    return ctl_json(stack.stack_file, "risk", "dump")


def net_positions(risk: dict[str, Any]) -> dict[str, int]:
    net: dict[str, int] = {}
    for row in risk["positions"]:
        net[row["symbol"]] = net.get(row["symbol"], 0) + row["position"]
    return {symbol: qty for symbol, qty in net.items() if qty}


def desk(risk: dict[str, Any]) -> dict[str, Any]:
    """What a replacement must not change: per scope its levels, PnL and peak; positions and outstanding."""
    return {
        "trading_day": risk["trading_day"],
        "scopes": {scope["scope"]: {key: scope[key] for key in ("level", "own_level", "pnl_e4", "peak_pnl_e4")}
                   for scope in risk["scopes"]},
        "positions": sorted((row["strategy_id"], row["symbol"], row["position"], row["outstanding_buy"],
                             row["outstanding_sell"]) for row in risk["positions"]),
    }


def drawdowns(risk: dict[str, Any]) -> dict[str, float]:
    return {scope["scope"]: scope["drawdown_pct"] for scope in risk["scopes"]}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    feed = {"source": "replay", "replay_file": str(recording(tmp_path / "round_trip.jsonl")), "speed": 1.0,
            "symbols": ["2330"], "wait_subscribers": 3}
    stack_file = write_stack_config(tmp_path, strategies=[ROUND_TRIP], order_adapter=ORDER_ADAPTER, feed=feed)
    config = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
    config["risk"] = {"state_interval_ms": 200}
    stack_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    local = LocalStack(stack_file, env={"PYTHONPATH": str(REPO)})
    try:
        yield local
    finally:
        local.stop()


def test_replacing_risk_leaves_every_peak_level_and_position_as_it_was(stack: LocalStack) -> None:
    broker_file = Path(stack.config.var_dir) / STATE_FILE
    stack.start()
    feed_log = stack.processes[ServiceName.FEED].log_path
    wait_until("the recording has been published", lambda: log_lines(feed_log, "replay_finished"),
               check=stack.check_alive)
    last: list[dict[str, Any]] = [{}]

    def settled() -> dict[str, Any] | None:
        """Risk's positions are the broker's, and two dumps in a row agree."""
        risk = dump(stack)
        same, last[0] = desk(risk) == desk(last[0]) if last[0] else False, risk
        return risk if same and net_positions(risk) == broker_positions(broker_file) else None

    before = wait_until("the desk settles at the end of the recording", settled)
    rt1 = next(scope for scope in before["scopes"] if scope["scope"] == "rt1")
    assert (rt1["peak_pnl_e4"], rt1["pnl_e4"], rt1["own_level"]) == (PEAK_TWD * 10_000, PNL_TWD * 10_000, "STORM")
    assert net_positions(before) == {"2330": 1}

    for how in ("SIGTERM", "SIGKILL"):
        risk = stack.processes[ServiceName.RISK]
        if how == "SIGKILL":
            risk.popen.kill()
            risk.popen.wait()
        assert stack.restart_service(ServiceName.RISK) == (0 if how == "SIGTERM" else -9), f"risk stopped by {how}"
        after = wait_until(f"the risk started after a {how} has caught up with the journal",
                           lambda: (risk := dump(stack)) and not risk["replaying"] and risk)
        assert desk(after) == desk(before), f"after a {how}, risk is not the one it replaced"
        for scope, drawdown in drawdowns(before).items():
            assert abs(drawdowns(after)[scope] - drawdown) <= DRAWDOWN_TOLERANCE_PP, scope
        assert net_positions(after) == broker_positions(broker_file)
    restored = log_lines(stack.processes[ServiceName.RISK].log_path, "risk_state_restored")
    assert len(restored) == 2, "each new risk read its predecessor's state"


def test_a_risk_started_on_a_new_day_from_yesterdays_state_starts_normal_with_its_positions(
        stack: LocalStack) -> None:
    """As after `docker compose down` one evening and `up` the next morning: risk's and control's state files
    are of yesterday (they are made so by hand: the clock of a process cannot be moved)."""
    broker_file = Path(stack.config.var_dir) / STATE_FILE
    stack.start()
    wait_until("the recording has been published and risk holds the lot left",
               lambda: log_lines(stack.processes[ServiceName.FEED].log_path, "replay_finished")
               and (risk := dump(stack)) and net_positions(risk) == broker_positions(broker_file) == {"2330": 1}
               and risk, check=stack.check_alive)
    wait_until("rt1 is in STORM", lambda: dump(stack)["scopes"][1]["level"] == "STORM")
    var = Path(stack.config.var_dir)
    for name, file in ((ServiceName.RISK, "risk-state.json"), (ServiceName.CONTROL, "control-state.json")):
        assert stack.stop_service(name) == 0
        del stack.processes[name]
        state = json.loads((var / file).read_text(encoding="utf-8"))
        today = state["trading_day"]
        state["trading_day"] = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
        (var / file).write_text(json.dumps(state), encoding="utf-8")

    stack.restart_service(ServiceName.CONTROL)
    stack.restart_service(ServiceName.RISK)
    risk = wait_until("the new risk has begun today", lambda: (r := dump(stack)) and r["trading_day"] == today and r)
    rt1 = next(scope for scope in risk["scopes"] if scope["scope"] == "rt1")
    assert (rt1["own_level"], rt1["pnl_e4"], rt1["peak_pnl_e4"], rt1["drawdown_pct"]) == ("NORMAL", 0, 0, 0.0), \
        "the day starts at yesterday's last mark"
    assert net_positions(risk) == {"2330": 1}, "yesterday's position carries over"
    wait_until("control follows risk's NORMAL", lambda: dump(stack)["scopes"][1]["level"] == "NORMAL")
    started = log_lines(stack.processes[ServiceName.RISK].log_path, "trading_day_started", trading_day=today)
    assert started and started[0]["positions"] == [["rt1", "2330", 1]]
    alerts = wait_until("control alerts the new day", lambda: [
        alert for alert in ctl_json(stack.stack_file, "alerts")["alerts"] if alert["rule"] == "trading_day"])
    assert alerts[0]["subject"] == today
