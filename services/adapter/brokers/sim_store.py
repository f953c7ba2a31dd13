"""What the simulated broker remembers: its orders, working and closed, its call log and its ids.

In memory by default. With a state file, every change is also written to SQLite (WAL,
synchronous=NORMAL: it survives the process being killed, not the host losing power), so a new
SimBroker on the same file, in a restarted adapter, sees the orders and the call log the broker
had: the real broker outlives its client.
In memory, closed orders and the call log are kept bounded, newest first (SimBrokerConfig's
closed_orders_kept and calls_kept); the file keeps everything. A closed order past that retention
is unknown to a query or a cancel ("order not found"), as an order from an earlier day is at a
real broker; the adapter queries only the orders it still tracks, seconds after they closed.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from contracts.enums import TERMINAL_STATUSES, OrderStatus, PriceType, Side, TimeInForce

CallRecord = tuple[int, str, str]
"""(mono_ns, action, client_order_id) of one call that reached the broker."""


@dataclass(slots=True)
class SimOrder:
    """One order at the broker. `qty` is the order's total after reductions; `deals` numbers its exec ids."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    price_e4: int
    qty: int
    price_type: PriceType
    tif: TimeInForce
    cum_qty: int = 0
    status: OrderStatus = OrderStatus.WORKING
    deals: int = 0
    places: int = 1
    """How many place calls reached the exchange with this client_order_id (more than one is a bug)."""

    @property
    def leaves_qty(self) -> int:
        return 0 if self.status in TERMINAL_STATUSES else self.qty - self.cum_qty

    @property
    def working(self) -> bool:
        return self.status not in TERMINAL_STATUSES


_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, broker_order_id TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    price_e4 INTEGER NOT NULL, qty INTEGER NOT NULL, price_type TEXT NOT NULL, tif TEXT NOT NULL,
    cum_qty INTEGER NOT NULL, status TEXT NOT NULL, deals INTEGER NOT NULL, places INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS calls (mono_ns INTEGER NOT NULL, action TEXT NOT NULL, client_order_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_TERMINAL = tuple(status.value for status in TERMINAL_STATUSES)


class _SqliteState:
    """The file behind a SimLedger: one row per order, one per call, and two counters."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def working_orders(self) -> list[SimOrder]:
        marks = ",".join("?" * len(_TERMINAL))
        rows = self._db.execute(f"SELECT * FROM orders WHERE status NOT IN ({marks}) ORDER BY broker_order_id",
                                _TERMINAL)
        return [_order(row) for row in rows]

    def closed_orders(self, newest: int) -> list[SimOrder]:
        """The newest `newest` closed orders, oldest first."""
        marks = ",".join("?" * len(_TERMINAL))
        rows = self._db.execute(f"SELECT * FROM orders WHERE status IN ({marks}) ORDER BY broker_order_id DESC "
                                "LIMIT ?", (*_TERMINAL, newest)).fetchall()
        return [_order(row) for row in reversed(rows)]

    def calls(self, newest: int) -> list[CallRecord]:
        rows = self._db.execute("SELECT mono_ns, action, client_order_id FROM calls ORDER BY rowid DESC LIMIT ?",
                                (newest,)).fetchall()
        return [(mono_ns, action, client_order_id) for mono_ns, action, client_order_id in reversed(rows)]

    def meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else 0

    def set_meta(self, key: str, value: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def log_call(self, call: CallRecord) -> None:
        self._db.execute("INSERT INTO calls VALUES (?, ?, ?)", call)

    def save_orders(self, orders: list[SimOrder], next_id: int) -> None:
        """One transaction: the changed orders and the id counter move together."""
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             [_row(order) for order in orders])
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('next_id', ?)", (next_id,))
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


def _row(order: SimOrder) -> tuple[object, ...]:
    return (order.client_order_id, order.broker_order_id, order.symbol, order.side.value, order.price_e4, order.qty,
            order.price_type.value, order.tif.value, order.cum_qty, order.status.value, order.deals, order.places)


def _order(row: tuple) -> SimOrder:
    (client_order_id, broker_order_id, symbol, side, price_e4, qty, price_type, tif, cum_qty, status, deals,
     places) = row
    return SimOrder(client_order_id, broker_order_id, symbol, Side(side), price_e4, qty, PriceType(price_type),
                    TimeInForce(tif), cum_qty, OrderStatus(status), deals, places)


class SimLedger:
    """The broker's memory. Callers mutate a SimOrder, then `update` it; `flush` writes what changed."""

    def __init__(self, state_file: Path | None, *, closed_kept: int, calls_kept: int) -> None:
        if closed_kept < 1 or calls_kept < 1:
            raise ValueError(f"closed_kept ({closed_kept}) and calls_kept ({calls_kept}) must be at least 1")
        self._closed_kept = closed_kept
        self._calls_kept = calls_kept
        self._state = _SqliteState(state_file) if state_file is not None else None
        self._working: dict[str, SimOrder] = {}
        self._by_symbol: dict[str, dict[str, SimOrder]] = {}
        self._closed: OrderedDict[str, SimOrder] = OrderedDict()
        self._calls: deque[CallRecord] = deque(maxlen=calls_kept)
        self._dirty: dict[str, SimOrder] = {}
        self._next_id = 0
        self._suspended_until_ns = 0
        if self._state is not None:
            self._load(self._state)

    def _load(self, state: _SqliteState) -> None:
        for order in state.working_orders():
            self._rest(order)
        for order in state.closed_orders(self._closed_kept):
            self._closed[order.client_order_id] = order
        self._calls.extend(state.calls(self._calls_kept))
        self._next_id = state.meta("next_id")
        self._suspended_until_ns = state.meta("suspended_until_ns")

    @property
    def working_count(self) -> int:
        return len(self._working)

    def working(self) -> list[SimOrder]:
        return list(self._working.values())

    def working_on(self, symbol: str) -> list[SimOrder]:
        """The working orders of one symbol, as a copy: matching closes some while iterating."""
        return list(self._by_symbol.get(symbol, {}).values())

    def get(self, client_order_id: str) -> SimOrder | None:
        order = self._working.get(client_order_id)
        return order if order is not None else self._closed.get(client_order_id)

    def known(self) -> Iterator[SimOrder]:
        yield from self._working.values()
        yield from self._closed.values()

    def next_broker_order_id(self) -> str:
        self._next_id += 1
        return f"S{self._next_id:08d}"

    def add(self, order: SimOrder) -> None:
        """A new order the exchange got (it may be closed at once: rejected, or filled by its own processing)."""
        self._rest(order)
        self.update(order)

    def update(self, order: SimOrder) -> None:
        """`order` changed: a terminal one leaves the working set; both are written at the next flush."""
        if not order.working and self._working.pop(order.client_order_id, None) is not None:
            self._by_symbol[order.symbol].pop(order.client_order_id, None)
            self._closed[order.client_order_id] = order
            while len(self._closed) > self._closed_kept:
                self._closed.popitem(last=False)
        self._dirty[order.client_order_id] = order

    def flush(self) -> None:
        if self._dirty and self._state is not None:
            self._state.save_orders(list(self._dirty.values()), self._next_id)
        self._dirty.clear()

    @property
    def calls(self) -> list[CallRecord]:
        return list(self._calls)

    def log_call(self, call: CallRecord) -> None:
        self._calls.append(call)
        if self._state is not None:
            self._state.log_call(call)

    @property
    def suspended_until_ns(self) -> int:
        return self._suspended_until_ns

    @suspended_until_ns.setter
    def suspended_until_ns(self, value: int) -> None:
        self._suspended_until_ns = value
        if self._state is not None:
            self._state.set_meta("suspended_until_ns", value)

    def close(self) -> None:
        if self._state is not None:
            self._state.close()

    def _rest(self, order: SimOrder) -> None:
        self._working[order.client_order_id] = order
        self._by_symbol.setdefault(order.symbol, {})[order.client_order_id] = order
