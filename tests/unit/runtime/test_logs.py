"""The JSON line renderer: one object per event, decision fields as values, the rest by repr."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from contracts.enums import Reason, StormGuardLevel
from services.runtime.logs import render_json


def test_a_decision_renders_as_one_json_object_with_enum_values() -> None:
    line = render_json(None, "info", {
        "event": "intent_rejected", "intent_id": "s.1", "strategy_id": "s", "reason": Reason.STALE_MARKET_DATA,
        "stormguard_state": StormGuardLevel.WARM, "detail": None, "qty": 3,
    })
    assert b"\n" not in line
    assert json.loads(line) == {
        "event": "intent_rejected", "intent_id": "s.1", "strategy_id": "s", "reason": Reason.STALE_MARKET_DATA.value,
        "stormguard_state": StormGuardLevel.WARM.value, "detail": None, "qty": 3,
    }


def test_values_json_has_no_type_for_are_rendered_not_refused() -> None:
    line = render_json(None, "info", {"event": "x", "file": Path("/var/j.sqlite"), "capital": Decimal("1.5"),
                                      "levels": {"global": StormGuardLevel.HALT}})
    assert json.loads(line) == {"event": "x", "file": repr(Path("/var/j.sqlite")), "capital": "1.5",
                                "levels": {"global": "HALT"}}
