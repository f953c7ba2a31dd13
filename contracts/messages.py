"""Every message orderpath puts on a socket, as msgspec Structs encoded to msgpack.

Each message is one msgpack map `{"t": type, "v": schema version, ...fields}`. Decoding checks
types and names the offending field on failure; unknown fields are ignored so a newer sender can
talk to an older receiver; a missing required field is always an error.

Conventions: prices are fixed-point ×10⁴ (`*_e4`, see contracts.prices); quantities are integers
(board lots for Common stock orders, contracts for futures); `*_ts_ns` fields are wall-clock
nanoseconds for records, except `ingest_ts_ns`, `deadline_ns` and `*_mono_ns`, which are
CLOCK_MONOTONIC nanoseconds, comparable across processes on one host, used for latency and
deadlines. Every PUB stream carries `seq`, a per-publisher sequence number starting at 1, so a
subscriber can see what a full high-water mark dropped. ExecutionReport seqs are the adapter's
journal numbering, continued across restarts, so a subscriber asks for what it missed with an
ExecReplayRequest and gets an ExecReplay.
"""

from __future__ import annotations

from typing import Any

import msgspec

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

SCHEMA_VERSION = 1

GLOBAL_SCOPE = "global"
"""The StormGuard scope that covers every strategy (the others are strategy ids)."""


class Message(msgspec.Struct, kw_only=True, tag_field="t"):
    """Base of every wire message: the `t` tag names the type, `v` the schema version."""

    v: int = SCHEMA_VERSION


class InstrumentRef(Message, tag="instrument", kw_only=True):
    """Reference data for one tradable contract; limits are authoritative when the broker gives them."""

    symbol: str
    kind: InstrumentKind
    reference_e4: int
    limit_up_e4: int
    limit_down_e4: int
    unit: int
    tick_e4: int = 0
    seq: int = 0
    """Numbered per symbol by the feed's Publisher when it is sent on md; 0 when loaded from the file."""
    trading_day: str = ""
    """The Taipei date (YYYY-MM-DD) the broker's reference data is for; empty when loaded from the file."""
    day_trade: DayTrade | None = None
    """Whether the stock may be day traded (decides the day-trade tax); None: not known."""
    trading_suspended: bool = False
    """The exchange has suspended trading in it: every order is refused."""
    attention_flag: bool = False
    """On the exchange's attention list (注意股): unusual trading was announced; a warning, not a limit."""
    disposition_level: int = 0
    """0: not a disposition stock (處置股); 1 or 2: the regulator's disposition level."""
    disposition_match_interval_min: int = 0
    """A disposition stock's orders match only every this many minutes (0: continuous trading)."""
    disposition_max_lots_single_order: int = 0
    """A disposition stock's cap on lots in one order (0: none)."""
    disposition_max_lots_total_orders: int = 0
    """A disposition stock's cap on the lots of all the day's orders together (0: none)."""
    disposition_prepay_ratio: float = 0.0
    """The share of an order's value a disposition stock needs paid in advance (0: none)."""


class MarketEvent(Message, tag="md", kw_only=True, gc=False):
    """The book (up to five levels, best first) and the last trade of one symbol, after one update."""

    symbol: str
    seq: int
    exch_ts_ns: int
    ingest_ts_ns: int
    bid_prices_e4: list[int]
    bid_qtys: list[int]
    ask_prices_e4: list[int]
    ask_qtys: list[int]
    last_price_e4: int = 0
    last_qty: int = 0
    total_volume: int = 0


class OrderIntent(Message, tag="intent", kw_only=True, gc=False):
    """What a strategy wants done. `intent_id` is unique per strategy: the same id twice is one order."""

    intent_id: str
    strategy_id: str
    seq: int
    action: IntentAction
    client_order_id: str
    symbol: str
    side: Side
    qty: int
    price_e4: int
    price_type: PriceType = PriceType.LMT
    tif: TimeInForce = TimeInForce.ROD
    md_seq: int = 0
    created_ts_ns: int
    ingest_ts_ns: int
    deadline_ns: int


class RiskDecision(Message, tag="decision", kw_only=True, gc=False):
    """Risk's verdict on one intent; rejects go back to the strategy with their reason."""

    seq: int
    intent_id: str
    strategy_id: str
    client_order_id: str
    action: IntentAction
    approved: bool
    reason: Reason | None = None
    detail: str = ""
    approved_qty: int = 0
    stormguard_state: StormGuardLevel = StormGuardLevel.NORMAL
    ts_ns: int


class OrderCommand(Message, tag="order", kw_only=True, gc=False):
    """An approved, sanitized intent on its way to the broker."""

    intent_id: str
    strategy_id: str
    action: IntentAction
    client_order_id: str
    symbol: str
    side: Side
    qty: int
    price_e4: int
    price_type: PriceType = PriceType.LMT
    tif: TimeInForce = TimeInForce.ROD
    stormguard_state: StormGuardLevel = StormGuardLevel.NORMAL
    ingest_ts_ns: int
    approved_mono_ns: int
    deadline_ns: int


class ExecutionReport(Message, tag="exec", kw_only=True, gc=False):
    """What happened to one order at the broker: ack, fill, amend, cancel or reject."""

    seq: int
    client_order_id: str
    intent_id: str
    strategy_id: str
    symbol: str
    side: Side
    exec_type: ExecType
    status: OrderStatus
    price_e4: int
    qty: int
    cum_qty: int
    leaves_qty: int
    last_price_e4: int = 0
    last_qty: int = 0
    reason: Reason | None = None
    detail: str = ""
    broker_order_id: str = ""
    ts_ns: int


class AdapterUsage(Message, tag="usage", kw_only=True):
    """Broker actions spent in the sliding window, so risk can slow down before the cap, and
    whether the adapter's circuit breaker is open (StormGuard escalates on it)."""

    seq: int
    actions_in_window: int
    window_ns: int
    soft_cap: int
    breaker_open: bool = False
    exec_seq: int = 0
    """The seq of the newest ExecutionReport this adapter published before this message, on the same
    socket (0: none yet). Sent every heartbeat, so a subscriber that lost the LAST reports of a burst
    sees the trailing gap; a value below one already seen means the adapter's numbering restarted."""
    ts_ns: int


class ExecReplayRequest(Message, tag="exec_replay_req", kw_only=True):
    """A subscriber of the exec stream asks the adapter (its exec_replay ROUTER) for the reports with
    first_seq <= seq <= last_seq, which its PUB dropped before they reached the subscriber."""

    request_id: str
    first_seq: int
    last_seq: int


class ExecReplay(Message, tag="exec_replay", kw_only=True):
    """The adapter's answer to an ExecReplayRequest, from its journal: `first_seq` and `last_seq` echo
    the request; `reports` are the journal's reports in that range, ascending by seq, exactly as they
    were published; `last_published_seq` is the newest seq the adapter has published, so a client
    also sees a trailing gap (reports lost after the last one it received).

    `reports` may hold fewer than asked. The adapter answers at most a batch (its limit), always
    from the start of the range, and history may have been pruned. How a client continues:
    every seq from `first_seq` up to the seq of the last report in `reports` that is not in
    `reports` is gone from the journal and will never come (count it lost, go on); if the last
    report's seq is below `last_seq`, ask again from that seq + 1; if `reports` is empty, nothing
    in the range is in the journal any more.
    """

    request_id: str
    first_seq: int
    last_seq: int
    reports: list[ExecutionReport]
    last_published_seq: int


class StormGuardState(Message, tag="sg", kw_only=True):
    """Control's authoritative state: the StormGuard level of every scope and the operator's standing
    orders. Every message is the whole state, so a service applies the newest it has seen.

    `seq` is the state's version: it goes up by one on every change and the periodic re-broadcast
    repeats it, so a subscriber that sees it skip missed an update, and one that starts late asks
    control for the current state on the ops socket (ControlRequest verb "snapshot", the ZeroMQ
    guide's clone pattern). `epoch` names the lineage of the numbering: control keeps its state (and
    seq) across restarts in a file; a new epoch means the numbering started again, and a subscriber
    takes the new state whatever its seq. The levels are the effective ones (risk's proposal or the
    operator's forced level, the stricter); `forced_levels` shows which scopes an operator forced.
    """

    seq: int
    global_level: StormGuardLevel
    strategy_levels: dict[str, StormGuardLevel] = msgspec.field(default_factory=dict)
    hold_fire: bool = False
    ts_ns: int
    epoch: int = 0
    cancel_all: bool = False
    """The operator's kill switch: the adapter cancels every working order and takes no NEW until `resume`."""
    strategy_enabled: dict[str, bool] = msgspec.field(default_factory=dict)
    """The operator's enable/disable per strategy id; a strategy not listed runs as its config says."""
    forced_levels: dict[str, StormGuardLevel] = msgspec.field(default_factory=dict)
    config_versions: dict[str, str] = msgspec.field(default_factory=dict)
    """The version (a hash of the bytes) of each config file control validated last: a service running
    another version of a file it reloads asks control for that text (ControlRequest verb "config_get")."""


class StormGuardProposal(Message, tag="sg_proposal", kw_only=True):
    """Risk's own escalation of a scope (`global` or a strategy id), for control to merge."""

    seq: int
    scope: str
    level: StormGuardLevel
    reason: str
    ts_ns: int


class PositionRow(msgspec.Struct, kw_only=True):
    strategy_id: str
    symbol: str
    position: int
    outstanding_buy: int
    outstanding_sell: int


class RiskSnapshot(Message, tag="risk_snapshot", kw_only=True):
    """Risk's positions and its own StormGuard level per scope, every heartbeat interval. Control
    takes `levels` as proposals it may have missed (a dropped proposal, control restarted)."""

    seq: int
    positions: list[PositionRow]
    ts_ns: int
    levels: dict[str, StormGuardLevel] = msgspec.field(default_factory=dict)
    trading_day: str = ""
    """The desk's trading day (Taipei date, YYYY-MM-DD) risk's PnL and drawdowns are of: control alerts when
    it moves on (the rollover reset daily PnL, peaks and drawdown levels). Empty from an older risk."""


class ControlCommand(Message, tag="command", kw_only=True):
    """A one-off command broadcast by control: a StormGuard release for risk, a dump request (`request_id`
    set: the service answers control with an OrdersDump or a RiskDump on its ops DEALER), the kill switch's
    cancel_all/resume for the adapter. What must outlive a restart is in StormGuardState instead."""

    seq: int
    # A CommandVerb, kept a str on the wire: a service older than control ignores a verb it does not know,
    # where a typed field would drop the whole message as bad and lose its seq with it.
    verb: str
    target: str = ""
    ts_ns: int
    request_id: str = ""


class OrderRow(msgspec.Struct, kw_only=True):
    """One order of the adapter's live map, as an operator sees it."""

    client_order_id: str
    strategy_id: str
    symbol: str
    side: Side
    status: OrderStatus
    price_e4: int
    qty: int
    cum_qty: int
    leaves_qty: int
    price_type: PriceType = PriceType.LMT
    tif: TimeInForce = TimeInForce.ROD
    broker_order_id: str = ""
    cancel_pending: bool = False
    unresolved: bool = False
    """A NEW whose fate the adapter is still finding out (it timed out at the broker)."""
    created_ts_ns: int = 0
    updated_ts_ns: int = 0


class OrdersDump(Message, tag="orders_dump", kw_only=True):
    """The adapter's answer to a dump_orders command: every live order, the gate and the broker budget."""

    request_id: str
    orders: list[OrderRow]
    gate: list[str] = msgspec.field(default_factory=list)
    """Why the adapter takes no NEW right now (empty: it does): halt, operator, hold_fire."""
    breaker: str = "closed"
    broker_usage: int = 0
    soft_cap: int = 0
    ts_ns: int


class ScopeRow(msgspec.Struct, kw_only=True):
    """One StormGuard scope (`global` or a strategy) as risk sees it."""

    scope: str
    level: StormGuardLevel
    """What risk acts on: the stricter of its own level and control's."""
    own_level: StormGuardLevel
    control_level: StormGuardLevel
    pnl_e4: int
    """Realized plus unrealized at the book's mark, after costs, TWD ×10⁴."""
    drawdown_pct: float
    capital_twd: int
    enabled: bool = True
    limits: dict[str, str] = msgspec.field(default_factory=dict)
    """The strategy's order limits in force, as written in the config (a strategy scope only)."""
    peak_pnl_e4: int = 0
    """The trading day's highest PnL, TWD ×10⁴: drawdown is measured from it (0 at the day's start)."""


class RiskDump(Message, tag="risk_dump", kw_only=True):
    """Risk's answer to a dump_risk command: positions and outstanding, PnL, StormGuard and limits per scope."""

    request_id: str
    positions: list[PositionRow]
    scopes: list[ScopeRow]
    hold_fire: bool = False
    broker_usage: int = 0
    ts_ns: int
    trading_day: str = ""
    """The desk's trading day (Taipei date) the PnL and drawdowns are of."""
    replaying: bool = False
    """True while risk applies execution reports from before its start (peaks do not rise meanwhile)."""


class Alert(Message, tag="alert", kw_only=True):
    """An alert control raised (budget violations, StormGuard HALT, broker usage, a refused config, …),
    published on the control PUB for whoever watches the desk. `rule` names the rule (docs/operations.md
has a section per rule)."""

    seq: int
    rule: str
    severity: AlertSeverity
    subject: str
    summary: str
    ts_ns: int


class MetricSample(msgspec.Struct, kw_only=True):
    name: str
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    value: float


class PublishedStream(msgspec.Struct, kw_only=True):
    """Where one of a service's PUB streams is: the seq last sent on each of its topics."""

    stream: str
    """The endpoint's name in stack.yaml: md, exec, risk, control."""
    topics: dict[str, int] = msgspec.field(default_factory=dict)


class StreamFreshness(msgspec.Struct, kw_only=True):
    """How one stream a service subscribes to reaches it (services/runtime/stream_watch.py). Seqs are per
    topic: `received_seq` and `published_seq` are sums over the topics this subscriber takes, so they compare."""

    stream: str
    received_seq: int = 0
    published_seq: int = -1
    """-1: no live publisher of the stream is known to control."""
    age_ms: int = 0
    """Since the subscriber last saw anything new arrive on it (resolution: one heartbeat interval)."""
    reconnects: int = 0
    dead: bool = False
    """True from the moment the stream was found dead (and its socket made again) until something arrives."""


class Heartbeat(Message, tag="hb", kw_only=True):
    """A service says it is alive, with its counters; `final` is its last word before exiting. `instance` is
    the name control knows this process by when several of one service run (strategy-2); empty, the
    service's own name. `published` says which seq each of its PUB streams is at, `subscribed` how fresh
    each stream it subscribes to is; `started_ns` (wall clock) tells one run of a process from the next."""

    service: ServiceName
    pid: int
    seq: int
    ts_ns: int
    metrics: list[MetricSample] = msgspec.field(default_factory=list)
    final: bool = False
    instance: str = ""
    started_ns: int = 0
    published: list[PublishedStream] = msgspec.field(default_factory=list)
    subscribed: list[StreamFreshness] = msgspec.field(default_factory=list)


class ControlRequest(Message, tag="request", kw_only=True):
    """A request on the ops socket (status, …). `who` is what the client says it is (user@host, or a
    service name), recorded in the audit beside the CURVE key it was authenticated with."""

    request_id: str
    # A ControlVerb, kept a str on the wire and converted where control dispatches it
    # (services/control/desk.py): typed, an unknown verb would fail at decode and be answered only with the
    # decoder's "request not decoded", where control refuses it naming the verbs it knows; it is also not
    # logged nor audited as the request it was.
    verb: str
    args: dict[str, str] = msgspec.field(default_factory=dict)
    who: str = ""


class ControlReply(Message, tag="reply", kw_only=True):
    request_id: str
    ok: bool
    error: str = ""
    body: dict[str, Any] = msgspec.field(default_factory=dict)


WIRE_MESSAGES: tuple[type[Message], ...] = (
    InstrumentRef,
    MarketEvent,
    OrderIntent,
    RiskDecision,
    OrderCommand,
    ExecutionReport,
    AdapterUsage,
    ExecReplayRequest,
    ExecReplay,
    StormGuardState,
    StormGuardProposal,
    RiskSnapshot,
    ControlCommand,
    OrdersDump,
    RiskDump,
    Alert,
    Heartbeat,
    ControlRequest,
    ControlReply,
)
