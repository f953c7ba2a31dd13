"""In every test, the real Shioaji client can be neither built nor logged in.

Building sj.Shioaji makes HTTPS requests and login opens connections to SinoPac: tests never reach the
broker (there is no network here), they use the fake (services/shioaji/fake_api.py). Both raise
RealShioajiInTest for the length of each test; login keeps its signature (functools.wraps), which
the fidelity test reads.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import pytest

os.environ.setdefault("SJ_LOG_PATH", os.devnull)

import shioaji as sj  # after SJ_LOG_PATH is set


class RealShioajiInTest(AssertionError):
    """A test built the real Shioaji client or called its login."""


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise RealShioajiInTest("tests never build sj.Shioaji or log in to SinoPac: use FakeShioaji")


@pytest.fixture(autouse=True)
def no_real_shioaji(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sj.Shioaji, "__new__", staticmethod(_refuse))
    monkeypatch.setattr(sj.Shioaji, "login", functools.wraps(sj.Shioaji.login)(_refuse))
