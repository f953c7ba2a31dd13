"""services.adapter.journal: the adapter's SQLite journal, on real files, across reopens and process kills."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import sqlite3
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

import services.adapter.journal as journal_module
from services.adapter.journal import CHECKPOINT_AFTER_COMMITS, Journal, JournalError
from services.runtime.clock import FakeClock
from services.runtime.config.order_adapter import JournalDurability

CHILD_TIMEOUT_S = 60  # only bounds a broken child; a healthy one answers in well under a second


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "adapter-journal.sqlite"


@pytest.fixture
def opened(path: Path) -> Iterator[Callable[[], Journal]]:
    """Opens journals on `path` (one run each) and closes whatever a test left open."""
    journals: list[Journal] = []

    def open_journal() -> Journal:
        journals.append(Journal(path, FakeClock()))
        return journals[-1]

    yield open_journal
    for journal in journals:
        journal.close()


def reopen(journal: Journal) -> Journal:
    journal.close()
    return Journal(journal.path, FakeClock())


def run_child(target: Callable[[Path, Connection], None], path: Path) -> tuple[object, multiprocessing.Process]:
    """Start `target(path, pipe)` in a fresh interpreter and return the first thing it sends back."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=target, args=(path, theirs))
    child.start()
    if not ours.poll(CHILD_TIMEOUT_S):
        child.kill()
        child.join()
        pytest.fail(f"the child sent nothing (exit code {child.exitcode})")
    return ours.recv(), child


def test_creates_parent_directories_and_the_file(path: Path, opened: Callable[[], Journal]) -> None:
    assert not path.parent.exists()
    opened()
    assert path.is_file()


def test_open_orders_after_reopen_are_the_saved_and_not_dropped(opened: Callable[[], Journal]) -> None:
    journal = opened()
    journal.save_order("mm1.a.1", b"one v1")
    journal.save_order("mm1.a.2", b"two")
    journal.save_order("mm1.a.3", b"three")
    journal.save_order("mm1.a.1", b"one v2")
    journal.drop_order("mm1.a.2")
    journal.commit()
    assert reopen(journal).open_orders() == [b"one v2", b"three"]


def test_close_commits_what_is_pending(opened: Callable[[], Journal]) -> None:
    journal = opened()
    journal.save_order("mm1.a.1", b"one")
    assert reopen(journal).open_orders() == [b"one"]


def test_another_connection_sees_a_batch_only_once_committed(path: Path) -> None:
    clock = FakeClock(wall_ns=1_760_000_000_123_456_789)
    journal = Journal(path, clock)
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        journal.record_command("mm1.a.1", "place", b"new 1")
        journal.record_command("mm1.a.2", "place", b"new 2")
        assert journal.commands_for("mm1.a.1") == [("place", b"new 1")]  # the writer sees its own batch
        assert reader.execute("SELECT count(*) FROM commands").fetchone()[0] == 0
        journal.commit()
        rows = reader.execute("SELECT run_id, wall_ns, client_order_id, action FROM commands ORDER BY id").fetchall()
        assert rows == [(journal.run_id, clock.wall_ns(), "mm1.a.1", "place"),
                        (journal.run_id, clock.wall_ns(), "mm1.a.2", "place")]
    finally:
        reader.close()
        journal.close()


def _record_then_wait_to_be_killed(path: Path, pipe: Connection) -> None:
    """Child: one committed batch, one uncommitted, then wait for SIGKILL."""
    journal = Journal(path, FakeClock())
    journal.record_command("mm1.a.1", "place", b"new 1")
    journal.save_order("mm1.a.1", b"working 1")
    journal.record_report(1, b"ack 1")
    journal.commit()
    journal.record_command("mm1.a.2", "place", b"new 2")
    journal.save_order("mm1.a.2", b"working 2")
    journal.drop_order("mm1.a.1")
    journal.record_report(2, b"ack 2")
    pipe.send("recorded")
    pipe.recv()  # never answered: the parent kills us here


def test_kill_9_keeps_what_was_committed_and_nothing_else(path: Path, opened: Callable[[], Journal]) -> None:
    said, child = run_child(_record_then_wait_to_be_killed, path)
    assert said == "recorded"
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert child.exitcode == -signal.SIGKILL
    assert Path(f"{path}-wal").stat().st_size > 0  # the commit lives in the -wal: recovery has to read it

    journal = opened()
    assert journal.run_id == 2
    assert journal.open_orders() == [b"working 1"]
    assert journal.last_report_seq() == 1
    assert journal.reports_between(1, 10, 10) == [(1, b"ack 1")]
    assert journal.commands_for("mm1.a.1") == [("place", b"new 1")]
    assert not journal.client_order_id_used("mm1.a.2")


def _fail_a_commit(path: Path, pipe: Connection) -> None:
    """Child: a commit whose -wal append the kernel refuses (file size limit), then a commit that works."""
    journal = Journal(path, FakeClock())
    journal.record_command("mm1.a.1", "place", b"new 1")
    journal.commit()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so the write fails with EFBIG instead of killing us
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (Path(f"{path}-wal").stat().st_size, hard))
    journal.record_command("mm1.a.2", "place", b"new 2")
    journal.save_order("mm1.a.2", b"working 2")
    journal.record_report(1, b"ack 2")
    try:
        journal.commit()
        error = "committed"
    except JournalError as exc:
        error = str(exc)
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    seen = (journal.last_report_seq(), journal.open_orders(), journal.client_order_id_used("mm1.a.2"))
    journal.record_command("mm1.a.3", "place", b"new 3")
    journal.commit()
    journal.close()
    pipe.send((error, seen))


def test_a_failed_commit_raises_and_keeps_none_of_the_batch(path: Path, opened: Callable[[], Journal]) -> None:
    (error, seen), child = run_child(_fail_a_commit, path)
    child.join()
    assert child.exitcode == 0
    assert str(path) in error
    assert "nothing since the previous commit was journaled" in error
    assert seen == (0, [], False)  # rolled back in the process that failed

    journal = opened()
    assert journal.commands_for("mm1.a.2") == []
    assert journal.client_order_id_used("mm1.a.1")
    assert journal.client_order_id_used("mm1.a.3")  # the journal works again after the failure


def test_report_seq_continues_across_runs(opened: Callable[[], Journal]) -> None:
    journal = opened()
    assert journal.last_report_seq() == 0
    for seq in (1, 2, 3):
        journal.record_report(seq, f"report {seq}".encode())
    journal = reopen(journal)
    assert journal.last_report_seq() == 3
    with pytest.raises(ValueError, match="report seq 3 does not follow the last recorded seq 3"):
        journal.record_report(3, b"again")
    journal.record_report(4, b"report 4")
    assert journal.last_report_seq() == 4
    assert journal.reports_between(2, 4, 10) == [(2, b"report 2"), (3, b"report 3"), (4, b"report 4")]


def test_reports_between_is_an_ascending_inclusive_range_cut_at_limit(opened: Callable[[], Journal]) -> None:
    journal = opened()
    for seq in range(1, 11):
        journal.record_report(seq, f"r{seq}".encode())
    journal.commit()
    assert [seq for seq, _ in journal.reports_between(3, 7, 100)] == [3, 4, 5, 6, 7]
    assert journal.reports_between(3, 7, 2) == [(3, b"r3"), (4, b"r4")]
    assert [seq for seq, _ in journal.reports_between(8, 1_000, 100)] == [8, 9, 10]
    assert journal.reports_between(11, 20, 100) == []
    assert journal.reports_between(5, 4, 100) == []
    assert journal.reports_between(1, 10, 0) == []
    with pytest.raises(ValueError, match="limit must not be negative"):
        journal.reports_between(1, 10, -1)


def test_prune_keeps_the_newest_reports_and_the_seq_to_continue(opened: Callable[[], Journal]) -> None:
    journal = opened()
    for seq in range(1, 11):
        journal.record_report(seq, f"r{seq}".encode())
    assert journal.prune_reports(3) == 7
    assert journal.prune_reports(3) == 0
    assert journal.prune_reports(100) == 0
    with pytest.raises(ValueError, match="keep must be at least 1"):
        journal.prune_reports(0)
    journal = reopen(journal)
    assert journal.reports_between(1, 10, 100) == [(8, b"r8"), (9, b"r9"), (10, b"r10")]
    assert journal.prune_reports(1) == 2
    journal = reopen(journal)
    assert journal.last_report_seq() == 10
    assert journal.reports_between(1, 10, 100) == [(10, b"r10")]


def test_run_ids_increase_with_each_open(opened: Callable[[], Journal]) -> None:
    runs = []
    for _ in range(3):
        journal = opened()
        runs.append(journal.run_id)
        journal.close()
    assert runs == sorted(runs)
    assert len(set(runs)) == 3


def test_client_order_id_used_counts_commands_of_every_run(opened: Callable[[], Journal]) -> None:
    journal = opened()
    journal.record_command("mm1.a.1", "place", b"new")
    journal.record_event("mm1.z.9", "fill", b"a deal for an order we never sent")
    journal = reopen(journal)
    assert journal.client_order_id_used("mm1.a.1")
    assert not journal.client_order_id_used("mm1.z.9")
    assert not journal.client_order_id_used("mm1.a.2")


def test_commands_and_events_of_one_order_in_journal_order(opened: Callable[[], Journal]) -> None:
    journal = opened()
    journal.record_command("mm1.a.1", "place", b"new")
    journal.record_command("mm1.a.2", "place", b"other")
    journal.record_event("mm1.a.1", "ack", b"acked")
    journal.record_command("mm1.a.1", "update_price", b"amend")
    journal.record_event("mm1.a.1", "amended", b"amended")
    journal = reopen(journal)
    journal.record_command("mm1.a.1", "cancel", b"cancel")
    assert journal.commands_for("mm1.a.1") == [("place", b"new"), ("update_price", b"amend"), ("cancel", b"cancel")]
    assert journal.events_for("mm1.a.1") == [("ack", b"acked"), ("amended", b"amended")]


def test_an_unknown_command_action_is_refused(opened: Callable[[], Journal]) -> None:
    journal = opened()
    with pytest.raises(ValueError, match="unknown command action 'amend'"):
        journal.record_command("mm1.a.1", "amend", b"")
    assert not journal.client_order_id_used("mm1.a.1")


def test_a_file_that_is_not_sqlite_is_refused_with_its_path(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database, " * 200)
    with pytest.raises(JournalError, match="is not a SQLite journal or is corrupt") as caught:
        Journal(path, FakeClock())
    assert str(path) in str(caught.value)
    assert "move it aside" in str(caught.value)
    assert path.read_bytes() == b"this is not a database, " * 200


def test_another_sqlite_database_is_refused_untouched(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE orders (id INTEGER)")
    other.close()
    with pytest.raises(JournalError, match="is a SQLite database but not an adapter journal") as caught:
        Journal(path, FakeClock())
    assert str(path) in str(caught.value)
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT name FROM sqlite_schema").fetchall() == [("orders",)]
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    other.close()


def test_a_journal_of_another_schema_version_is_refused(path: Path) -> None:
    Journal(path, FakeClock()).close()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 2")
    raw.close()
    with pytest.raises(JournalError, match="has journal schema version 2 and this adapter reads version 1"):
        Journal(path, FakeClock())


def test_a_path_that_cannot_be_opened_names_it(path: Path) -> None:
    path.mkdir(parents=True)
    with pytest.raises(JournalError, match="cannot open the adapter journal") as caught:
        Journal(path, FakeClock())
    assert str(path) in str(caught.value)


def _smash_table(path: Path, table: str) -> None:
    """Overwrite the root page of `table` in a closed (checkpointed) journal with garbage."""
    raw = sqlite3.connect(path)
    root = raw.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?", (table,)).fetchone()[0]
    page_size = raw.execute("PRAGMA page_size").fetchone()[0]
    raw.close()
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xff" * page_size)


def test_a_corrupt_table_fails_the_read_with_the_path(path: Path, opened: Callable[[], Journal]) -> None:
    journal = opened()
    journal.save_order("mm1.a.1", b"working")
    journal.close()
    _smash_table(path, "orders")
    journal = opened()
    with pytest.raises(JournalError, match="is not a SQLite journal or is corrupt") as caught:
        journal.open_orders()
    assert str(path) in str(caught.value)


def test_a_write_that_fails_rolls_back_the_whole_batch(path: Path, opened: Callable[[], Journal]) -> None:
    opened().close()
    _smash_table(path, "commands")
    journal = opened()
    journal.save_order("mm1.a.1", b"working")
    journal.record_report(1, b"ack")
    with pytest.raises(JournalError, match="nothing since the previous commit was journaled") as caught:
        journal.record_command("mm1.a.1", "place", b"new")
    assert str(path) in str(caught.value)
    assert journal.open_orders() == []
    assert journal.last_report_seq() == 0


def test_a_second_single_writer_on_the_same_journal_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    first = Journal(path, FakeClock(), single_writer=True)
    with pytest.raises(JournalError, match="in use by another process"):
        Journal(path, FakeClock(), single_writer=True)
    first.close()
    Journal(path, FakeClock(), single_writer=True).close()


def _commit_orders(journal: Journal, first: int, count: int) -> None:
    for n in range(first, first + count):
        journal.record_command(f"mm1.c.{n}", "place", bytes(200))
        journal.save_order(f"mm1.c.{n}", bytes(200))
        journal.commit()


def wal_frames(path: Path) -> int:
    """Frames in the -wal since it last started over, as another connection sees them (a commit here is a
    few frames; without checkpoints they pile up by hundreds)."""
    with contextlib.closing(sqlite3.connect(path)) as other:
        return other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0][1]


def test_a_checkpoint_is_asked_for_at_idle_and_the_wal_starts_over_after_it(path: Path) -> None:
    asked: list[Callable[[], None]] = []
    journal = Journal(path, FakeClock(), when_idle=asked.append)
    _commit_orders(journal, 0, CHECKPOINT_AFTER_COMMITS - 1)
    assert asked == []
    _commit_orders(journal, CHECKPOINT_AFTER_COMMITS - 1, 1)
    assert len(asked) == 1
    _commit_orders(journal, CHECKPOINT_AFTER_COMMITS, 5)
    assert len(asked) == 1, "asked once until it runs"
    for cycle in range(1, 6):
        asked.pop()()
        _commit_orders(journal, cycle * 1000, CHECKPOINT_AFTER_COMMITS)
    asked.pop()()
    _commit_orders(journal, 9000, 5)
    assert wal_frames(path) < CHECKPOINT_AFTER_COMMITS, "the commits after a checkpoint write the -wal from its start"
    assert reopen(journal).open_orders()[:1] == [bytes(200)]


def test_without_idle_moments_commit_checkpoints_at_the_cap(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "CHECKPOINT_FORCED_AFTER", 3 * CHECKPOINT_AFTER_COMMITS)
    asked: list[Callable[[], None]] = []
    journal = Journal(path, FakeClock(), when_idle=asked.append)
    _commit_orders(journal, 0, 3 * CHECKPOINT_AFTER_COMMITS)  # the cap: checkpointed inside the last commit
    _commit_orders(journal, 1000, 5)
    assert wal_frames(path) < CHECKPOINT_AFTER_COMMITS
    assert len(asked) == 1  # asked once, never run by the caller
    journal.close()


def test_a_journal_without_idle_moments_checkpoints_in_commit(path: Path, opened: Callable[[], Journal]) -> None:
    journal = opened()
    _commit_orders(journal, 0, 5 * CHECKPOINT_AFTER_COMMITS)
    _commit_orders(journal, 1000, 5)
    assert wal_frames(path) < CHECKPOINT_AFTER_COMMITS


def test_a_checkpoint_leaves_an_open_batch_pending(path: Path, opened: Callable[[], Journal]) -> None:
    journal = opened()
    _commit_orders(journal, 0, 2)
    journal.record_command("mm1.c.9", "place", b"new 9")
    journal.checkpoint()
    journal.commit()
    assert reopen(journal).commands_for("mm1.c.9") == [("place", b"new 9")]


@pytest.mark.parametrize(("durability", "synchronous"), [("process", 0), ("power", 2)])
def test_durability_chooses_whether_a_commit_waits_for_the_disk(
        path: Path, durability: JournalDurability, synchronous: int) -> None:
    journal = Journal(path, FakeClock(), durability=durability)
    # SQLite's own setting is the observable: 0 (OFF) never fsyncs a commit, 2 (FULL) fsyncs each one.
    assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == synchronous
    journal.close()


def test_a_journal_made_with_the_by_order_indexes_loses_them_at_open(path: Path, opened: Callable[[], Journal]) -> None:
    """They cost a page per commit on an order's path; the lookups that used them scan instead."""
    journal = opened()
    journal.record_command("mm1.c.1", "place", b"new 1")
    journal.close()
    with contextlib.closing(sqlite3.connect(path)) as older:
        older.execute("CREATE INDEX commands_by_order ON commands (client_order_id)")
        older.execute("CREATE INDEX events_by_order ON events (client_order_id)")
        older.commit()
    reopened = opened()
    with contextlib.closing(sqlite3.connect(path)) as reader:
        assert reader.execute("SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE '%_by_order'"
                              ).fetchall() == []
    assert reopened.commands_for("mm1.c.1") == [("place", b"new 1")]
