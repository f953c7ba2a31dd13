"""contracts.codec: what a socket's Decoder does with bad input, and the topic each message goes under."""

from __future__ import annotations

from typing import Any

import msgpack
import msgspec
import pytest

from contracts.codec import DecodeError, Decoder, encode, topic_for
from contracts.enums import IntentAction, ServiceName, Side
from contracts.messages import (
    AdapterUsage,
    ControlCommand,
    ExecutionReport,
    Heartbeat,
    MarketEvent,
    OrderIntent,
    RiskDecision,
)
from tests.golden.samples import SAMPLES


def _md_map(**changes: Any) -> dict[str, Any]:
    """The md sample as a plain map, as another implementation would build it."""
    raw = msgpack.unpackb(encode(SAMPLES["md"]), raw=False)
    raw.update(changes)
    return raw


def _decode_error(decoder: Decoder[Any], payload: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        decoder.decode(payload)
    return str(info.value)


def test_good_payload_round_trips() -> None:
    sample = SAMPLES["md"]
    assert Decoder(MarketEvent).decode(encode(sample)) == sample


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xc1", b"\xc1not msgpack at all", b"hello world", b"\xff" * 16],
    ids=["empty", "reserved-opcode", "garbage", "text", "negative-fixints"],
)
def test_garbage_bytes_are_a_decode_error(payload: bytes) -> None:
    _decode_error(Decoder(MarketEvent), payload)


@pytest.mark.parametrize("cut", [1, 10, 50, -1])
def test_truncated_payload_is_a_decode_error(cut: int) -> None:
    payload = encode(SAMPLES["md"])
    message = _decode_error(Decoder(MarketEvent), payload[:cut])
    assert "truncated" in message


def test_missing_required_field_names_the_field() -> None:
    raw = _md_map()
    del raw["seq"]
    message = _decode_error(Decoder(MarketEvent), msgpack.packb(raw))
    assert "missing required field" in message
    assert "`seq`" in message


def test_missing_nested_required_field_names_the_path() -> None:
    raw = msgpack.unpackb(encode(SAMPLES["risk_snapshot"]), raw=False)
    del raw["positions"][1]["outstanding_sell"]
    message = _decode_error(Decoder(type(SAMPLES["risk_snapshot"])), msgpack.packb(raw))
    assert "`outstanding_sell`" in message
    assert "$.positions[1]" in message


def test_missing_optional_fields_take_their_defaults() -> None:
    raw = _md_map()
    for name in ("v", "last_price_e4", "last_qty", "total_volume"):
        del raw[name]
    decoded = Decoder(MarketEvent).decode(msgpack.packb(raw))
    assert (decoded.v, decoded.last_price_e4, decoded.last_qty, decoded.total_volume) == (1, 0, 0, 0)


@pytest.mark.parametrize(
    ("changes", "path", "expected"),
    [
        ({"seq": "42"}, "$.seq", "int"),
        ({"symbol": 2330}, "$.symbol", "str"),
        ({"bid_prices_e4": [10_050_000, 1005.5]}, "$.bid_prices_e4[1]", "int"),
        ({"ask_qtys": None}, "$.ask_qtys", "array"),
    ],
)
def test_mistyped_field_names_the_path(changes: dict[str, Any], path: str, expected: str) -> None:
    message = _decode_error(Decoder(MarketEvent), msgpack.packb(_md_map(**changes)))
    assert f"`{path}`" in message
    assert expected in message


def test_float_price_is_refused() -> None:
    """Prices are integers on the wire: a float is a validation error, not silently truncated."""
    message = _decode_error(Decoder(MarketEvent), msgpack.packb(_md_map(last_price_e4=1005.0)))
    assert "`$.last_price_e4`" in message


def test_message_of_another_type_is_rejected() -> None:
    payload = encode(SAMPLES["usage"])
    message = _decode_error(Decoder(MarketEvent), payload)
    assert "usage" in message
    assert "`$.t`" in message


def test_union_decoder_rejects_a_type_it_was_not_built_for() -> None:
    decoder = Decoder(OrderIntent, RiskDecision)
    assert isinstance(decoder.decode(encode(SAMPLES["intent"])), OrderIntent)
    assert isinstance(decoder.decode(encode(SAMPLES["decision"])), RiskDecision)
    for other in ("md", "exec", "hb", "order"):
        message = _decode_error(decoder, encode(SAMPLES[other]))
        assert f"'{other}'" in message
        assert "`$.t`" in message


def test_union_decoder_requires_the_tag() -> None:
    raw = msgpack.unpackb(encode(SAMPLES["intent"]), raw=False)
    del raw["t"]
    message = _decode_error(Decoder(OrderIntent, RiskDecision), msgpack.packb(raw))
    assert "`t`" in message


def test_unknown_tag_is_rejected() -> None:
    message = _decode_error(Decoder(MarketEvent), msgpack.packb(_md_map(t="md2")))
    assert "'md2'" in message


def test_unknown_extra_fields_are_tolerated() -> None:
    raw = _md_map(vwap_e4=10_020_000, venue="TWSE", extras={"a": [1, 2]})
    assert Decoder(MarketEvent).decode(msgpack.packb(raw)) == SAMPLES["md"]


def test_newer_schema_version_is_still_decoded() -> None:
    """`v` is carried, not enforced: a receiver can see it and decide."""
    decoded = Decoder(MarketEvent).decode(msgpack.packb(_md_map(v=2)))
    assert decoded.v == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("side", "hold"), ("side", "BUY"), ("action", "replace"), ("tif", "GTC"), ("price_type", "lmt")],
)
def test_enum_value_outside_the_enum_is_rejected(field: str, value: str) -> None:
    raw = msgpack.unpackb(encode(SAMPLES["intent"]), raw=False)
    raw[field] = value
    message = _decode_error(Decoder(OrderIntent), msgpack.packb(raw))
    assert f"`$.{field}`" in message
    assert repr(value) in message


def test_enum_values_decode_to_enum_members() -> None:
    decoded = Decoder(OrderIntent).decode(encode(SAMPLES["intent"]))
    assert decoded.side is Side.SELL
    assert decoded.action is IntentAction.AMEND


def test_optional_enum_accepts_nil_and_refuses_unknown() -> None:
    raw = msgpack.unpackb(encode(SAMPLES["exec"]), raw=False)
    raw["reason"] = None
    assert Decoder(ExecutionReport).decode(msgpack.packb(raw)).reason is None
    raw["reason"] = "because"
    message = _decode_error(Decoder(ExecutionReport), msgpack.packb(raw))
    assert "`$.reason`" in message


def test_decode_error_covers_validation_errors() -> None:
    """Callers catch one exception type for bytes that are not msgpack and maps that do not validate."""
    assert issubclass(msgspec.ValidationError, DecodeError)


def test_topic_for_market_data_is_the_symbol() -> None:
    assert topic_for(SAMPLES["md"]) == b"2330"
    other = msgspec.structs.replace(SAMPLES["md"], symbol="TXFL6")
    assert topic_for(other) == b"TXFL6"


def test_topic_for_reference_data_is_per_symbol_and_never_a_symbol_prefix() -> None:
    assert topic_for(SAMPLES["instrument"]) == b"instrument." + SAMPLES["instrument"].symbol.encode()
    assert not topic_for(SAMPLES["instrument"]).startswith(SAMPLES["instrument"].symbol.encode())


@pytest.mark.parametrize("tag", sorted(set(SAMPLES) - {"md", "instrument"}))
def test_topic_for_other_messages_is_the_tag(tag: str) -> None:
    assert topic_for(SAMPLES[tag]) == tag.encode()


def test_topics_of_specific_messages() -> None:
    assert topic_for(SAMPLES["exec"]) == b"exec"
    assert topic_for(ControlCommand(seq=1, verb="hold", ts_ns=1)) == b"command"
    assert topic_for(AdapterUsage(seq=1, actions_in_window=0, window_ns=1, soft_cap=1, ts_ns=1)) == b"usage"
    assert topic_for(Heartbeat(service=ServiceName.FEED, pid=1, seq=1, ts_ns=1)) == b"hb"
