"""StreamWatch: tells a subscribed stream that stopped reaching its subscriber from one that is only quiet.

A SUB socket can go deaf for good while both ends run: ZeroMQ ends a connection whose peer sent a frame
over MAXMSGSIZE (a protocol error) and, on the connecting side, never makes it again, so a feed started
later on the same port is never heard; a half-open TCP connection does the same. Nothing on the socket
says so. The publisher's heartbeats do: each says which seq every topic of each of its PUB streams is at
(`Heartbeat.published`), control keeps the newest from each live publisher, and each subscriber asks
for them on its heartbeat timer (ops verb `stream_heads`) and checks every stream it subscribes to here.

The rule, per stream, at each check (one per heartbeat interval):
- *quiet*: nothing new arrived since the previous check (the per-topic seqs the inbox already keeps
  did not change), for `silent_checks` checks in a row;
- *owed*: the publisher's heads advanced, on a topic this subscriber takes (its subscription prefixes),
  between the two heads it heard before this check, within one run of the publisher.
Quiet and owed together is dead: the caller makes the socket again. Topic-filtered subscribers (md by
symbol) are never owed what they did not subscribe to, and a publisher that sends nothing they take is
quiet, not dead.

Why those two heads and not the newest: a heads' seq was sent before the publisher's heartbeat, which
reached control before the subscriber asked, so a healthy socket has received it by the next check; the
advance between the heads of the last two checks was sent at least one interval before this check, and
`silent_checks` (4 by default, at least 3) leaves a full interval of margin before that, so a message
that was still in flight, or one that arrived just before the quiet began, is never taken for owed.
Messages a healthy socket cannot have received are never owed either: heads from the first two checks
after the watch starts (or its socket is made again), and heads from the first `SETTLE_BEATS` heartbeats
of a publisher's run (a restarted publisher's first messages go out before its subscribers reconnect).

It is an engine: no socket, a Clock for the ages it reports; services/runtime/stream_guard.py wires it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from enum import StrEnum

import msgspec

from contracts.messages import StreamFreshness
from services.runtime.clock import Clock

DEFAULT_SILENT_CHECKS = 4
MIN_SILENT_CHECKS = 3
SETTLE_BEATS = 2
"""Heads from a publisher's first heartbeats are no baseline: what it sent before its subscribers
reconnected was lost to them by design (a PUB sends only to connected subscribers)."""
SETTLE_CHECKS = 2
"""Checks after the watch starts, or its socket is made again, whose heads are no baseline: their
heartbeat may predate the connection."""


class Heads(msgspec.Struct, frozen=True, kw_only=True):
    """What control last heard from the live publisher of one stream: its run (`epoch`, the publisher's start,
    wall ns), which heartbeat of that run (`beat`), and the seq last sent on each topic."""

    epoch: int
    beat: int
    topics: dict[str, int]


class Verdict(StrEnum):
    FRESH = "fresh"
    """Something new arrived since the last check."""
    QUIET = "quiet"
    """Nothing new arrived, and nothing is owed (or not for long enough)."""
    DEAD = "dead"
    """Quiet while owed: make the socket again."""
    BACK = "back"
    """The first arrival after the stream was found dead."""


class StreamWatch:
    """One stream a service subscribes to. Call `check` once per heartbeat interval with the per-topic
    seqs received so far and the heads control answered (None: no live publisher known)."""

    def __init__(self, stream: str, prefixes: Sequence[bytes], clock: Clock, *,
                 silent_checks: int = DEFAULT_SILENT_CHECKS) -> None:
        if silent_checks < MIN_SILENT_CHECKS:
            raise ValueError(f"silent_checks must be at least {MIN_SILENT_CHECKS}, got {silent_checks}")
        self.stream = stream
        self.prefixes = tuple(prefix.decode(errors="replace") for prefix in prefixes)
        self.clock = clock
        self.silent_checks = silent_checks
        self.quiet_checks = 0
        self.reconnects = 0
        self.dead = False
        self._seen: dict[bytes, int] = {}
        self._progress_ns = clock.mono_ns()
        self._heads: deque[Heads | None] = deque(maxlen=3)
        self._checks_since_start = 0
        self._latest: Heads | None = None
        self._matches: dict[str, bool] = {}

    def check(self, received: Mapping[bytes, int], heads: Heads | None) -> Verdict:
        """The stream's verdict now; DEAD (counted in `reconnects`) means the caller makes its socket again."""
        self._latest = heads
        settled = self._checks_since_start >= SETTLE_CHECKS
        self._checks_since_start += 1
        self._heads.append(heads if settled else None)
        if received != self._seen:
            self._seen = dict(received)
            self._progress_ns = self.clock.mono_ns()
            self.quiet_checks = 0
            if self.dead:
                self.dead = False
                return Verdict.BACK
            return Verdict.FRESH
        self.quiet_checks += 1
        if self.quiet_checks < self.silent_checks or len(self._heads) < 3 or not self._advanced():
            return Verdict.QUIET
        self.dead = True
        self.reconnects += 1
        self.quiet_checks = 0
        self._heads.clear()
        self._checks_since_start = 0
        return Verdict.DEAD

    def _advanced(self) -> bool:
        """Did the publisher send, between the heads of the two checks before the last, on a topic taken here?"""
        before, after = self._heads[0], self._heads[1]
        if before is None or after is None or before.epoch != after.epoch or before.beat <= SETTLE_BEATS:
            return False
        return any(seq > before.topics.get(topic, 0) for topic, seq in after.topics.items() if self._taken(topic))

    def _taken(self, topic: str) -> bool:
        taken = self._matches.get(topic)
        if taken is None:
            taken = self._matches[topic] = topic.startswith(self.prefixes)
        return taken

    def freshness(self) -> StreamFreshness:
        """For the heartbeat (control's status): seqs summed over the topics taken here, so they compare."""
        latest = self._latest
        published = -1 if latest is None else sum(seq for topic, seq in latest.topics.items() if self._taken(topic))
        return StreamFreshness(stream=self.stream, received_seq=sum(self._seen.values()), published_seq=published,
                               age_ms=(self.clock.mono_ns() - self._progress_ns) // 1_000_000,
                               reconnects=self.reconnects, dead=self.dead)
