"""Optional CPU pinning of a service process (stack.yaml `cpu_affinity`), via os.sched_setaffinity."""

from __future__ import annotations

import os

from services.runtime.config.loader import ConfigError


def pin_to_cpus(service: str, cpus: list[int]) -> None:
    """Run this process only on `cpus`; refuse CPUs the process may not use, saying which it may."""
    allowed = os.sched_getaffinity(0)
    unknown = sorted(set(cpus) - allowed)
    if unknown:
        raise ConfigError(
            f"cpu_affinity.{service}: CPU(s) {unknown} are not available to this process; "
            f"it may use {sorted(allowed)}"
        )
    os.sched_setaffinity(0, set(cpus))
