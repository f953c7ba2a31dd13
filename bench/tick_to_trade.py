"""Tick-to-trade of the real stack against raw pyzmq forwarders over the same hops, in one run.

    orderpath bench tick-to-trade [--rate 1000] [--duration 20]
    python -m bench.tick_to_trade [--rate 1000] [--duration 20]

First the floor: four processes passing frames through md PUB/SUB → intents PUSH/PULL → orders
PUSH/PULL with no logic. Then the stack: feed, strategy (bench.strategies:EveryTick, one intent
per market event it can answer), risk, adapter (SimBroker) and control, from the feed's ingest
stamp to the adapter's broker call. Both are paced at the same rate on the same transport (tcp
loopback, or Unix domain sockets with --transport ipc). The raw
chain's percentiles are exact; the stack's are read off the adapter's histograms
(tick_to_trade_latency_seconds, adapter_latency_seconds) as Prometheus's histogram_quantile reads
them, linear within a bucket, so only as fine as its bounds (services/adapter/metrics.py). Prints
figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.hops import hop_latencies_us
from bench.proc_cpu import cpu_seconds
from bench.raw_chain import ChainEndpoints, run_raw_chain
from contracts.codec import encode
from contracts.messages import MarketEvent
from services.adapter.session import journal_path
from services.launcher import LocalStack
from services.local_config import free_ports, write_stack_config
from services.runtime.config.loader import load_yaml_model
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.summary import TICK_TO_TRADE, histogram_buckets, histogram_quantile, summarize

SYMBOLS = ["2330", "2317", "2454"]
TRANSPORTS = {"tcp": "tcp loopback", "ipc": "ipc (Unix domain sockets)"}
WARMUP_S = 1.0
PERCENTILES = ("p50", "p99", "p999")
UNBOUNDED_TWD = 10**15
EVERY_TICK = {
    "id": "bench",
    "class": "bench.strategies:EveryTick",
    "symbols": SYMBOLS,
    "budget_us": 1000,
    "limits": {"max_order_qty": 5, "max_order_notional_twd": 100_000_000, "max_orders_per_window": 1_000_000,
               "max_position_qty": 1_000_000, "max_gross_notional_twd": UNBOUNDED_TWD},
    "capital_twd": UNBOUNDED_TWD,
}
# The bench measures the path, not the desk's policy: one broker call per tick is far beyond
# Shioaji's 250 per 10 s, which StormGuard would answer with HALT, and beyond the order-rate caps.
# EveryTick's buys fill and pay commission: on the default capital its drawdown reached HALT within
# two seconds (then only cancels reached the broker, and the figures were of the first two seconds);
# the capital and exposure caps are lifted as far, so every second of the run is measured.
UNGATED = {
    "global": {"max_orders_per_window": 1_000_000, "capital_twd": UNBOUNDED_TWD,
               "max_gross_notional_twd": UNBOUNDED_TWD},
    "stormguard": {"usage_warm_actions": 1_000_000, "usage_slow_actions": 2_000_000, "usage_halt_actions": 3_000_000},
}
# Likewise the adapter's order budget and the simulated broker's own limit: the bench keeps the
# journal, the limiter's bookkeeping and every other cost on the path, with caps it never reaches.
UNCAPPED_ADAPTER = {
    "broker": "sim",
    "soft_cap": 100_000_000,
    "sim": {"ack_latency_us": 1000, "rate_cap": 100_000_000},
}
SAMPLE_EVENT = MarketEvent(
    symbol="2330", seq=1, exch_ts_ns=time.time_ns(), ingest_ts_ns=time.monotonic_ns(),
    bid_prices_e4=[9_950_000 - 10_000 * i for i in range(5)], bid_qtys=[10] * 5,
    ask_prices_e4=[10_000_000 + 50_000 * i for i in range(5)], ask_qtys=[10] * 5,
    last_price_e4=9_950_000, last_qty=1, total_volume=1000,
)


def raw_figures(rate_hz: float, duration_s: float, transport: str) -> dict[str, Any]:
    count = int(rate_hz * duration_s)
    with tempfile.TemporaryDirectory(prefix="orderpath-raw-") as folder:
        if transport == "ipc":
            md, intents, orders = (f"ipc://{folder}/{name}" for name in ("md", "intents", "orders"))
        else:
            md, intents, orders = (f"tcp://127.0.0.1:{port}" for port in free_ports(3))
        result = run_raw_chain(ChainEndpoints(md, intents, orders), encode(SAMPLE_EVENT), rate_hz, count,
                               warmup=int(rate_hz * WARMUP_S))
    lat_us = result.latencies_ns / 1000
    p50, p99, p999 = np.percentile(lat_us, [50, 99, 99.9])
    return {"n": int(lat_us.size), "p50": float(p50), "p99": float(p99), "p999": float(p999),
            "throughput_per_s": lat_us.size / result.elapsed_s if result.elapsed_s else 0.0,
            "cpu_us_per_event": result.cpu_us_per_event}


def stack_figures(rate_hz: float, duration_s: float, transport: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="orderpath-bench-") as folder:
        config = write_stack_config(
            Path(folder), strategies=[EVERY_TICK], heartbeat_interval_ms=1000, risk=UNGATED,
            order_adapter=UNCAPPED_ADAPTER,
            feed={"source": "synthetic", "rate_hz": rate_hz, "symbols": SYMBOLS, "seed": 11}, transport=transport,
        )
        stack = LocalStack(config)
        stack.start()
        try:
            started = time.monotonic()
            pids = {str(name): process.popen.pid for name, process in stack.processes.items()}
            cpu_at_start = {name: cpu_seconds(pid) for name, pid in pids.items()}
            while time.monotonic() - started < duration_s:
                time.sleep(0.5)
                stack.check_alive()
            elapsed_s = time.monotonic() - started
            cpu_at_end = {name: cpu_seconds(pid) for name, pid in pids.items()}
        finally:
            stack.stop()
        status = stack.final_status or {}
        journal = journal_path(stack.config, load_yaml_model(stack.config.order_adapter_file, OrderAdapterConfig))
        hops = hop_latencies_us(journal, since_mono_ns=round((started + WARMUP_S) * 1e9))
    events = rate_hz * elapsed_s
    cpu_us_per_event = {
        name: (cpu_at_end[name] - cpu_at_start[name]) * 1e6 / events
        for name in pids if cpu_at_start[name] is not None and cpu_at_end[name] is not None
    }
    summary = summarize(status)
    adapter = status["services"]["adapter"]["metrics"]
    t2t, own = histogram_buckets(adapter, TICK_TO_TRADE), histogram_buckets(adapter, "adapter_latency_seconds")
    return {
        "n": summary["tick_to_trade_us"]["n"],
        "p50": histogram_quantile(0.50, t2t) * 1e6,
        "p99": histogram_quantile(0.99, t2t) * 1e6,
        "p999": histogram_quantile(0.999, t2t) * 1e6,
        "adapter_p50": histogram_quantile(0.50, own) * 1e6,
        "adapter_p99": histogram_quantile(0.99, own) * 1e6,
        "ticks": summary["ticks"],
        "intents": summary["intents"],
        "rejected": summary["rejected"],
        "rss_mb": summary["rss_mb"],
        "hops": hops,
        "cpu_us_per_event": cpu_us_per_event,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="market events per second (default 1000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="raw/stack pairs, alternated (default 3)")
    parser.add_argument("--transport", choices=TRANSPORTS, default="tcp",
                        help="tcp loopback (default) or ipc (Unix domain sockets), the same for raw and stack")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)
    return run(args.rate, args.duration, args.rounds, as_json=args.json, transport=args.transport)


def run(rate_hz: float, duration_s: float, rounds: int = 3, *, as_json: bool = False,
        transport: str = "tcp") -> dict[str, Any]:
    """Alternate raw and stack runs (this machine's noise between runs is larger than the gap
    being measured), print each pair and the median ratios."""
    print(f"tick-to-trade at {rate_hz:g} events/s, {rounds} rounds of {duration_s:g} s each, "
          f"{TRANSPORTS[transport]}, 3 hops, {os.cpu_count()} cores")
    print(f"{'':<24}{'n':>8}{'p50 µs':>10}{'p99 µs':>10}{'p99.9 µs':>10}")
    pairs = []
    for round_no in range(1, rounds + 1):
        raw = raw_figures(rate_hz, duration_s, transport)
        stack = stack_figures(rate_hz, duration_s, transport)
        ratio = {key: stack[key] / raw[key] if raw[key] else float("nan") for key in PERCENTILES}
        pairs.append({"raw": raw, "stack": stack, "ratio": ratio})
        for name, fig in ((f"#{round_no} raw forwarders", raw), (f"#{round_no} orderpath", stack)):
            print(f"{name:<24}{fig['n']:>8}{fig['p50']:>10.1f}{fig['p99']:>10.1f}{fig['p999']:>10.1f}")
        print(f"{f'#{round_no} stack / raw':<24}{'':>8}"
              + "".join(f"{ratio[key]:>9.2f}x" for key in PERCENTILES))
    median = {key: float(np.median([pair["ratio"][key] for pair in pairs])) for key in PERCENTILES}
    print(f"{'median stack / raw':<24}{'':>8}" + "".join(f"{median[key]:>9.2f}x" for key in PERCENTILES))
    print("targets: p50 within 1.25x, p99 within 1.5x of raw")
    adapter_p50 = float(np.median([pair["stack"]["adapter_p50"] for pair in pairs]))
    adapter_p99 = float(np.median([pair["stack"]["adapter_p99"] for pair in pairs]))
    print(f"adapter's own share (orders read -> broker call, journal commit included): "
          f"median p50 {adapter_p50:.1f} µs, p99 {adapter_p99:.1f} µs")
    for hop in pairs[-1]["stack"]["hops"]:
        p50 = float(np.median([pair["stack"]["hops"][hop]["p50"] for pair in pairs if hop in pair["stack"]["hops"]]))
        p99 = float(np.median([pair["stack"]["hops"][hop]["p99"] for pair in pairs if hop in pair["stack"]["hops"]]))
        print(f"hop {hop:<22} (from the journal, after warm-up): median p50 {p50:.1f} µs, p99 {p99:.1f} µs")
    for run in ("raw", "stack"):
        cpu = {name: float(np.median([pair[run]["cpu_us_per_event"].get(name, np.nan) for pair in pairs]))
               for name in pairs[-1][run]["cpu_us_per_event"]}
        print(f"{run} CPU per market event, µs (each process with its zmq threads, median): "
              + ", ".join(f"{name} {value:.0f}" for name, value in cpu.items()) + f"; total {sum(cpu.values()):.0f}")
    last = pairs[-1]["stack"]
    print(f"last stack run: {last['ticks']} ticks, {last['intents']} intents, rejected {last['rejected']}, "
          f"resident MB {last['rss_mb']}")
    figures = {"rate_hz": rate_hz, "duration_s": duration_s, "transport": transport, "cores": os.cpu_count(),
               "rounds": pairs, "median_ratio": median}
    if as_json:
        print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
