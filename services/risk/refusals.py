"""What risk says to a strategy whose intent it could not read, and to one that asked to hear of approvals.

An intent that fails to decode (a field of the wrong type, say `created_ts_ns` sent as a float, which is
what a JavaScript number encodes to) is counted and logged like any bad input; if its payload is still a
msgpack map that names a string `intent_id` and `strategy_id`, the sender also gets a RiskDecision reject
with reason bad_message and the decoder's error, which names the field, instead of silence.
"""

from __future__ import annotations

from contracts.codec import loose_fields
from contracts.enums import IntentAction, Reason
from contracts.messages import OrderCommand, RiskDecision
from services.runtime.config.strategy_limits import StrategyEntry

_ACTIONS = frozenset(IntentAction)


def bad_intent_decision(payload: bytes, error: str, wall_ns: int) -> RiskDecision | None:
    """A bad_message reject for an intent that did not decode, or None when it names no intent and strategy
    (then there is nobody to tell)."""
    fields = loose_fields(payload)
    if fields is None:
        return None
    intent_id, strategy_id = fields.get("intent_id"), fields.get("strategy_id")
    if not (isinstance(intent_id, str) and intent_id and isinstance(strategy_id, str) and strategy_id):
        return None
    client_order_id = fields.get("client_order_id")
    action = fields.get("action")
    return RiskDecision(
        seq=0, intent_id=intent_id, strategy_id=strategy_id,
        client_order_id=client_order_id if isinstance(client_order_id, str) else intent_id,
        # The decision must name an action: the sender's when it is one, else `new` (the detail says why).
        action=IntentAction(action) if action in _ACTIONS else IntentAction.NEW,
        approved=False, reason=Reason.BAD_MESSAGE, detail=f"intent not decoded: {error}", ts_ns=wall_ns,
    )


def approval_decision(command: OrderCommand, wall_ns: int) -> RiskDecision:
    """The RiskDecision that tells a strategy risk approved its intent (and sent `command` on)."""
    return RiskDecision(
        seq=0, intent_id=command.intent_id, strategy_id=command.strategy_id, client_order_id=command.client_order_id,
        action=command.action, approved=True, approved_qty=command.qty, stormguard_state=command.stormguard_state,
        ts_ns=wall_ns,
    )


def approval_listeners(entries: list[StrategyEntry]) -> frozenset[str]:
    """The strategy ids whose entry asks for approvals (`publish_approvals: true`)."""
    return frozenset(entry.id for entry in entries if entry.publish_approvals)
