"""Where a tick-to-trade sample's time went, per hop, from the adapter's journal after a bench run.

Every NEW the adapter placed is journaled (services/adapter/journal.py) with the wall time it was
recorded, just before its commit and broker call, and its OrderCommand carries the feed's ingest
stamp and risk's approval stamp (both CLOCK_MONOTONIC). That splits each order's path in two:
- md → approved: feed send, strategy (decode, strategy call, intent send), risk (wake, books,
  checks) up to its approval stamp;
- approved → journaled: the order's send, the hop to the adapter, its decode and bookkeeping.
The rest, journaled → broker call, is the adapter's commit and the call itself (its own gauge).
Wall time is turned into monotonic with the offset between the two clocks read here, on the same
host, so a figure is good to a few µs.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np

from contracts.codec import Decoder
from contracts.messages import OrderCommand

_decoder = Decoder(OrderCommand)


def hop_latencies_us(journal_file: Path, since_mono_ns: int = 0,
                     wall_minus_mono_ns: int | None = None) -> dict[str, dict[str, float]]:
    """n, p50 and p99 (µs) of each hop over the NEWs whose market event left the feed after
    `since_mono_ns`; `wall_minus_mono_ns` is the offset between the clocks (read now if not given)."""
    if wall_minus_mono_ns is None:
        wall_minus_mono_ns = time.time_ns() - time.monotonic_ns()
    conn = sqlite3.connect(f"file:{journal_file}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT wall_ns, payload FROM commands WHERE action = 'place'").fetchall()
    finally:
        conn.close()
    to_approval, to_adapter = [], []
    for wall_ns, payload in rows:
        command = _decoder.decode(payload)
        if command.ingest_ts_ns <= since_mono_ns:
            continue
        to_approval.append(command.approved_mono_ns - command.ingest_ts_ns)
        to_adapter.append(wall_ns - wall_minus_mono_ns - command.approved_mono_ns)
    hops: dict[str, dict[str, float]] = {}
    for name, samples in (("md -> approved", to_approval), ("approved -> journaled", to_adapter)):
        if samples:
            p50, p99 = np.percentile(np.array(samples) / 1000, [50, 99])
            hops[name] = {"n": len(samples), "p50": float(p50), "p99": float(p99)}
    return hops
