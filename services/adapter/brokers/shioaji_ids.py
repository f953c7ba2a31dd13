"""OrderIds: which Shioaji trade id belongs to which client_order_id, kept in SQLite.

Shioaji knows orders by its own trade id (Trade.order.id) and has no field for ours (custom_field
holds 6 characters). The broker learns the pair when the SDK answers a place, and writes it here
at once, so an adapter restarted in the middle of the day recognises its orders in list_trades
instead of taking them for someone else's. Used from the adapter's loop thread only; entries
older than `keep_days` are dropped when the file is opened (Shioaji's orders live one day).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from services.runtime.clock import Clock

NS_PER_DAY = 86_400 * 1_000_000_000


class OrderIds:
    def __init__(self, path: Path, clock: Clock, *, keep_days: int = 3) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS order_ids (trade_id TEXT PRIMARY KEY, "
                         "client_order_id TEXT NOT NULL, recorded_ns INTEGER NOT NULL)")
        self._db.execute("DELETE FROM order_ids WHERE recorded_ns < ?", (clock.wall_ns() - keep_days * NS_PER_DAY,))

    def record(self, client_order_id: str, trade_id: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO order_ids VALUES (?, ?, ?)",
                         (trade_id, client_order_id, self._clock.wall_ns()))

    def client_order_id(self, trade_id: str) -> str | None:
        row = self._db.execute("SELECT client_order_id FROM order_ids WHERE trade_id = ?", (trade_id,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._db.close()
