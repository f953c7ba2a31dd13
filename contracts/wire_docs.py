"""What the wire's fields mean beyond their types: the clock of every nanosecond field, the unit of every
integer, the meaning of every enum value. contracts/schema.py writes these into contracts/schema.json, in
place, so a client in another language learns them from the schema it validates with (docs/wire.md says
the same at length).

Every integer on the wire is a signed 64-bit integer. Wall-clock nanoseconds (about 1.76e18 today) and
`epoch` are above 2^53, where an IEEE double (a JavaScript number) silently rounds: read them as 64-bit
integers (BigInt in JavaScript), and send every integer as a msgpack integer, never a float.
"""

from __future__ import annotations

from enum import StrEnum

from contracts.enums import (
    AlertSeverity,
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

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

WALL = "wall"
MONOTONIC = "monotonic"
DURATION = "duration"

NS_CLOCKS: dict[str, str] = {
    "ts_ns": WALL,
    "exch_ts_ns": WALL,
    "created_ts_ns": WALL,
    "updated_ts_ns": WALL,
    "epoch": WALL,
    "started_ns": WALL,
    "ingest_ts_ns": MONOTONIC,
    "deadline_ns": MONOTONIC,
    "approved_mono_ns": MONOTONIC,
    "window_ns": DURATION,
}
"""Every nanosecond field by name (a test checks none is missing): which clock it reads."""

CLOCK_TEXT = {
    WALL: ("Wall-clock time: nanoseconds since the Unix epoch (UTC), CLOCK_REALTIME. About 1.76e18, above 2^53, "
           "where a double rounds: read it as BigInt in JavaScript."),
    MONOTONIC: ("CLOCK_MONOTONIC nanoseconds of the host (Linux: time since boot, suspend excluded): comparable "
                "between processes of one host only, never across hosts."),
    DURATION: "A duration in nanoseconds.",
}

INTEGER_TEXT = "Signed 64-bit integer; send it as a msgpack integer, never a float."

FIELD_TEXT: dict[str, str] = {
    "v": "Schema version of the message (1). A receiver ignores fields it does not know.",
    "seq": ("Sequence number, from 1, per publisher and topic on a PUB stream (a gap means messages were "
            "dropped; a lower number means the publisher restarted); ExecutionReport: the adapter's journal "
            "numbering, continued across restarts; StormGuardState: the state's version; OrderIntent: the "
            "sender's own count of its intents (informational, risk does not check it). 0 on a message built "
            "to be numbered by its publisher."),
    "md_seq": "The seq of the MarketEvent that caused this intent (0: none); informational.",
    "exec_seq": "The seq of the newest ExecutionReport published before this message (0: none yet).",
    "first_seq": "First ExecutionReport seq of the range, inclusive.",
    "last_seq": "Last ExecutionReport seq of the range, inclusive.",
    "last_published_seq": "The newest ExecutionReport seq the adapter has published.",
    "qty": "Quantity: board lots (1000 shares) for stocks, contracts for futures.",
    "cum_qty": "Quantity filled so far (lots or contracts).",
    "leaves_qty": "Quantity still working (lots or contracts).",
    "last_qty": "Quantity of the last fill or trade (lots or contracts; MarketEvent: as the exchange prints it).",
    "approved_qty": "The quantity risk approved (possibly scaled down by StormGuard); 0 on a reject.",
    "position": "Net position (lots or contracts), negative short.",
    "outstanding_buy": "Working buy quantity (lots or contracts), counted from approval.",
    "outstanding_sell": "Working sell quantity (lots or contracts), counted from approval.",
    "bid_qtys": "Quantity at each bid level, best first.",
    "ask_qtys": "Quantity at each ask level, best first.",
    "total_volume": "The day's traded volume as the exchange reports it.",
    "unit": "Shares (or index points) per unit of qty: 1000 for a stock board lot, the multiplier for a future.",
    "pnl_e4": "Realized plus unrealized PnL at the book's mark, after costs: TWD x 10^4.",
    "peak_pnl_e4": "The trading day's highest PnL, drawdown's reference: TWD x 10^4.",
    "capital_twd": "Capital allocated to the scope, whole TWD.",
    "actions_in_window": "Broker actions in the sliding window.",
    "soft_cap": "The adapter's soft cap of broker actions per window.",
    "broker_usage": "Broker actions in the adapter's sliding window.",
    "pid": "Operating-system process id of the sender.",
    "tick_e4": "Tick size, TWD x 10^4; 0: the TWSE/TPEx stock ladder applies (docs/wire.md).",
}

PRICE_TEXT = ("Price in TWD x 10^4, an exact integer (580.5 TWD = 5805000); every TWSE, TPEx and TAIFEX tick "
              "divides 0.0001. 0 where no price applies (MKT orders, no last trade).")

ENUM_VALUES: dict[type[StrEnum], dict[str, str]] = {
    Side: {Side.BUY: "buy", Side.SELL: "sell"},
    IntentAction: {IntentAction.NEW: "a new order", IntentAction.AMEND: "change price or reduce qty of a live order",
                   IntentAction.CANCEL: "cancel a live order"},
    PriceType: {PriceType.LMT: "limit", PriceType.MKT: "market (risk values it at limit up)"},
    TimeInForce: {TimeInForce.ROD: "rest of day", TimeInForce.IOC: "immediate or cancel",
                  TimeInForce.FOK: "fill or kill"},
    InstrumentKind: {
        InstrumentKind.STOCK: "TWSE/TPEx common or preferred share (the stock tick ladder)",
        InstrumentKind.ETF: "exchange-traded fund or other beneficiary certificate (the ETF ladder: 0.01 below 50, "
                            "0.05 from 50)",
        InstrumentKind.ETN: "exchange-traded note (the ETF ladder)",
        InstrumentKind.TDR: "Taiwan depositary receipt (the stock ladder)",
        InstrumentKind.WARRANT: "call or put warrant (its own ladder; limits from the contract)",
        InstrumentKind.FUTURE: "TAIFEX future (index points; `unit` TWD a point)",
    },
    ExecType: {ExecType.ACK: "the broker took the order", ExecType.REJECT: "the order was refused",
               ExecType.AMENDED: "an amend took effect", ExecType.AMEND_REJECT: "an amend was refused",
               ExecType.CANCELLED: "the order was cancelled", ExecType.CANCEL_REJECT: "a cancel was refused",
               ExecType.FILL: "a (partial) fill", ExecType.EXPIRED: "an IOC/FOK remainder or a day order expired"},
    OrderStatus: {OrderStatus.PENDING_NEW: "sent, not acked", OrderStatus.WORKING: "live at the broker",
                  OrderStatus.PARTIALLY_FILLED: "live, partly filled", OrderStatus.FILLED: "done: filled",
                  OrderStatus.CANCELLED: "done: cancelled or expired", OrderStatus.REJECTED: "done: refused"},
    StormGuardLevel: {StormGuardLevel.NORMAL: "no restriction", StormGuardLevel.WARM: "size and order rate halved",
                      StormGuardLevel.STORM: "close only: only orders that reduce the position pass",
                      StormGuardLevel.HALT: "nothing but cancels; working orders cancelled; an operator releases"},
    ServiceName: {name: f"the {name} service" for name in ServiceName},
    AlertSeverity: {AlertSeverity.WARNING: "for the desk's screen", AlertSeverity.PAGE: "wakes whoever is on call"},
    Reason: {
        Reason.PRICE_BAND: "price outside the daily limits or the band around the book",
        Reason.OFF_TICK: "price not on the tick ladder",
        Reason.SIZE_LIMIT: "qty above the per-order limit",
        Reason.NOTIONAL_LIMIT: "order or gross notional above its limit",
        Reason.POSITION_LIMIT: "position plus same-side outstanding above the limit",
        Reason.ORDER_RATE: "too many intents in the sliding window",
        Reason.PNL_LIMIT: "PnL limit reached",
        Reason.STORMGUARD_CLOSE_ONLY: "STORM: only position-reducing orders pass",
        Reason.STORMGUARD_HALT: "HALT: nothing but cancels passes",
        Reason.STRATEGY_DISABLED: "the strategy is disabled (config or operator)",
        Reason.HOLD_FIRE: "the operator holds fire: no new orders",
        Reason.QUEUE_BACKPRESSURE: "the next hop is not taking orders",
        Reason.DUPLICATE_INTENT: "intent_id (or client_order_id) already seen",
        Reason.UNKNOWN_ORDER: "AMEND/CANCEL of an order never seen",
        Reason.TOO_LATE: "AMEND/CANCEL of an order already finished",
        Reason.UNKNOWN_INSTRUMENT: "symbol not in the instruments",
        Reason.STALE_MARKET_DATA: "no book young enough to check the price against",
        Reason.STALE_INTENT: "arrived past its deadline_ns",
        Reason.BROKER_REJECT: "the broker refused it",
        Reason.BROKER_TIMEOUT: "the broker did not answer in time",
        Reason.RATE_LIMITED: "the broker's action budget is spent",
        Reason.CIRCUIT_OPEN: "the adapter's circuit breaker is open",
        Reason.BAD_MESSAGE: "the message did not decode or validate: `detail` names the field",
        Reason.NO_LIQUIDITY: "nothing to fill a market/IOC/FOK order against",
        Reason.QTY_INCREASE: "an AMEND may not increase qty",
        Reason.SHUTTING_DOWN: "the adapter stopped before sending it: nothing reached the broker",
        Reason.TRADING_SUSPENDED: "the contract's trading is suspended (the broker's contract data)",
        Reason.DISPOSITION_ORDER_LOTS: "a disposition stock's lots-per-order cap",
        Reason.DISPOSITION_TOTAL_LOTS: "a disposition stock's cap on its lots in all orders of the day",
        Reason.DISPOSITION_CHURN: "a disposition stock's quote changed again within its match interval",
    },
}
"""The meaning of every value of every enum on the wire (a test checks none is missing)."""


def field_text(name: str) -> str | None:
    """What an integer field means and its unit or clock, or None when only its range is worth saying."""
    if name in NS_CLOCKS:
        return CLOCK_TEXT[NS_CLOCKS[name]]
    if name in FIELD_TEXT:
        return FIELD_TEXT[name]
    if name.endswith("_e4"):
        return PRICE_TEXT
    return None


def enum_text(enum: type[StrEnum]) -> str:
    """One line per value: `value`: meaning."""
    return "\n".join(f"- `{value}`: {meaning}" for value, meaning in ENUM_VALUES[enum].items())
