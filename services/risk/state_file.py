"""Risk's desk state on disk: what a restarted or replaced risk needs to be the one it replaces.

Positions and outstanding could be rebuilt from the adapter's journal, but PnL could not: the drawdown
peak depends on the marks between fills, which no journal keeps (a replay of fills without them invented a
peak the live risk never had). So risk writes its whole state here on a timer and at stop, with the seq of
the last execution report it covers; a restarted risk reads it back and replays only the reports after
that seq (services/risk/service.py). Written whole to a temporary file, then renamed: a crash of the
process leaves the old state or the new one, never half of one; the writes at stop and at a rollover are
fsynced too, the timer's are not (a host that loses power may lose the last seconds, and a file it leaves
unreadable is put aside and the journal replayed). JSON (msgspec), small: a few rows per strategy and
symbol. Not a wire contract: only risk reads it, and a file it cannot read is logged and left for a human.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from contracts.enums import Side, StormGuardLevel
from services.runtime.state_files import read_if_present, replace_atomically

STATE_VERSION = 1


class StateFileError(ValueError):
    """The state file exists but cannot be used; the message says which and why."""


class SavedPosition(msgspec.Struct, kw_only=True):
    strategy_id: str
    symbol: str
    qty: int


class SavedOrder(msgspec.Struct, kw_only=True):
    """A working order as risk counts it: outstanding until a report says it is finished."""

    client_order_id: str
    strategy_id: str
    symbol: str
    side: Side
    leaves_qty: int


class SavedShortFirstSell(msgspec.Struct, kw_only=True):
    """A sell fill of this trading day that went short, at the normal tax, until buys cover it as a sell-first
    day trade: its price and lots, those of its lots charged the day-trade rate so far, and those still short."""

    price_e4: int
    qty: int
    day_trade_qty: int
    open_qty: int


class SavedHolding(msgspec.Struct, kw_only=True):
    """One open position of a strategy's PnL account and its cost basis (TWD ×10⁴, signed), the lots of it
    bought this trading day not yet sold (a sell of them is a day trade), and the day's sells that went short
    not yet bought back (a buy of them makes a sell-first day trade). The last two are absent in files written
    before them."""

    symbol: str
    qty: int
    basis_e4: int
    day_bought: int = 0
    short_first: list[SavedShortFirstSell] = msgspec.field(default_factory=list)


class SavedAccount(msgspec.Struct, kw_only=True):
    """A strategy's PnL of the trading day: realized before costs, costs, and what it holds."""

    strategy_id: str
    gross_realized_e4: int
    costs_e4: int
    holdings: list[SavedHolding]


class SavedScope(msgspec.Struct, kw_only=True):
    """A StormGuard scope: its own level (not control's), the PnL and peak its drawdown is measured on,
    and since when it is at its level (wall clock: the monotonic clock does not outlive a reboot)."""

    scope: str
    level: StormGuardLevel
    pnl_e4: int
    peak_pnl_e4: int
    since_wall_ns: int


class RiskState(msgspec.Struct, kw_only=True):
    version: int = STATE_VERSION
    written_ts_ns: int
    trading_day: str
    """The desk's trading day (contracts.market_rules.trading_day) this state's PnL and peaks are of."""
    exec_seq: int
    """The seq of the last execution report applied: a restarted risk replays from the next one."""
    positions: list[SavedPosition]
    working: list[SavedOrder]
    accounts: list[SavedAccount]
    scopes: list[SavedScope]
    marks_e4: dict[str, int]
    """The last mark of every symbol held: PnL until the feed's books arrive, and yesterday's close at a
    rollover found at start."""


_decoder = msgspec.json.Decoder(RiskState)


def load_state(path: Path) -> RiskState | None:
    """The saved state, None if there is no file; StateFileError if it is unreadable, malformed or of
    another version."""
    try:
        data = read_if_present(path)
    except OSError as exc:
        raise StateFileError(f"{path}: cannot read: {exc.strerror}") from exc
    if data is None:
        return None
    try:
        state = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise StateFileError(f"{path}: {exc}") from exc
    if state.version != STATE_VERSION:
        raise StateFileError(f"{path}: version {state.version}, this risk reads version {STATE_VERSION}")
    return state


def save_state(path: Path, state: RiskState, *, durable: bool = True) -> None:
    """Replace the file atomically. `durable` also fsyncs it, so it outlives the host, not only the process:
    measured here on a 28 kB state, 2.5 ms a write with it against 0.9 ms without, on risk's loop."""
    replace_atomically(path, msgspec.json.encode(state), durable=durable)
