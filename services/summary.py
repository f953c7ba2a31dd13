"""What happened in a run, read off control's status: the figures `orderpath up` shows and prints."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

REJECT_METRICS = ("risk_reject_total", "intents_dropped_total", "adapter_refused_total")
TICK_TO_TRADE = "tick_to_trade_latency_seconds"


def _samples(status: dict[str, Any], service: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of every instance of `service` (two strategy runners' counters add up)."""
    return [tuple(sample) for name, entry in status.get("services", {}).items()  # type: ignore[misc]
            if entry.get("service", name) == service for sample in entry["metrics"]]


def _total(status: dict[str, Any], service: str, name: str, **labels: str) -> int:
    return int(sum(
        value for sample_name, sample_labels, value in _samples(status, service)
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items())
    ))


def _gauge(samples: list[Any], name: str) -> float:
    for sample_name, _, value in samples:
        if sample_name == name:
            return value
    return 0.0


def histogram_buckets(samples: Iterable[Any], name: str) -> list[tuple[float, float]]:
    """The cumulative buckets of histogram `name` among `samples` ((name, labels, value) triples) as
    (upper bound, count) sorted by bound, +Inf last; several series of it (labels, instances) add up."""
    counts: dict[float, float] = defaultdict(float)
    for sample_name, labels, value in samples:
        if sample_name == f"{name}_bucket":
            counts[float(labels["le"])] += value
    return sorted(counts.items())


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile: the q-quantile of cumulative `buckets`, linear within the bucket it
    falls in (from 0 for the first); in +Inf it is the largest finite bound. NaN when the buckets are empty."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            in_bucket = cumulative - below
            return lower + (bound - lower) * ((rank - below) / in_bucket if in_bucket else 1.0)
        lower, below = bound, cumulative
    return lower


def _us(seconds: float) -> float:
    """Seconds as µs to 0.1, 0 for no sample (NaN has no JSON)."""
    return 0.0 if math.isnan(seconds) else round(seconds * 1e6, 1)


def _quantiles(buckets: list[tuple[float, float]]) -> dict[str, Any]:
    """p50 and p99 in µs, interpolated as Prometheus would (only as fine as the buckets' bounds), and n."""
    return {"p50": _us(histogram_quantile(0.50, buckets)), "p99": _us(histogram_quantile(0.99, buckets)),
            "n": int(buckets[-1][1]) if buckets else 0}


def _since(now: list[tuple[float, float]], then: list[tuple[float, float]]) -> list[tuple[float, float]] | None:
    """The cumulative buckets of what was observed after `then`; None if the counts went back (the adapter
    restarted in between, so its histogram started over)."""
    earlier = dict(then)
    after = [(bound, count - earlier.get(bound, 0.0)) for bound, count in now]
    return None if any(count < 0 for _, count in after) else after


def summarize(status: dict[str, Any], warmed: dict[str, Any] | None = None) -> dict[str, Any]:
    """ticks, intents, approved, rejected by reason, orders, fills, bad messages, tick-to-trade.

    `warmed` is an earlier status taken at the end of start-up: tick_to_trade_us then counts only the
    orders timed after it (start-up bursts are not the path's latency), and tick_to_trade_whole_run_us
    all of them."""
    rejected: dict[str, int] = defaultdict(int)
    for service in ("strategy", "risk", "adapter"):
        for name, labels, value in _samples(status, service):
            if name in REJECT_METRICS and value:
                rejected[labels["reason"]] += int(value)
    services = status.get("services", {})
    adapter = _samples(status, "adapter")
    t2t = histogram_buckets(adapter, TICK_TO_TRADE)
    steady = _since(t2t, histogram_buckets(_samples(warmed, "adapter"), TICK_TO_TRADE)) if warmed else None
    if steady and not steady[-1][1]:
        steady = None  # nothing timed after start-up (a short run): the whole run is all there is
    return {
        "ticks": _total(status, "feed", "md_events_total"),
        "intents": _total(status, "strategy", "intents_total"),
        "approved": _total(status, "risk", "risk_approved_total"),
        "rejected": dict(sorted(rejected.items())),
        "orders": _total(status, "adapter", "order_actions_count_total", action="place"),
        "order_actions": _total(status, "adapter", "order_actions_count_total"),
        "fills": _total(status, "adapter", "fills_total"),
        "amends": {
            "commands": _total(status, "adapter", "amend_commands_total"),
            "sent": _total(status, "adapter", "order_actions_count_total", action="update_price")
            + _total(status, "adapter", "order_actions_count_total", action="update_qty"),
            "coalesced": _total(status, "adapter", "amends_coalesced_total"),
            "unchanged": _total(status, "adapter", "amends_unchanged_total"),
        },
        "broker_usage_peak": int(_gauge(adapter, "broker_usage_peak")),
        "bad_messages": int(sum(value for entry in services.values() for name, _, value in entry["metrics"]
                                if name == "bad_messages_total")),
        "tick_to_trade_us": {**_quantiles(t2t if steady is None else steady), "after_start_up": steady is not None},
        "tick_to_trade_whole_run_us": _quantiles(t2t),
        "rss_mb": {
            s: round(_gauge(entry["metrics"], "process_resident_memory_bytes") / 1e6, 1)
            for s, entry in sorted(services.items())
        },
        "services": {s: entry["state"] for s, entry in sorted(services.items())},
        "replay_finished": _gauge(_samples(status, "feed"), "replay_finished") == 1,
        "bad_lines": _total(status, "feed", "replay_bad_lines_total"),
        "trial_records": int(_gauge(_samples(status, "feed"), "replay_trial_records")),
        "stormguard_levels": status.get("stormguard", {}).get("levels", {}),
        "stormguard_transitions": [
            {key: t[key] for key in ("scope", "from", "to", "reason")}
            for t in status.get("stormguard", {}).get("transitions", [])
        ],
    }


def progress_line(summary: dict[str, Any], elapsed_s: float) -> str:
    t2t = summary["tick_to_trade_us"]
    rejected = sum(summary["rejected"].values())
    return (
        f"[{elapsed_s:5.1f}s] ticks {summary['ticks']:>7}  intents {summary['intents']:>6}  "
        f"approved {summary['approved']:>6}  rejected {rejected:>4}  orders {summary['orders']:>5}  "
        f"fills {summary['fills']:>5}  t2t p50 {t2t['p50']:>7.1f}µs p99 {t2t['p99']:>7.1f}µs"
    )


def report(summary: dict[str, Any]) -> str:
    """The final summary for a human."""
    t2t, whole = summary["tick_to_trade_us"], summary["tick_to_trade_whole_run_us"]
    lines = [
        "orderpath run summary",
        f"  market events     {summary['ticks']}",
        *([f"  replay            {summary['bad_lines']} bad lines, {summary['trial_records']} trial-match records "
           "skipped"] if summary["bad_lines"] or summary["trial_records"] else []),
        f"  intents           {summary['intents']}",
        f"  approved by risk  {summary['approved']}",
        f"  rejected          {sum(summary['rejected'].values())}"
        + "".join(f"\n    {reason:<22}{count}" for reason, count in summary["rejected"].items()),
        f"  orders placed     {summary['orders']}  (broker actions {summary['order_actions']})",
        f"  fills             {summary['fills']}",
        f"  amends            {summary['amends']['commands']} asked, {summary['amends']['sent']} sent "
        f"(coalesced {summary['amends']['coalesced']}, unchanged {summary['amends']['unchanged']})",
        f"  broker calls      at most {summary['broker_usage_peak']} in a 10 s window",
        f"  bad messages      {summary['bad_messages']}",
        f"  tick-to-trade     p50 {t2t['p50']} µs  p99 {t2t['p99']} µs  over {t2t['n']} orders"
        + (" after start-up" if t2t["after_start_up"] else " (whole run, start-up included)"),
        *([f"    whole run       p50 {whole['p50']} µs  p99 {whole['p99']} µs  over {whole['n']} orders "
           "(start-up bursts included)"] if t2t["after_start_up"] else []),
        "    (the feed's market event to the adapter's broker call: strategy, risk, the adapter's journal",
        "     commit and three ZeroMQ hops; interpolated within the histogram's buckets)",
        "  resident memory   " + "  ".join(f"{s} {mb} MB" for s, mb in summary["rss_mb"].items()),
        "  services          " + "  ".join(f"{s}: {state}" for s, state in summary["services"].items()),
        "  stormguard        " + "  ".join(f"{scope} {level}" for scope, level in summary["stormguard_levels"].items()),
        *(f"    {t['scope']}: {t['from']} -> {t['to']} ({t['reason']})" for t in summary["stormguard_transitions"]),
    ]
    if summary.get("restarts"):
        lines.append("  restarted         " + "  ".join(f"{s} {n}x" for s, n in summary["restarts"].items()))
    return "\n".join(lines)
