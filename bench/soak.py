"""Soak: the stack at a steady rate for minutes, with resident memory and tick-to-trade per minute.

    python -m bench.soak [--rate 200] [--minutes 10]

The stack of bench.tick_to_trade (bench.strategies:EveryTick, risk ungated, adapter and SimBroker
uncapped) on tcp loopback, with StormGuard's drawdown thresholds lifted too: the bench strategy's
few fills are noise, and a drawdown HALT a minute in would leave the rest of the run measuring an
idle path. Every minute: the adapter's /metrics is scraped and that minute's
tick-to-trade p50/p99 computed from the deltas of the `tick_to_trade_latency_seconds` histogram buckets
(interpolated linearly within a bucket, as Prometheus's histogram_quantile does, so they are only
as fine as the bucket bounds printed), with the minute's counts; and each service's resident
memory is read off control's status (its last heartbeat's process_resident_memory_bytes). At the
end: memory at start, end and its maximum per service, its slope in MB a minute from the end of
minute 2 on (least squares over the per-minute readings: bounded memories still filling show as
a slope, a leak as one that never ends), and whether any service grew more than 10 % from
minute 2 to the end. Prints figures; asserts nothing. `--minutes` takes fractions
(0.5 is a 30 s run); a last partial minute is reported over its own length.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.tick_to_trade import EVERY_TICK, SYMBOLS, UNCAPPED_ADAPTER, UNGATED
from contracts.enums import ServiceName
from services.launcher import LocalStack
from services.local_config import write_stack_config
from services.summary import TICK_TO_TRADE, histogram_quantile, summarize

HISTOGRAM = TICK_TO_TRADE
PLACED = "order_actions_count_total"
PERIOD_S = 60.0
POLL_S = 0.5
GROWTH_LIMIT = 0.10
FLAT_FROM_MINUTE = 2
SERVICES = tuple(sorted(str(name) for name in ServiceName))
SOAK_RISK = {**UNGATED, "stormguard": {**UNGATED["stormguard"], "warm_drawdown_pct": 1_000,
                                       "storm_drawdown_pct": 2_000, "halt_drawdown_pct": 3_000}}


def scrape(port: int, timeout_s: float = 5.0) -> tuple[list[tuple[float, float]], int]:
    """From one scrape of http://127.0.0.1:`port`/metrics (the adapter's): the cumulative buckets of
    the tick-to-trade histogram as (upper bound, count) sorted by bound, +Inf last, and the NEWs placed."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as response:
        text = response.read().decode("utf-8")
    buckets: list[tuple[float, float]] = []
    placed = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{HISTOGRAM}_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name == PLACED and sample.labels.get("action") == "place":
                placed += sample.value
    if not buckets:
        raise LookupError(f"no histogram {HISTOGRAM} on port {port}")
    return sorted(buckets), int(placed)


def bucket_deltas(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Cumulative buckets of what was observed between two scrapes of the same histogram."""
    if [bound for bound, _ in before] != [bound for bound, _ in after]:
        raise ValueError("the histogram's buckets changed between scrapes")
    return [(bound, a - b) for (bound, b), (_, a) in zip(before, after, strict=True)]


@dataclass
class Reading:
    """What the stack said at one moment: adapter histogram, counters and memory."""

    elapsed_s: float
    buckets: list[tuple[float, float]]
    ticks: int
    orders: int
    rss_mb: dict[str, float]


@dataclass
class Minute:
    number: int
    seconds: float
    ticks: int
    orders: int
    timed: int
    p50_us: float
    p99_us: float
    rss_mb: dict[str, float] = field(default_factory=dict)


def read(stack: LocalStack, port: int, started: float) -> Reading:
    """Histogram and orders scraped now; ticks and memory from each service's last heartbeat
    (up to one heartbeat interval old)."""
    summary = summarize(stack.status())
    buckets, placed = scrape(port)
    return Reading(time.monotonic() - started, buckets, summary["ticks"], placed, summary["rss_mb"])


def minute_of(number: int, before: Reading, after: Reading) -> Minute:
    deltas = bucket_deltas(before.buckets, after.buckets)
    return Minute(
        number=number, seconds=after.elapsed_s - before.elapsed_s,
        ticks=after.ticks - before.ticks, orders=after.orders - before.orders, timed=int(deltas[-1][1]),
        p50_us=histogram_quantile(0.50, deltas) * 1e6, p99_us=histogram_quantile(0.99, deltas) * 1e6,
        rss_mb=after.rss_mb,
    )


def _fmt_us(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0f}"


def print_header(rate_hz: float, minutes: float, bounds: list[float]) -> None:
    print(f"soak: {rate_hz:g} market events/s for {minutes:g} min, tcp loopback, strategy bench.strategies:EveryTick, "
          "risk ungated (drawdown included), adapter uncapped (SimBroker)")
    print(f"tick-to-trade per minute: p50/p99 from the deltas of the adapter's {HISTOGRAM} histogram, "
          "interpolated linearly within buckets")
    print("bucket upper bounds µs: " + " ".join("+Inf" if math.isinf(b) else f"{b * 1e6:g}" for b in bounds))
    print("orders: NEWs placed that minute; timed: broker calls (NEWs and cancels) in the histogram")
    print(f"{'minute':>6}{'secs':>7}{'ticks':>8}{'orders':>8}{'timed':>8}{'p50 µs':>8}{'p99 µs':>8}   "
          "RSS MB " + " ".join(f"{s:>8}" for s in SERVICES))


def print_minute(m: Minute) -> None:
    print(f"{m.number:>6}{m.seconds:>7.1f}{m.ticks:>8}{m.orders:>8}{m.timed:>8}{_fmt_us(m.p50_us):>8}"
          f"{_fmt_us(m.p99_us):>8}          " + " ".join(f"{m.rss_mb.get(s, 0.0):>8.1f}" for s in SERVICES),
          flush=True)


def slope_mb_per_min(minutes: list[Minute], service: str) -> float:
    """Least-squares slope of `service`'s RSS against time over the readings from the end of minute
    FLAT_FROM_MINUTE on, in MB a minute; NaN with fewer than two of them."""
    points = [(sum(m.seconds for m in minutes[:i + 1]) / 60, m.rss_mb[service])
              for i, m in enumerate(minutes) if m.number >= FLAT_FROM_MINUTE and service in m.rss_mb]
    if len(points) < 2:
        return math.nan
    mean_t = sum(t for t, _ in points) / len(points)
    mean_mb = sum(mb for _, mb in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (mb - mean_mb) for t, mb in points) / spread if spread else math.nan


def memory_report(start: dict[str, float], minutes: list[Minute]) -> list[str]:
    lines = [f"resident memory MB {'start':>8}{'end':>8}{'max':>8}  MB/min from minute {FLAT_FROM_MINUTE}"]
    end = minutes[-1].rss_mb if minutes else start
    for s in SERVICES:
        peak = max([start.get(s, 0.0), *(m.rss_mb.get(s, 0.0) for m in minutes)])
        slope = slope_mb_per_min(minutes, s)
        lines.append(f"  {s:<16}{start.get(s, 0.0):>8.1f}{end.get(s, 0.0):>8.1f}{peak:>8.1f}  "
                     + ("n/a" if math.isnan(slope) else f"{slope:+.2f}"))
    return lines


def flat_check(minutes: list[Minute]) -> str:
    """Whether any service's RSS grew more than 10 % from the end of minute 2 to the end of the run."""
    if len(minutes) <= FLAT_FROM_MINUTE:
        return (f"flat-over-time check (RSS after minute {FLAT_FROM_MINUTE} -> end, > {GROWTH_LIMIT:.0%} growth): "
                f"n/a, the run has {len(minutes)} minute(s)")
    base, end = minutes[FLAT_FROM_MINUTE - 1].rss_mb, minutes[-1].rss_mb
    growth = {s: (end[s] - base[s]) / base[s] for s in SERVICES if base.get(s) and s in end}
    grew = {s: g for s, g in growth.items() if g > GROWTH_LIMIT}
    detail = "  ".join(f"{s} {g:+.1%}" for s, g in growth.items())
    verdict = ("GREW: " + ", ".join(sorted(grew))) if grew else "none grew more than 10 %"
    return (f"flat-over-time check (RSS after minute {FLAT_FROM_MINUTE} -> end, > {GROWTH_LIMIT:.0%} growth): "
            f"{verdict}  ({detail})")


def run(rate_hz: float, minutes: float) -> dict[str, Any]:
    duration_s = minutes * 60
    with tempfile.TemporaryDirectory(prefix="orderpath-soak-") as folder:
        config = write_stack_config(
            Path(folder), strategies=[EVERY_TICK], heartbeat_interval_ms=1000, risk=SOAK_RISK,
            order_adapter=UNCAPPED_ADAPTER, metrics=True,
            feed={"source": "synthetic", "rate_hz": rate_hz, "symbols": SYMBOLS, "seed": 11},
        )
        stack = LocalStack(config)
        port = stack.config.metrics_ports[ServiceName.ADAPTER]
        stack.start()
        rows: list[Minute] = []
        try:
            started = time.monotonic()
            first = read(stack, port, started)
            print_header(rate_hz, minutes, [bound for bound, _ in first.buckets])
            previous = first
            number = 0
            while previous.elapsed_s < duration_s - 1e-3:
                number += 1
                boundary = min(number * PERIOD_S, duration_s)
                while (left := boundary - (time.monotonic() - started)) > 0:
                    time.sleep(min(POLL_S, left))
                    stack.check_alive()
                reading = read(stack, port, started)
                rows.append(minute_of(number, previous, reading))
                print_minute(rows[-1])
                previous = reading
        finally:
            stack.stop()
    whole = minute_of(0, first, previous)
    print(f"whole run: {whole.seconds:.1f} s, {whole.ticks} ticks, {whole.orders} orders, {whole.timed} timed, "
          f"p50 {_fmt_us(whole.p50_us)} µs, p99 {_fmt_us(whole.p99_us)} µs (same interpolation)")
    final = summarize(stack.final_status or {})
    print(f"at stop (final heartbeats): ticks {final['ticks']}, intents {final['intents']}, "
          f"approved {final['approved']}, rejected {final['rejected']}, orders {final['orders']}, "
          f"fills {final['fills']}, bad messages {final['bad_messages']}, services {final['services']}")
    for line in memory_report(first.rss_mb, rows):
        print(line)
    print(flat_check(rows))
    return {"rate_hz": rate_hz, "minutes": minutes, "start_rss_mb": first.rss_mb, "per_minute": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="market events per second (default 200)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long, fractions allowed (default 10)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0:
        parser.error("--rate and --minutes must be positive")
    return run(args.rate, args.minutes)


if __name__ == "__main__":
    main()
