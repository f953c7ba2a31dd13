"""services.risk.refusals: an intent that does not decode but names itself gets a bad_message reject naming
the field; approvals become decisions for the strategies that asked."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from contracts.codec import DecodeError, Decoder, encode
from contracts.enums import IntentAction, Reason, StormGuardLevel
from contracts.messages import OrderCommand, OrderIntent
from services.risk.refusals import approval_decision, approval_listeners, bad_intent_decision
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from tests.golden.samples import SAMPLES

INTENT = SAMPLES["intent"]
assert isinstance(INTENT, OrderIntent)
WALL_NS = 1_760_000_000_000_000_000


def _fields(**changes: Any) -> bytes:
    return msgpack.packb({**msgpack.unpackb(encode(INTENT)), **changes})


def _decode_error(payload: bytes) -> str:
    with pytest.raises(DecodeError) as caught:
        Decoder(OrderIntent).decode(payload)
    return str(caught.value)


def test_a_float_timestamp_is_refused_with_the_field_named() -> None:
    payload = _fields(created_ts_ns=1.76e18)
    decision = bad_intent_decision(payload, _decode_error(payload), WALL_NS)
    assert decision is not None
    assert (decision.intent_id, decision.strategy_id, decision.client_order_id) == (
        INTENT.intent_id, INTENT.strategy_id, INTENT.client_order_id)
    assert decision.approved is False and decision.reason is Reason.BAD_MESSAGE
    assert "$.created_ts_ns" in decision.detail and "float" in decision.detail
    assert decision.action is INTENT.action and decision.ts_ns == WALL_NS


def test_an_unknown_action_is_reported_as_new_with_the_error() -> None:
    payload = _fields(action="buy_it_all")
    decision = bad_intent_decision(payload, _decode_error(payload), WALL_NS)
    assert decision is not None and decision.action is IntentAction.NEW
    assert "$.action" in decision.detail


@pytest.mark.parametrize("payload", [
    b"\xc1 not msgpack",
    msgpack.packb([1, 2, 3]),
    _fields(strategy_id=None),
    _fields(intent_id=""),
    msgpack.packb({"t": "intent", "intent_id": "x.1"}),
])
def test_nobody_to_tell_is_no_decision(payload: bytes) -> None:
    assert bad_intent_decision(payload, "whatever", WALL_NS) is None


def test_an_approval_decision_carries_the_approved_quantity_and_level() -> None:
    command = SAMPLES["order"]
    assert isinstance(command, OrderCommand)
    decision = approval_decision(command, WALL_NS)
    assert decision.approved and decision.reason is None
    assert (decision.intent_id, decision.approved_qty, decision.stormguard_state) == (
        command.intent_id, command.qty, command.stormguard_state)
    assert command.stormguard_state is not StormGuardLevel.NORMAL, "the sample must prove the level is copied"


def test_only_strategies_that_ask_hear_of_approvals() -> None:
    limits = StrategyLimitsConfig.model_validate({"strategies": [
        {"id": "mm1", "class": "services.strategy.strategies.quoter:Quoter", "symbols": ["2330"]},
        {"id": "ext1", "symbols": ["2330"], "publish_approvals": True},
    ]})
    assert approval_listeners(limits.strategies) == frozenset({"ext1"})
