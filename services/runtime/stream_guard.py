"""StreamGuard: every stream a service subscribes to, watched on its heartbeat timer and remade when dead.

ServiceRuntime registers each SUB socket it reads here (`watch`), with how to read what it received so
far (the inbox's per-topic seqs: nothing more is done per message) and how to make it again. On every
heartbeat the guard asks for the heads of the publishers (`ask`: control's ops verb `stream_heads` in a
service following control, control's own heartbeat tracker in control), and with the answer runs each
stream's StreamWatch (services/runtime/stream_watch.py). A dead stream: its socket is made again (closed
with linger 0, a new one with the same options and subscriptions, connected again) on the loop's next
turn, `stream_reconnects_total{socket}` counts it, `stream_dead{socket}` is 1 and an error line
`stream_dead` is logged; the heartbeat's `subscribed` entry says `dead` until something arrives again
(`stream_back`), and control raises and clears the `stream_dead` alert from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.messages import StreamFreshness
from services.runtime.clock import Clock, Scheduler
from services.runtime.stream_watch import DEFAULT_SILENT_CHECKS, Heads, StreamWatch, Verdict

HeadsHandler = Callable[[Mapping[str, Heads]], None]
AskHeads = Callable[[list[str], HeadsHandler], bool]
"""Ask for the heads of these streams' live publishers; the handler gets them (maybe later); False if not asked."""


@dataclass
class WatchedSocket:
    watch: StreamWatch
    received: Callable[[], Mapping[bytes, int]]
    """The per-topic seqs received so far (the inbox's own record)."""
    remake: Callable[[], None]
    """Close the socket and make it again, with the same endpoint, options and subscriptions."""
    refresh: Callable[[], None] | None
    """For a socket read on demand (services/runtime/latest.py): read what is waiting before judging it."""


class StreamGuard:
    def __init__(self, clock: Clock, scheduler: Scheduler, log: structlog.stdlib.BoundLogger,
                 registry: CollectorRegistry, *, silent_checks: int = DEFAULT_SILENT_CHECKS) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self.log = log
        self.silent_checks = silent_checks
        self.ask: AskHeads | None = None
        """Set by whoever can reach the heads (follow_control, or control itself); until then nothing is judged."""
        self.watched: dict[str, WatchedSocket] = {}
        self._asked = 0
        self._reconnects = Counter("stream_reconnects", "Subscribed streams found dead and whose socket was made "
                                   "again", ["socket"], registry=registry)
        self._dead = Gauge("stream_dead", "1 from when a subscribed stream was found dead until something arrives",
                           ["socket"], registry=registry)

    def watch(self, socket_name: str, prefixes: Sequence[bytes], received: Callable[[], Mapping[bytes, int]],
              remake: Callable[[], None], refresh: Callable[[], None] | None = None) -> None:
        """Watch the stream read from one SUB socket; `socket_name` is the stream's endpoint name (md, exec, …)."""
        self.watched[socket_name] = WatchedSocket(
            StreamWatch(socket_name, prefixes, self.clock, silent_checks=self.silent_checks), received, remake,
            refresh)
        self._reconnects.labels(socket_name)
        self._dead.labels(socket_name).set(0)

    def on_heartbeat(self) -> None:
        """Ask for the publishers' heads; each stream is judged when they come, once per heartbeat: only the
        answer to the newest question counts (questions queued while control was away are answered in a burst
        when it is back, and each answer judged would count as one more silent heartbeat)."""
        if not self.watched or self.ask is None:
            return
        self._asked += 1
        asked = self._asked

        def on_answer(heads: Mapping[str, Heads]) -> None:
            if asked == self._asked:
                self.on_heads(heads)

        self.ask(sorted(self.watched), on_answer)

    def on_heads(self, heads: Mapping[str, Heads]) -> None:
        for name, watched in self.watched.items():
            if watched.refresh is not None:
                watched.refresh()
            watch = watched.watch
            verdict = watch.check(watched.received(), heads.get(name))
            if verdict is Verdict.DEAD:
                self._dead.labels(name).set(1)
                self._reconnects.labels(name).inc()
                fresh = watch.freshness()
                self.log.error("stream_dead", socket=name, received_seq=fresh.received_seq,
                               published_seq=fresh.published_seq, silent_ms=fresh.age_ms,
                               reconnects=watch.reconnects,
                               reason="the publisher's seq advanced while nothing reached this socket: "
                                      "making it again")
                # Not while the loop may still be iterating over this poll's ready sockets.
                self.scheduler.call_later(0, watched.remake)
            elif verdict is Verdict.BACK:
                self._dead.labels(name).set(0)
                self.log.warning("stream_back", socket=name, reconnects=watch.reconnects,
                                 received_seq=watch.freshness().received_seq)

    def freshness(self) -> list[StreamFreshness]:
        return [watched.watch.freshness() for watched in self.watched.values()]
