"""ReportWriter: numbers execution reports, journals them, and publishes them once they are durable.

Report seqs continue across adapter runs (the next is one past the journal's last), so a
subscriber that missed some, even across a restart, can ask for them again by number. A report
is written to the journal in the same transaction as the state change it reports and published
only after that commit: a seq a subscriber has seen is never reused by a later run.
"""

from __future__ import annotations

from collections.abc import Callable

from contracts.codec import encode
from contracts.messages import ExecutionReport
from services.adapter.journal import Journal

EXEC_TOPIC = b"exec"


class ReportWriter:
    def __init__(self, journal: Journal, send_multipart: Callable[[tuple[bytes, bytes]], object]) -> None:
        """`send_multipart`: the exec PUB socket's, or a list's append in tests."""
        self.journal = journal
        self.send_multipart = send_multipart
        self.last_seq = journal.last_report_seq()
        self._unpublished: list[bytes] = []

    def write(self, report: ExecutionReport) -> None:
        self.last_seq += 1
        report.seq = self.last_seq
        payload = encode(report)
        self.journal.record_report(report.seq, payload)
        self._unpublished.append(payload)

    @property
    def published_seq(self) -> int:
        """The seq of the newest report sent on the exec PUB (what its heartbeat advertises)."""
        return self.last_seq - len(self._unpublished)

    def publish(self) -> None:
        """Send what the last journal commit made durable."""
        if not self._unpublished:
            return
        send = self.send_multipart
        for payload in self._unpublished:
            send((EXEC_TOPIC, payload))
        self._unpublished.clear()
