"""`ctl orders dump` and `ctl risk dump` against a trading stack: the adapter's live orders and risk's view,
asked of them through control."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.enums import ServiceName
from services.launcher import LocalStack
from tests.e2e.control_helpers import ctl, ctl_json, wait_until
from tests.e2e.stack_config import QUOTER, write_stack_config

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(write_stack_config(tmp_path, strategies=[QUOTER]))
    local.start()
    try:
        yield local
    finally:
        local.stop()


def test_orders_and_risk_dumps_show_what_the_adapter_and_risk_hold(stack: LocalStack) -> None:
    config = stack.stack_file
    dump = wait_until("the quoter has orders resting at the adapter",
                      lambda: (d := ctl_json(config, "orders", "dump")) and d["orders"] and d)
    assert {row["strategy_id"] for row in dump["orders"]} == {"mm1"}
    assert all(row["leaves_qty"] > 0 and row["status"] in ("pending_new", "working", "partially_filled")
               for row in dump["orders"])
    assert dump["gate"] == [] and dump["breaker"] == "closed" and dump["soft_cap"] > 0
    # the quoter's orders move between the two dumps: any of its rows shows the table is there
    human = ctl(config, "orders", "dump")
    assert human.exit_code == 0 and "gate open" in human.stdout
    assert any(re.search(rf"\bmm1\s+{symbol}\b", human.stdout) for symbol in QUOTER["symbols"]), human.stdout
    assert ctl_json(config, "orders", "dump", "--strategy", "nobody")["orders"] == []

    risk = ctl_json(config, "risk", "dump")
    scopes = {scope["scope"]: scope for scope in risk["scopes"]}
    assert set(scopes) == {"global", "mm1"}
    assert scopes["mm1"]["limits"]["max_order_qty"] == "5" and scopes["mm1"]["capital_twd"] > 0
    assert scopes["mm1"]["level"] in ("NORMAL", "WARM", "STORM", "HALT") and scopes["mm1"]["enabled"]
    assert all(row["strategy_id"] == "mm1" for row in risk["positions"])
    assert risk["trading_day"], "risk says which trading day its PnL is of"
    human = ctl(config, "risk", "dump")
    assert human.exit_code == 0 and "limits mm1: max_order_qty=5" in human.stdout
    assert f"trading day {risk['trading_day']}" in human.stdout

    assert ctl(config, "hold").exit_code == 0
    wait_until("the dump shows the adapter's gate closed by the hold",
               lambda: ctl_json(config, "orders", "dump")["gate"] == ["hold_fire"])
    assert ctl_json(config, "risk", "dump")["hold_fire"] is True


def test_a_dump_of_a_stopped_service_is_refused_with_why(stack: LocalStack) -> None:
    stack.stop_service(ServiceName.FEED)
    stack.stop_service(ServiceName.STRATEGY)
    stack.stop_service(ServiceName.RISK)
    refused = wait_until("control saw risk stop", lambda: (d := ctl(stack.stack_file, "risk", "dump"))
                         and "risk is stopped" in d.stderr and d)
    assert refused.exit_code == 1 and "orderpath ctl ping risk" in refused.stderr
