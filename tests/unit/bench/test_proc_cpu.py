"""CPU time of a process from /proc."""

from __future__ import annotations

import os
import sys

import pytest

from bench.proc_cpu import cpu_seconds


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_this_process_has_spent_cpu_and_grows_with_work() -> None:
    before = cpu_seconds(os.getpid())
    assert before is not None
    deadline_cpu = before + 0.05
    spent = before
    while spent < deadline_cpu:
        sum(range(100_000))
        spent = cpu_seconds(os.getpid()) or before
    assert spent >= deadline_cpu


def test_a_process_that_is_gone_has_none() -> None:
    assert cpu_seconds(2**22 + 12345) is None
