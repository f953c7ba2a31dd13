"""Golden wire vectors: one fixed, fully populated sample of every wire message, and its msgpack bytes.

Each `<tag>.msgpack` file in this folder is `contracts.codec.encode(SAMPLES[tag])`, committed, so any
other implementation of the wire (Rust, C++, …) can prove it encodes and decodes the same bytes.
Every sample sets every field, optional ones included, to a value other than its default, and uses
enum members, nested structs (PositionRow, MetricSample) and dicts where the message has them.

Tests only read the files. After a deliberate change to contracts/messages.py (which is a change
of the wire: bump SCHEMA_VERSION if old peers cannot read it), regenerate them from the repo root:

    .venv/bin/python -m tests.golden.samples --write   # rewrite every <tag>.msgpack
    .venv/bin/python -m tests.golden.samples           # only report which files are out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contracts.codec import encode
from contracts.enums import (
    AlertSeverity,
    DayTrade,
    ExecType,
    InstrumentKind,
    IntentAction,
    OrderStatus,
    PriceType,
    Reason,
    ServiceName,
    Side,
    StormGuardLevel,
    TimeInForce,
)
from contracts.messages import (
    AdapterUsage,
    Alert,
    ControlCommand,
    ControlReply,
    ControlRequest,
    ExecReplay,
    ExecReplayRequest,
    ExecutionReport,
    Heartbeat,
    InstrumentRef,
    MarketEvent,
    Message,
    MetricSample,
    OrderCommand,
    OrderIntent,
    OrderRow,
    OrdersDump,
    PositionRow,
    RiskDecision,
    RiskDump,
    RiskSnapshot,
    ScopeRow,
    StormGuardProposal,
    StormGuardState,
)

GOLDEN_DIR = Path(__file__).resolve().parent

WALL_NS = 1_760_000_000_123_456_789
MONO_NS = 86_400_000_000_123

_SAMPLES: tuple[Message, ...] = (
    InstrumentRef(  # every field set, as a wire vector must: an ETF under disposition with its own tick
        symbol="0050",
        kind=InstrumentKind.ETF,
        reference_e4=2_006_500,
        limit_up_e4=2_207_000,
        limit_down_e4=1_806_000,
        unit=1000,
        tick_e4=500,
        seq=3,
        trading_day="2026-11-26",
        day_trade=DayTrade.ONLY_BUY,
        trading_suspended=True,
        attention_flag=True,
        disposition_level=2,
        disposition_match_interval_min=20,
        disposition_max_lots_single_order=5,
        disposition_max_lots_total_orders=50,
        disposition_prepay_ratio=1.0,
    ),
    MarketEvent(
        symbol="2330",
        seq=42,
        exch_ts_ns=WALL_NS,
        ingest_ts_ns=MONO_NS,
        bid_prices_e4=[10_050_000, 10_000_000, 9_990_000, 9_980_000, 9_970_000],
        bid_qtys=[12, 30, 7, 1, 250],
        ask_prices_e4=[10_100_000, 10_150_000, 10_200_000, 10_250_000, 10_300_000],
        ask_qtys=[5, 18, 40, 3, 9],
        last_price_e4=10_050_000,
        last_qty=3,
        total_volume=18_345,
    ),
    OrderIntent(
        intent_id="mm1-000017",
        strategy_id="mm1",
        seq=17,
        action=IntentAction.AMEND,
        client_order_id="mm1-c-000009",
        symbol="2317",
        side=Side.SELL,
        qty=2,
        price_e4=2_015_000,
        price_type=PriceType.MKT,
        tif=TimeInForce.IOC,
        md_seq=41,
        created_ts_ns=WALL_NS + 1_000,
        ingest_ts_ns=MONO_NS,
        deadline_ns=MONO_NS + 500_000_000,
    ),
    RiskDecision(
        seq=9,
        intent_id="mm1-000018",
        strategy_id="mm1",
        client_order_id="mm1-c-000010",
        action=IntentAction.NEW,
        approved=False,
        reason=Reason.NOTIONAL_LIMIT,
        detail="notional 12000000 TWD > 10000000",
        approved_qty=1,
        stormguard_state=StormGuardLevel.WARM,
        ts_ns=WALL_NS + 2_000,
    ),
    OrderCommand(
        intent_id="mm1-000019",
        strategy_id="mm1",
        action=IntentAction.CANCEL,
        client_order_id="mm1-c-000011",
        symbol="2454",
        side=Side.BUY,
        qty=3,
        price_e4=13_000_000,
        price_type=PriceType.MKT,
        tif=TimeInForce.FOK,
        stormguard_state=StormGuardLevel.STORM,
        ingest_ts_ns=MONO_NS,
        approved_mono_ns=MONO_NS + 35_000,
        deadline_ns=MONO_NS + 500_000_000,
    ),
    ExecutionReport(
        seq=77,
        client_order_id="mm1-c-000012",
        intent_id="mm1-000020",
        strategy_id="mm1",
        symbol="2603",
        side=Side.SELL,
        exec_type=ExecType.FILL,
        status=OrderStatus.PARTIALLY_FILLED,
        price_e4=1_855_000,
        qty=5,
        cum_qty=2,
        leaves_qty=3,
        last_price_e4=1_850_000,
        last_qty=2,
        reason=Reason.BROKER_REJECT,
        detail="partial: price improved",
        broker_order_id="SIM-00000123",
        ts_ns=WALL_NS + 3_000,
    ),
    AdapterUsage(seq=5, actions_in_window=180, window_ns=10_000_000_000, soft_cap=200, breaker_open=True,
                 exec_seq=78, ts_ns=WALL_NS + 4_000),
    ExecReplayRequest(request_id="risk.1f3a.4", first_seq=75, last_seq=78),
    ExecReplay(
        request_id="risk.1f3a.4",
        first_seq=75,
        last_seq=78,
        reports=[
            ExecutionReport(
                seq=76,
                client_order_id="mm1-c-000012",
                intent_id="mm1-000020",
                strategy_id="mm1",
                symbol="2603",
                side=Side.SELL,
                exec_type=ExecType.ACK,
                status=OrderStatus.WORKING,
                price_e4=1_855_000,
                qty=5,
                cum_qty=0,
                leaves_qty=5,
                broker_order_id="SIM-00000123",
                ts_ns=WALL_NS + 2_500,
            ),
            ExecutionReport(
                seq=77,
                client_order_id="mm1-c-000012",
                intent_id="mm1-000020",
                strategy_id="mm1",
                symbol="2603",
                side=Side.SELL,
                exec_type=ExecType.FILL,
                status=OrderStatus.PARTIALLY_FILLED,
                price_e4=1_855_000,
                qty=5,
                cum_qty=2,
                leaves_qty=3,
                last_price_e4=1_850_000,
                last_qty=2,
                broker_order_id="SIM-00000123",
                ts_ns=WALL_NS + 3_000,
            ),
        ],
        last_published_seq=81,
    ),
    StormGuardState(
        seq=11,
        global_level=StormGuardLevel.WARM,
        strategy_levels={"mm1": StormGuardLevel.STORM, "arb2": StormGuardLevel.HALT},
        hold_fire=True,
        ts_ns=WALL_NS + 5_000,
        epoch=WALL_NS - 86_400_000_000_000,
        cancel_all=True,
        strategy_enabled={"mm1": False, "mo1": True},
        forced_levels={"arb2": StormGuardLevel.HALT},
        config_versions={"strategy_limits": "5f2c9a0d1e3b", "order_adapter": "a81b07c4d2e9"},
    ),
    StormGuardProposal(
        seq=3,
        scope="mm1",
        level=StormGuardLevel.HALT,
        reason="drawdown 2.5% >= halt 2%",
        ts_ns=WALL_NS + 6_000,
    ),
    RiskSnapshot(
        seq=8,
        positions=[
            PositionRow(strategy_id="mm1", symbol="2330", position=3, outstanding_buy=1, outstanding_sell=0),
            PositionRow(strategy_id="mm1", symbol="2317", position=-2, outstanding_buy=0, outstanding_sell=4),
        ],
        ts_ns=WALL_NS + 7_000,
        levels={"global": StormGuardLevel.WARM, "mm1": StormGuardLevel.STORM},
        trading_day="2025-10-09",
    ),
    ControlCommand(seq=2, verb="disable", target="mm1", ts_ns=WALL_NS + 8_000, request_id="ops.19a3.7"),
    OrdersDump(
        request_id="ops.19a3.7",
        orders=[
            OrderRow(client_order_id="mm1-c-000012", strategy_id="mm1", symbol="2330", side=Side.SELL,
                     status=OrderStatus.PARTIALLY_FILLED, price_e4=10_050_000, qty=5, cum_qty=2, leaves_qty=3,
                     price_type=PriceType.MKT, tif=TimeInForce.IOC, broker_order_id="SIM-00000123",
                     cancel_pending=True, unresolved=True, created_ts_ns=WALL_NS + 100, updated_ts_ns=WALL_NS + 200),
        ],
        gate=["hold_fire"],
        breaker="half_open",
        broker_usage=151,
        soft_cap=250,
        ts_ns=WALL_NS + 8_200,
    ),
    RiskDump(
        request_id="ops.19a3.8",
        positions=[PositionRow(strategy_id="mm1", symbol="2330", position=3, outstanding_buy=1, outstanding_sell=0)],
        scopes=[
            ScopeRow(scope="mm1", level=StormGuardLevel.STORM, own_level=StormGuardLevel.WARM,
                     control_level=StormGuardLevel.STORM, pnl_e4=-1_250_000_000, drawdown_pct=1.25,
                     capital_twd=10_000_000, enabled=False, limits={"max_order_qty": "10"},
                     peak_pnl_e4=250_000_000),
        ],
        hold_fire=True,
        broker_usage=42,
        ts_ns=WALL_NS + 8_300,
        trading_day="2025-10-09",
        replaying=True,
    ),
    Alert(seq=4, rule="stormguard_halt", severity=AlertSeverity.PAGE, subject="mm1",
          summary="StormGuard HALT on mm1: drawdown 1.52% >= 1.5%", ts_ns=WALL_NS + 8_500),
    Heartbeat(
        service=ServiceName.RISK,
        pid=4242,
        seq=60,
        ts_ns=WALL_NS + 9_000,
        metrics=[
            MetricSample(
                name="bad_messages_total", labels={"service": "risk", "socket": "intents"}, value=3.0
            ),
            MetricSample(name="intents_in_flight", value=12.5),
        ],
        final=True,
        instance="risk-b",
    ),
    ControlRequest(request_id="req-7", verb="status", args={"service": "risk", "verbose": "1"}, who="ops@desk-1"),
    ControlReply(
        request_id="req-7",
        ok=False,
        error="risk is silent",
        body={
            "services": {"risk": {"alive": False, "last_seen_ms": 3_400}},
            "levels": ["NORMAL", "WARM"],
            "hold_fire": True,
            "drawdown_pct": 1.25,
            "note": None,
        },
    ),
)

SAMPLES: dict[str, Message] = {type(sample).__struct_config__.tag: sample for sample in _SAMPLES}
"""Tag -> sample, in WIRE_MESSAGES order."""


def golden_path(tag: str) -> Path:
    return GOLDEN_DIR / f"{tag}.msgpack"


def stale() -> list[str]:
    """Tags whose golden file is missing or differs from the encoded sample."""
    out = []
    for tag, sample in SAMPLES.items():
        path = golden_path(tag)
        if not path.is_file() or path.read_bytes() != encode(sample):
            out.append(tag)
    return out


def write() -> list[Path]:
    written = []
    for tag, sample in SAMPLES.items():
        path = golden_path(tag)
        path.write_bytes(encode(sample))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.golden.samples", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--write", action="store_true", help="rewrite every golden file from the samples")
    args = parser.parse_args(argv)
    if args.write:
        for path in write():
            print(f"wrote {path}")
        return 0
    out_of_date = stale()
    for tag in out_of_date:
        print(f"{golden_path(tag)} is missing or out of date", file=sys.stderr)
    if out_of_date:
        print("run `python -m tests.golden.samples --write` if the wire change is intended", file=sys.stderr)
        return 1
    print(f"all {len(SAMPLES)} golden files are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
