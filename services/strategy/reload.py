"""A new strategy_limits.yaml in a running strategy runner: what it can take at once, and what waits for a restart.

Taken at once, between two market events (the loop thread does it in one step): each hosted strategy's
compute budget, intent TTL, whether budget violations disable it, and its config `enabled` (unless an
operator switched it: the operator's word stands). Not taken: a strategy added to or removed from what
this runner hosts, and a hosted strategy's class, symbols or params (its instance was built with them,
and rebuilding it would lose its state); each is named in the answer, which the runner logs.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.runtime.config.strategy_limits import StrategyEntry
from services.strategy.runner import StrategyRunner


def apply_entries(runner: StrategyRunner, current: dict[str, StrategyEntry], new: list[StrategyEntry],
                  operator_enabled: Mapping[str, bool]) -> list[str]:
    """Apply the entries this runner would host under the new file; `current` (id → entry in force) is
    updated to what was applied. Returns what needs a restart."""
    not_applied: list[str] = []
    new_by_id = {entry.id: entry for entry in new}
    for sid, hosted in runner.hosted.items():
        entry = new_by_id.get(sid)
        if entry is None:
            not_applied.append(f"{sid} is no longer in the file: restart the runner to drop it")
            continue
        old = current[sid]
        hosted.budget_ns = entry.budget_us * 1000
        hosted.ttl_ns = entry.intent_ttl_ms * 1_000_000
        hosted.disable_on_budget = entry.disable_on_budget_violations
        if entry.enabled != old.enabled and sid not in operator_enabled:
            runner.set_enabled(sid, entry.enabled)
        changed = [name for name in ("class_path", "symbols", "params") if getattr(entry, name) != getattr(old, name)]
        if changed:
            not_applied.append(f"{sid}: {', '.join(changed)} changed: restart the runner to apply")
        # What is in force: the new entry, but with what could not change kept as it was.
        current[sid] = entry.model_copy(update={name: getattr(old, name) for name in changed})
    not_applied += [f"{sid} is new: restart the runner to host it" for sid in new_by_id if sid not in runner.hosted]
    return not_applied
