"""Checkpointer: moves the journal's -wal into the main file on its own thread.

A WAL checkpoint fsyncs the database: left to SQLite, it runs inside whichever commit crosses
1,000 WAL pages, about one order in 400, and stalls that order for milliseconds (bench/journal.py).
The adapter turns automatic checkpoints off (Journal(auto_checkpoint=False)) and runs this instead:
a PASSIVE checkpoint every interval from a second connection, which never blocks the writer; the
fsync happens here, off the order path. If a checkpoint fails it is logged and tried again at the
next interval; the -wal only grows meanwhile, nothing is lost.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import structlog


class Checkpointer:
    def __init__(self, path: Path, interval_s: float, log: structlog.stdlib.BoundLogger) -> None:
        self.path = path
        self.interval_s = interval_s
        self.log = log
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-checkpointer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval_s):
                self.checkpoint(connection)
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            busy, wal_pages, moved = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            self.log.error("journal_checkpoint_failed", path=str(self.path), error=str(exc))
            return
        self.checkpoints += 1
        if busy:
            self.log.debug("journal_checkpoint_partial", wal_pages=wal_pages, moved=moved)
