"""Journal: the order adapter's write-ahead record in SQLite, so a restart knows what it sent and what came back.

The order manager records every command before it reaches the broker and every broker answer
after, keeps each live order's latest state, and stores every ExecutionReport it publishes. On
start the adapter rebuilds its live order map from `open_orders()`, reconciles it with the broker,
continues report numbering after `last_report_seq()`, and answers replay requests with
`reports_between()`. The journal stores opaque bytes (the caller encodes them with msgspec) and
knows nothing of the order state machine.

Batching: every record_*, save/drop_order and prune_reports call joins one open transaction and
`commit()` ends it; the caller records a batch of commands, commits once, and only then calls the
broker. A journaled command may therefore not have been sent (the process died between commit
and send): start-up reconciliation asks the broker, never the journal, what is live there. If
`commit()` raises JournalError, nothing since the previous commit was journaled and the batch
must not be sent.

Durability is a choice (`durability`, docs/adapter.md has what each loses in which failure):
"process" (the default) writes each commit to the -wal file with write() and never fsyncs, so a
commit survives the adapter being killed at any moment (kill -9 included) but an OS crash or power
loss may lose the newest commits or leave a file SQLite refuses (the adapter then says so and the
broker's reconciliation rebuilds what is live); "power" fsyncs every commit, which survives those
too at milliseconds per commit.

Checkpoints (copying the -wal into the main file) are not run inside a commit, where SQLite would
run one every ~1000 pages on an order's path: after CHECKPOINT_AFTER_COMMITS commits the journal
asks for one through `when_idle` (the adapter's loop runs it when no message waits), and runs one
itself only if CHECKPOINT_FORCED_AFTER commits pass without an idle moment.

One process writes a journal: the adapter. Others may read it while it runs (WAL readers do not
block the writer), with a read-only SQLite connection. The -wal file next to the journal is part
of it, holding the newest commits until a checkpoint copies them into the main file: moving the
journal aside means moving its -wal (and -shm) with it.

Schema (version 1; `PRAGMA application_id` marks the file as an adapter journal):
runs(run_id, started_wall_ns), commands and events (run_id, wall_ns, client_order_id,
action or kind, payload), orders(client_order_id, wall_ns, payload), reports(seq, run_id,
wall_ns, payload). Timestamps are wall-clock ns from the injected Clock: they compare across
runs and hosts, monotonic ones would not.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from contracts.enums import BrokerAction
from services.runtime.clock import Clock
from services.runtime.config.order_adapter import JournalDurability

APPLICATION_ID = 0x4F504A4E  # "OPJN": tells an adapter journal from any other SQLite file
SCHEMA_VERSION = 1

ACTIONS = frozenset(BrokerAction)
"""The broker calls a command may journal: one per Broker method that spends the order budget."""

_SCHEMA = (
    "CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_wall_ns INTEGER NOT NULL)",
    "CREATE TABLE commands (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, wall_ns INTEGER NOT NULL, "
    "client_order_id TEXT NOT NULL, action TEXT NOT NULL, payload BLOB NOT NULL)",
    "CREATE TABLE events (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, wall_ns INTEGER NOT NULL, "
    "client_order_id TEXT NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL)",
    "CREATE TABLE orders (client_order_id TEXT PRIMARY KEY, wall_ns INTEGER NOT NULL, payload BLOB NOT NULL) "
    "WITHOUT ROWID",
    "CREATE TABLE reports (seq INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, wall_ns INTEGER NOT NULL, "
    "payload BLOB NOT NULL)",
)
# AUTOINCREMENT: a run id is never reused, even if the newest run rows were ever deleted.
# No index on commands or events by client_order_id: each is one more page written by every commit on an
# order's path (about 5 µs of a NEW's ~20, bench/journal.py), for lookups only a person investigating
# an order makes (commands_for, events_for: a scan). Journals made with them lose them at open.
_DROPPED_INDEXES = ("commands_by_order", "events_by_order")

_INSERT_COMMAND = "INSERT INTO commands (run_id, wall_ns, client_order_id, action, payload) VALUES (?, ?, ?, ?, ?)"
_INSERT_EVENT = "INSERT INTO events (run_id, wall_ns, client_order_id, kind, payload) VALUES (?, ?, ?, ?, ?)"
_UPSERT_ORDER = ("INSERT INTO orders (client_order_id, wall_ns, payload) VALUES (?, ?, ?) "
                 "ON CONFLICT (client_order_id) DO UPDATE SET wall_ns = excluded.wall_ns, payload = excluded.payload")
_DELETE_ORDER = "DELETE FROM orders WHERE client_order_id = ?"
_INSERT_REPORT = "INSERT INTO reports (seq, run_id, wall_ns, payload) VALUES (?, ?, ?, ?)"

# Keep the -wal file from staying at its largest size after a checkpoint (e.g. after a big prune).
_WAL_SIZE_LIMIT = 64 * 1024 * 1024

CHECKPOINT_AFTER_COMMITS = 32
"""Commits after which a checkpoint is asked for at the next idle moment. Measured (bench/journal.py):
a checkpoint of ~32 commits' pages costs tens of microseconds at "process", and a small -wal keeps
each commit's write cheap; at "power" it costs an fsync of the main file, which is why it waits for idle."""
CHECKPOINT_FORCED_AFTER = 4096
"""Commits after which the journal checkpoints inside commit() because no idle moment came: the -wal
must not grow without bound under a flood."""

_SYNCHRONOUS: dict[JournalDurability, str] = {"process": "OFF", "power": "FULL"}


def _lock(path: Path) -> IO[bytes]:
    """Hold `<path>.lock` exclusively (released when the file closes, or when the process dies)."""
    lock_path = path.with_name(path.name + ".lock")
    lock_file = open(lock_path, "ab")  # noqa: SIM115 - held open for the life of the journal
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise JournalError(f"{path} is in use by another process, most likely another adapter ({lock_path} is "
                           "locked): stop it, or give this adapter its own journal.path") from None
    return lock_file


class JournalError(Exception):
    """The journal file cannot be used: the message names it and says what to do about it."""


class Journal:
    """One adapter run's handle on the journal file: opening it starts a new run.

    Every failure of the file (unreadable, corrupt, full, I/O error) raises JournalError; a caller
    mistake (unknown action, a report seq that does not move forward) raises ValueError. A
    JournalError from a write or from commit() rolls back the pending batch, so nothing since the
    previous commit is journaled and none of its commands may be sent. Not thread-safe: the
    adapter's loop thread is the only user.
    """

    def __init__(self, path: Path, clock: Clock, *, single_writer: bool = False,
                 durability: JournalDurability = "process",
                 when_idle: Callable[[Callable[[], None]], None] | None = None) -> None:
        """`single_writer=True` holds an exclusive lock on `<path>.lock` for the life of the handle: a
        second adapter started on the same journal is refused. `when_idle(callback)` runs the callback
        once the caller has nothing more urgent to do (the loop's idle moment); without it, checkpoints
        run inside commit() when due."""
        self.path = path
        self.clock = clock
        self.durability = durability
        self._when_idle = when_idle
        self._pending = False
        self._commits_since_checkpoint = 0
        self._checkpoint_asked = False
        self._lock_file: IO[bytes] | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if single_writer:
                self._lock_file = _lock(path)
            self._conn = sqlite3.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            if self._lock_file is not None:
                self._lock_file.close()
            raise JournalError(f"cannot open the adapter journal {path}: {exc}") from exc
        try:
            self._prepare()
            self.run_id: int = self._conn.execute("INSERT INTO runs (started_wall_ns) VALUES (?) RETURNING run_id",
                                                  (clock.wall_ns(),)).fetchone()[0]
            self._last_report_seq: int = self._conn.execute("SELECT coalesce(max(seq), 0) FROM reports").fetchone()[0]
        except sqlite3.Error as exc:
            self._release()
            raise self._failure(exc) from exc
        except JournalError:
            self._release()
            raise
        self._committed_report_seq = self._last_report_seq

    def _prepare(self) -> None:
        """Refuse any SQLite file that is not an adapter journal of this schema version, before changing
        anything in it; create the schema in a new file; then WAL, the durability's synchronous setting
        and no autocheckpoint (see the module docstring)."""
        conn = self._conn
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        new = application_id == 0 and conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] == 0
        if not new and application_id != APPLICATION_ID:
            raise JournalError(f"{self.path} is a SQLite database but not an adapter journal: point journal.path "
                               "elsewhere, or move the file aside to start with an empty journal")
        if not new and version != SCHEMA_VERSION:
            raise JournalError(f"{self.path} has journal schema version {version} and this adapter reads version "
                               f"{SCHEMA_VERSION}: run the adapter that wrote it, or move the file aside")
        if new:
            # Before WAL mode, so the schema and application_id are in the main file itself: a main file
            # later separated from its -wal is still recognised as a journal, never taken for a new one.
            conn.execute("BEGIN")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise JournalError(f"{self.path}: SQLite refused WAL mode (got {mode!r}); put the journal on a local "
                               "filesystem")
        conn.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[self.durability]}")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
        for index in _DROPPED_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {index}")

    def _failure(self, exc: sqlite3.Error) -> JournalError:
        """The JournalError for what SQLite raised: a damaged file says so and what to do."""
        if (getattr(exc, "sqlite_errorname", None) or "").startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
            return JournalError(f"{self.path} is not a SQLite journal or is corrupt ({exc}): move it aside, with "
                                "its -wal and -shm files, to start with an empty journal")
        return JournalError(f"adapter journal {self.path}: {exc}")

    def _abandon(self, exc: sqlite3.Error) -> JournalError:
        """Roll back the pending batch after a failed write or commit, and say that nothing of it was kept."""
        self._pending = False
        self._last_report_seq = self._committed_report_seq
        with contextlib.suppress(sqlite3.Error):  # a file that failed may fail the rollback too: the first error tells
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        failure = self._failure(exc)
        return JournalError(f"{failure}; nothing since the previous commit was journaled")

    # Writes: each joins the open transaction, starting one if none is; commit() makes them durable.

    def _begin(self) -> None:
        self._conn.execute("BEGIN")
        self._pending = True

    def record_command(self, client_order_id: str, action: BrokerAction, payload: bytes) -> None:
        """A command about to be sent to the broker; `action` is one of ACTIONS."""
        if action not in ACTIONS:
            raise ValueError(f"unknown command action {action!r}: one of {sorted(ACTIONS)}")
        try:
            if not self._pending:
                self._begin()
            self._conn.execute(_INSERT_COMMAND, (self.run_id, self.clock.wall_ns(), client_order_id, action, payload))
        except sqlite3.Error as exc:
            raise self._abandon(exc) from exc

    def record_event(self, client_order_id: str, kind: str, payload: bytes) -> None:
        """A broker answer about one order, as received; `kind` is the caller's (e.g. the ExecType)."""
        try:
            if not self._pending:
                self._begin()
            self._conn.execute(_INSERT_EVENT, (self.run_id, self.clock.wall_ns(), client_order_id, kind, payload))
        except sqlite3.Error as exc:
            raise self._abandon(exc) from exc

    def save_order(self, client_order_id: str, payload: bytes) -> None:
        """The live order's latest state, replacing the previous one: what `open_orders` returns after a restart."""
        try:
            if not self._pending:
                self._begin()
            self._conn.execute(_UPSERT_ORDER, (client_order_id, self.clock.wall_ns(), payload))
        except sqlite3.Error as exc:
            raise self._abandon(exc) from exc

    def drop_order(self, client_order_id: str) -> None:
        """The order reached a terminal state: it is no longer rebuilt on start (its history stays)."""
        try:
            if not self._pending:
                self._begin()
            self._conn.execute(_DELETE_ORDER, (client_order_id,))
        except sqlite3.Error as exc:
            raise self._abandon(exc) from exc

    def record_report(self, seq: int, payload: bytes) -> None:
        """An ExecutionReport as published under `seq`, which must exceed every seq recorded before,
        in this run or an earlier one: numbering across restarts and replay rely on it."""
        if seq <= self._last_report_seq:
            raise ValueError(f"report seq {seq} does not follow the last recorded seq {self._last_report_seq}")
        try:
            if not self._pending:
                self._begin()
            self._conn.execute(_INSERT_REPORT, (seq, self.run_id, self.clock.wall_ns(), payload))
        except sqlite3.Error as exc:
            raise self._abandon(exc) from exc
        self._last_report_seq = seq

    def prune_reports(self, keep: int) -> int:
        """Delete all but the newest `keep` reports, durable at the next commit; returns how many went.

        At least one is kept: the newest seq is where the next run continues numbering.
        """
        if keep < 1:
            raise ValueError(f"keep must be at least 1, not {keep}: the newest report carries the seq to continue")
        try:
            row = self._conn.execute("SELECT seq FROM reports ORDER BY seq DESC LIMIT 1 OFFSET ?", (keep,)).fetchone()
            if row is None:
                return 0
            if not self._pending:
                self._begin()
            return self._conn.execute("DELETE FROM reports WHERE seq <= ?", (row[0],)).rowcount
        except sqlite3.Error as exc:
            raise self._abandon(exc) from exc

    def commit(self) -> None:
        """Make everything recorded since the last commit durable against a process crash; a no-op
        when nothing is pending. On JournalError none of it was kept (see the class docstring)."""
        if not self._pending:
            return
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._abandon(exc) from exc
        self._pending = False
        self._committed_report_seq = self._last_report_seq
        self._commits_since_checkpoint += 1
        if self._commits_since_checkpoint < CHECKPOINT_AFTER_COMMITS:
            return
        if self._when_idle is None or self._commits_since_checkpoint >= CHECKPOINT_FORCED_AFTER:
            self.checkpoint()
        elif not self._checkpoint_asked:
            self._checkpoint_asked = True
            self._when_idle(self.checkpoint)

    def checkpoint(self) -> None:
        """Copy the -wal's committed pages into the main file (PASSIVE: it never waits for a reader), so the
        next commit starts the -wal over. What is recorded and not yet committed stays pending."""
        self._checkpoint_asked = False
        if self._pending or not self._commits_since_checkpoint:
            return
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # all rows: the statement must end
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc
        self._commits_since_checkpoint = 0

    def close(self) -> None:
        """Commit what is pending, then release the file (the last connection to close checkpoints the -wal)."""
        try:
            self.commit()
        finally:
            self._release()

    def _release(self) -> None:
        self._conn.close()
        if self._lock_file is not None:
            self._lock_file.close()  # closing the descriptor releases the flock

    # Reads: they see this run's records, committed or not.

    def open_orders(self) -> list[bytes]:
        """The latest saved state of every order saved and not dropped, in client_order_id order."""
        return [row[0] for row in self._rows("SELECT payload FROM orders ORDER BY client_order_id", ())]

    def last_report_seq(self) -> int:
        """The highest report seq ever recorded, in any run; 0 when there has been none."""
        return self._last_report_seq

    def reports_between(self, first_seq: int, last_seq: int, limit: int) -> list[tuple[int, bytes]]:
        """(seq, payload) of the reports with first_seq <= seq <= last_seq, ascending, at most `limit`.

        Pruned reports are missing, so an answer may start after first_seq: the caller compares.
        """
        if limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}")  # SQLite reads a negative LIMIT as none
        return self._rows("SELECT seq, payload FROM reports WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?",
                          (first_seq, last_seq, limit))

    def command_times_since(self, wall_ns: int) -> list[int]:
        """Wall-clock stamps of the commands journaled after `wall_ns`, in any run, oldest first: the
        broker calls a restarted adapter's rate limiter must still count."""
        times: list[int] = []
        try:
            # Newest first, stopping at the first older one: the table is never pruned, the window is short.
            for (stamp,) in self._conn.execute("SELECT wall_ns FROM commands ORDER BY id DESC"):
                if stamp <= wall_ns:
                    break
                times.append(stamp)
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc
        times.reverse()
        return times

    def client_order_id_used(self, client_order_id: str) -> bool:
        """Whether any command was ever journaled for this id, in any run (tests, ops: a scan of commands)."""
        return bool(self._rows("SELECT 1 FROM commands WHERE client_order_id = ? LIMIT 1", (client_order_id,)))

    def commands_for(self, client_order_id: str) -> list[tuple[str, bytes]]:
        """(action, payload) of every command journaled for this id, in any run, oldest first (tests, ops: a scan)."""
        return self._rows("SELECT action, payload FROM commands WHERE client_order_id = ? ORDER BY id",
                          (client_order_id,))

    def events_for(self, client_order_id: str) -> list[tuple[str, bytes]]:
        """(kind, payload) of every broker answer journaled for this id, in any run, oldest first (a scan)."""
        return self._rows("SELECT kind, payload FROM events WHERE client_order_id = ? ORDER BY id",
                          (client_order_id,))

    def _rows(self, sql: str, parameters: tuple[object, ...]) -> list[Any]:
        """All rows of one query; a damaged file raises JournalError, as writes do."""
        try:
            return self._conn.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc
