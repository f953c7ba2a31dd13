"""Golden wire vectors: the committed bytes of every message, checked with msgspec and with `msgpack`.

The files are regenerated only by `python -m tests.golden.samples --write`; these tests never write.
"""

from __future__ import annotations

import enum
from typing import Any

import msgpack
import msgspec
import pytest

from contracts.codec import Decoder, encode
from contracts.messages import SCHEMA_VERSION, WIRE_MESSAGES, Message
from tests.golden.samples import GOLDEN_DIR, SAMPLES, golden_path

TAGS = sorted(SAMPLES)


def _tag(message_type: type[Message]) -> str:
    return message_type.__struct_config__.tag


def _golden(tag: str) -> bytes:
    path = golden_path(tag)
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `python -m tests.golden.samples --write`")
    return path.read_bytes()


def _plain(value: Any) -> Any:
    """The value as a msgpack peer sees it, converted by hand (not by msgspec)."""
    if isinstance(value, msgspec.Struct):
        out: dict[str, Any] = {}
        tag = value.__struct_config__.tag
        if tag is not None:
            out["t"] = tag
        for name in value.__struct_fields__:
            out[name] = _plain(getattr(value, name))
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value


# A few literal values per message, written out by hand, so the check does not lean on the samples.
LITERALS: dict[str, dict[str, Any]] = {
    "instrument": {"symbol": "0050", "kind": "etf", "unit": 1000, "tick_e4": 500, "day_trade": "only_buy",
                   "disposition_max_lots_single_order": 5},
    "md": {
        "symbol": "2330",
        "seq": 42,
        "bid_prices_e4": [10_050_000, 10_000_000, 9_990_000, 9_980_000, 9_970_000],
        "ask_qtys": [5, 18, 40, 3, 9],
        "total_volume": 18_345,
    },
    "intent": {"action": "amend", "side": "sell", "price_type": "MKT", "tif": "IOC", "md_seq": 41},
    "decision": {
        "approved": False,
        "reason": "notional_limit",
        "stormguard_state": "WARM",
        "approved_qty": 1,
    },
    "order": {"action": "cancel", "side": "buy", "tif": "FOK", "stormguard_state": "STORM"},
    "exec": {
        "exec_type": "fill",
        "status": "partially_filled",
        "reason": "broker_reject",
        "broker_order_id": "SIM-00000123",
        "leaves_qty": 3,
    },
    "usage": {"actions_in_window": 180, "window_ns": 10_000_000_000, "soft_cap": 200, "exec_seq": 78},
    "exec_replay_req": {"request_id": "risk.1f3a.4", "first_seq": 75, "last_seq": 78},
    "exec_replay": {
        "first_seq": 75,
        "last_seq": 78,
        "last_published_seq": 81,
        "reports": [
            {"t": "exec", "v": 1, "seq": 76, "client_order_id": "mm1-c-000012", "intent_id": "mm1-000020",
             "strategy_id": "mm1", "symbol": "2603", "side": "sell", "exec_type": "ack", "status": "working",
             "price_e4": 1_855_000, "qty": 5, "cum_qty": 0, "leaves_qty": 5, "last_price_e4": 0, "last_qty": 0,
             "reason": None, "detail": "", "broker_order_id": "SIM-00000123", "ts_ns": 1_760_000_000_123_459_289},
            {"t": "exec", "v": 1, "seq": 77, "client_order_id": "mm1-c-000012", "intent_id": "mm1-000020",
             "strategy_id": "mm1", "symbol": "2603", "side": "sell", "exec_type": "fill",
             "status": "partially_filled", "price_e4": 1_855_000, "qty": 5, "cum_qty": 2, "leaves_qty": 3,
             "last_price_e4": 1_850_000, "last_qty": 2, "reason": None, "detail": "",
             "broker_order_id": "SIM-00000123", "ts_ns": 1_760_000_000_123_459_789},
        ],
    },
    "sg": {"global_level": "WARM", "strategy_levels": {"mm1": "STORM", "arb2": "HALT"}, "hold_fire": True,
           "cancel_all": True, "strategy_enabled": {"mm1": False, "mo1": True}, "forced_levels": {"arb2": "HALT"},
           "config_versions": {"strategy_limits": "5f2c9a0d1e3b", "order_adapter": "a81b07c4d2e9"}},
    "sg_proposal": {"scope": "mm1", "level": "HALT"},
    "risk_snapshot": {
        "positions": [
            {"strategy_id": "mm1", "symbol": "2330", "position": 3,
             "outstanding_buy": 1, "outstanding_sell": 0},
            {"strategy_id": "mm1", "symbol": "2317", "position": -2,
             "outstanding_buy": 0, "outstanding_sell": 4},
        ],
        "levels": {"global": "WARM", "mm1": "STORM"},
        "trading_day": "2025-10-09",
    },
    "command": {"seq": 2, "verb": "disable", "target": "mm1", "request_id": "ops.19a3.7"},
    "orders_dump": {"request_id": "ops.19a3.7", "gate": ["hold_fire"], "breaker": "half_open", "broker_usage": 151},
    "risk_dump": {"request_id": "ops.19a3.8", "hold_fire": True, "broker_usage": 42, "trading_day": "2025-10-09",
                  "replaying": True},
    "alert": {"rule": "stormguard_halt", "severity": "page", "subject": "mm1"},
    "hb": {
        "service": "risk",
        "pid": 4242,
        "final": True,
        "metrics": [
            {"name": "bad_messages_total", "labels": {"service": "risk", "socket": "intents"}, "value": 3.0},
            {"name": "intents_in_flight", "labels": {}, "value": 12.5},
        ],
    },
    "request": {"verb": "status", "args": {"service": "risk", "verbose": "1"}, "who": "ops@desk-1"},
    "reply": {
        "ok": False,
        "error": "risk is silent",
        "body": {
            "services": {"risk": {"alive": False, "last_seen_ms": 3_400}},
            "levels": ["NORMAL", "WARM"],
            "hold_fire": True,
            "drawdown_pct": 1.25,
            "note": None,
        },
    },
}


def test_every_wire_message_has_a_sample_and_a_golden_file() -> None:
    tags = [_tag(message_type) for message_type in WIRE_MESSAGES]
    assert len(set(tags)) == len(tags), "two wire messages share a tag"
    assert sorted(SAMPLES) == sorted(tags)
    for message_type in WIRE_MESSAGES:
        assert type(SAMPLES[_tag(message_type)]) is message_type
    missing = [tag for tag in tags if not golden_path(tag).is_file()]
    assert not missing, f"no golden file for {missing}: run `python -m tests.golden.samples --write`"


def test_no_stray_golden_files() -> None:
    on_disk = sorted(path.stem for path in GOLDEN_DIR.glob("*.msgpack"))
    assert on_disk == TAGS


def test_literals_cover_every_message() -> None:
    assert sorted(LITERALS) == TAGS


@pytest.mark.parametrize("tag", TAGS)
def test_samples_set_every_optional_field(tag: str) -> None:
    """A golden vector that leaves a field at its default would not pin how that field is encoded."""
    sample = SAMPLES[tag]
    for field in msgspec.structs.fields(sample):
        if field.name == "v" or field.required:
            continue
        default = field.default if field.default is not msgspec.NODEFAULT else field.default_factory()
        assert getattr(sample, field.name) != default, f"{tag}.{field.name} is left at its default"


@pytest.mark.parametrize("tag", TAGS)
def test_encode_matches_golden_bytes(tag: str) -> None:
    assert encode(SAMPLES[tag]) == _golden(tag)


@pytest.mark.parametrize("tag", TAGS)
def test_decode_golden_gives_the_sample(tag: str) -> None:
    sample = SAMPLES[tag]
    decoded = Decoder(type(sample)).decode(_golden(tag))
    assert type(decoded) is type(sample)
    assert decoded == sample


@pytest.mark.parametrize("tag", TAGS)
def test_decoder_of_all_wire_messages_picks_the_type_by_tag(tag: str) -> None:
    decoded = Decoder(*WIRE_MESSAGES).decode(_golden(tag))
    assert type(decoded) is type(SAMPLES[tag])
    assert decoded == SAMPLES[tag]


@pytest.mark.parametrize("tag", TAGS)
def test_msgpack_package_reads_golden_bytes(tag: str) -> None:
    unpacked = msgpack.unpackb(_golden(tag), raw=False)
    assert isinstance(unpacked, dict)
    assert unpacked["t"] == tag
    assert unpacked["v"] == SCHEMA_VERSION == 1
    for name, expected in LITERALS[tag].items():
        assert unpacked[name] == expected, name
    expected_map = _plain(SAMPLES[tag])
    assert set(unpacked) == set(expected_map), "every field, defaults included, is on the wire"
    assert unpacked == expected_map


@pytest.mark.parametrize("tag", TAGS)
def test_msgpack_package_writes_the_same_bytes(tag: str) -> None:
    """A peer that packs the same map (tag first, then fields in declaration order) is byte-identical."""
    assert msgpack.packb(_plain(SAMPLES[tag]), use_bin_type=True) == _golden(tag)


@pytest.mark.parametrize("tag", TAGS)
def test_strings_are_msgpack_str_not_bin(tag: str) -> None:
    """Another implementation must see text as str: with raw=True every string comes back as bytes."""
    unpacked = msgpack.unpackb(_golden(tag), raw=True)
    assert unpacked[b"t"] == tag.encode()
