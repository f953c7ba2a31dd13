"""Enumerations shared by every service: sides, order actions, reason codes, StormGuard levels.

Members are `StrEnum`s so they travel as plain strings on the wire (readable by any other
implementation) and compare equal to those strings in Python.
"""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class IntentAction(StrEnum):
    """What a strategy asks for: a new order, a change to a live one, or its cancellation."""

    NEW = "new"
    AMEND = "amend"
    CANCEL = "cancel"


class BrokerAction(StrEnum):
    """A call that spends the broker's order budget, by the name the adapter's journal and metrics give it."""

    PLACE = "place"
    UPDATE_PRICE = "update_price"
    UPDATE_QTY = "update_qty"
    CANCEL = "cancel"
    QUERY = "query"


class GateReason(StrEnum):
    """Why the adapter's gate is closed to NEWs; more than one may hold at once."""

    HALT = "halt"
    """StormGuard's global level is HALT: working orders are cancelled too."""
    OPERATOR = "operator"
    """The operator's cancel-all (the kill switch): working orders are cancelled too, until resume."""
    HOLD_FIRE = "hold_fire"
    """The operator's hold, or control found silent: NEWs are refused, working orders stay."""


class ControlVerb(StrEnum):
    """What a ControlRequest asks of control on its ops socket (the `orderpath ctl` verbs and the services' own)."""

    STATUS = "status"
    PING = "ping"
    SNAPSHOT = "snapshot"
    STREAM_HEADS = "stream_heads"
    CONFIG_GET = "config_get"
    ALERTS = "alerts"
    ORDERS_DUMP = "orders_dump"
    RISK_DUMP = "risk_dump"
    STORMGUARD_FORCE = "stormguard_force"
    STORMGUARD_RELEASE = "stormguard_release"
    HOLD = "hold"
    RESUME = "resume"
    CANCEL_ALL = "cancel_all"
    ENABLE_STRATEGY = "enable_strategy"
    DISABLE_STRATEGY = "disable_strategy"
    CONFIG_RELOAD = "config_reload"


class CommandVerb(StrEnum):
    """What a ControlCommand, broadcast by control, tells the services to do."""

    CANCEL_ALL = "cancel_all"
    RESUME = "resume"
    STORMGUARD_RELEASE = "stormguard_release"
    DUMP_ORDERS = "dump_orders"
    DUMP_RISK = "dump_risk"


class PriceType(StrEnum):
    LMT = "LMT"
    MKT = "MKT"


class TimeInForce(StrEnum):
    ROD = "ROD"
    IOC = "IOC"
    FOK = "FOK"


class InstrumentKind(StrEnum):
    """What a contract is, which decides its tick ladder, price limits and taxes (contracts.market_rules).

    stock: a common or preferred share (TWSE / TPEx). etf: an exchange-traded fund or another
    beneficiary certificate (a REIT, a futures ETF). etn: an exchange-traded note. tdr: a Taiwan
    depositary receipt (a foreign company's shares, traded like a stock). warrant: a call or put
    warrant. future: a TAIFEX futures contract (priced in index points, `unit` TWD a point).
    """

    STOCK = "stock"
    ETF = "etf"
    ETN = "etn"
    TDR = "tdr"
    WARRANT = "warrant"
    FUTURE = "future"


class DayTrade(StrEnum):
    """Whether a stock may be day traded (現股當沖), as the broker's contract says (Shioaji's DayTrade)."""

    YES = "yes"
    ONLY_BUY = "only_buy"
    """Buy first, sell later the same day only (no sell-first day trade)."""
    NO = "no"


class ExecType(StrEnum):
    """What happened to an order at the broker, as reported on the exec stream."""

    ACK = "ack"
    REJECT = "reject"
    AMENDED = "amended"
    AMEND_REJECT = "amend_reject"
    CANCELLED = "cancelled"
    CANCEL_REJECT = "cancel_reject"
    FILL = "fill"
    EXPIRED = "expired"


class OrderStatus(StrEnum):
    PENDING_NEW = "pending_new"
    WORKING = "working"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})


class Reason(StrEnum):
    """Why something was refused. One list for every service, so a count means the same everywhere."""

    PRICE_BAND = "price_band"
    OFF_TICK = "off_tick"
    SIZE_LIMIT = "size_limit"
    NOTIONAL_LIMIT = "notional_limit"
    POSITION_LIMIT = "position_limit"
    ORDER_RATE = "order_rate"
    PNL_LIMIT = "pnl_limit"
    STORMGUARD_CLOSE_ONLY = "stormguard_close_only"
    STORMGUARD_HALT = "stormguard_halt"
    STRATEGY_DISABLED = "strategy_disabled"
    HOLD_FIRE = "hold_fire"
    QUEUE_BACKPRESSURE = "queue_backpressure"
    DUPLICATE_INTENT = "duplicate_intent"
    UNKNOWN_ORDER = "unknown_order"
    TOO_LATE = "too_late"
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    STALE_MARKET_DATA = "stale_market_data"
    STALE_INTENT = "stale_intent"
    BROKER_REJECT = "broker_reject"
    BROKER_TIMEOUT = "broker_timeout"
    RATE_LIMITED = "rate_limited"
    CIRCUIT_OPEN = "circuit_open"
    BAD_MESSAGE = "bad_message"
    NO_LIQUIDITY = "no_liquidity"
    QTY_INCREASE = "qty_increase"
    TRADING_SUSPENDED = "trading_suspended"
    DISPOSITION_ORDER_LOTS = "disposition_order_lots"
    DISPOSITION_TOTAL_LOTS = "disposition_total_lots"
    DISPOSITION_CHURN = "disposition_churn"
    SHUTTING_DOWN = "shutting_down"
    """The adapter stopped before it could send the command: nothing reached the broker."""


class StormGuardLevel(StrEnum):
    """The drawdown-driven safety state, from least to most restrictive."""

    NORMAL = "NORMAL"
    WARM = "WARM"
    STORM = "STORM"
    HALT = "HALT"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {
    StormGuardLevel.NORMAL: 0,
    StormGuardLevel.WARM: 1,
    StormGuardLevel.STORM: 2,
    StormGuardLevel.HALT: 3,
}


def stricter(a: StormGuardLevel, b: StormGuardLevel) -> StormGuardLevel:
    """The more restrictive of two levels: every service acts on the stricter view."""
    return a if a.severity >= b.severity else b


class ServiceName(StrEnum):
    FEED = "feed"
    STRATEGY = "strategy"
    RISK = "risk"
    ADAPTER = "adapter"
    CONTROL = "control"


class AlertSeverity(StrEnum):
    """How loud an alert is: a page wakes whoever is on call, a warning is for the desk's screen."""

    WARNING = "warning"
    PAGE = "page"
