"""Strategy entries the e2e tests run; the config writer itself is services.local_config."""

from __future__ import annotations

from services.local_config import REPO, write_stack_config

__all__ = ["EXTERNAL", "QUOTER", "REPO", "RESTER", "never_drawn_down", "write_stack_config"]

QUOTER = {
    "id": "mm1",
    "class": "services.strategy.strategies.quoter:Quoter",
    "symbols": ["2330", "2317", "2454"],
    "params": {"qty": 1, "max_position": 5},
    "limits": {"max_order_qty": 5, "max_order_notional_twd": 10_000_000},
}
# Bids and asks at the deepest displayed level: some orders are always resting at the broker.
RESTER = {
    "id": "rest1",
    "class": "tests.e2e.resting_strategy:Rester",
    "symbols": ["2330", "2317", "2454"],
    "limits": {"max_order_qty": 5, "max_order_notional_twd": 10_000_000},
}

# An external strategy: no class, so no runner hosts it; the test speaks for it (docs/wire.md).
EXTERNAL = {
    "id": "ext1",
    "symbols": ["2330"],
    "publish_approvals": True,
    "capital_twd": 10_000_000_000,
    "limits": {"max_order_qty": 5, "max_order_notional_twd": 10_000_000},
}


def never_drawn_down(strategy: dict[str, object]) -> dict[str, object]:
    """The strategy with capital so large that its PnL never moves StormGuard: for a test about something
    else that needs it trading throughout (on 10 M TWD the Quoter and the Rester reached STORM, close
    only, within a minute on a loaded machine)."""
    return {**strategy, "capital_twd": 10_000_000_000}
