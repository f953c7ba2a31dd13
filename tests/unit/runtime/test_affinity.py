"""CPU pinning: a process can be pinned to CPUs it may use, and is told which when it asks for others."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from services.runtime.affinity import pin_to_cpus
from services.runtime.config.loader import ConfigError


@pytest.fixture
def restore_affinity() -> Iterator[set[int]]:
    allowed = os.sched_getaffinity(0)
    yield allowed
    os.sched_setaffinity(0, allowed)


def test_pins_to_an_allowed_cpu(restore_affinity: set[int]) -> None:
    cpu = min(restore_affinity)
    pin_to_cpus("strategy", [cpu])
    assert os.sched_getaffinity(0) == {cpu}


def test_refuses_a_cpu_the_process_may_not_use(restore_affinity: set[int]) -> None:
    missing = max(restore_affinity) + 64
    with pytest.raises(ConfigError, match=rf"cpu_affinity\.risk: CPU\(s\) \[{missing}\].*it may use"):
        pin_to_cpus("risk", [missing])
    assert os.sched_getaffinity(0) == restore_affinity
